import matplotlib

matplotlib.use("Agg")

import pytest
import torch

import cnnlib
from cnnlib.plot import confusion_matrix, plot_confusion_matrix
from cnnlib.train import History


def test_show_images_grid_and_titles():
    fig = cnnlib.show_images(torch.rand(10, 1, 8, 8), labels=[str(i) for i in range(10)], ncols=4)
    axes = fig.axes
    assert len(axes) == 12  # 3 rows of 4
    assert [ax.get_title() for ax in axes[:10]] == [str(i) for i in range(10)]
    assert cnnlib.show_images([torch.rand(3, 5, 5), torch.rand(5, 5)]).axes[0].images


def test_show_images_two_line_titles_do_not_overlap_the_row_above():
    # chapter 4's grid of mistakes: "true\n-> predicted" titles on two rows of eight
    fig = cnnlib.show_images(torch.rand(16, 1, 28, 28), ["T-shirt/top\n→ Pullover"] * 16, scale=1.6)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    above, below = fig.axes[0], fig.axes[8]
    title_top = below.title.get_window_extent(renderer).y1
    assert title_top < above.get_window_extent(renderer).y0, "a second-row title runs into the first row"


def test_show_images_rejects_bad_input():
    with pytest.raises(ValueError, match="2 images but 1 labels"):
        cnnlib.show_images(torch.rand(2, 1, 4, 4), labels=["a"])
    with pytest.raises(ValueError, match="no images"):
        cnnlib.show_images([])
    with pytest.raises(ValueError, match="2 or 3 dimensions"):
        cnnlib.show_images([torch.rand(1, 1, 1, 4, 4)])


def test_plot_history_draws_loss_and_accuracy():
    history = History(train_loss=[1.0, 0.5], train_acc=[0.5, 0.8], val_loss=[1.1, 0.6], val_acc=[0.4, 0.7])
    fig = cnnlib.plot_history(history)
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 2 and len(acc_ax.lines) == 2
    assert list(acc_ax.lines[1].get_ydata()) == [0.4, 0.7]
    with pytest.raises(ValueError, match="empty"):
        cnnlib.plot_history(History())


def test_live_plot_updates_one_display(monkeypatch):
    shown = []

    class Handle:
        def update(self, fig):
            shown.append(fig)

    monkeypatch.setattr("IPython.display.display", lambda fig, display_id: Handle())
    from cnnlib.plot import LivePlot

    plot = LivePlot()
    history = History(train_loss=[1.0], train_acc=[0.5])
    plot.update(history)
    history.train_loss.append(0.5)
    history.train_acc.append(0.7)
    plot.update(history)
    assert len(shown) == 2 and shown[0] is shown[1]
    assert list(plot.axes[0].lines[0].get_ydata()) == [1.0, 0.5]


def test_confusion_matrix_counts_pairs():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    preds = torch.tensor([0, 1, 1, 2, 0, 2])
    matrix = confusion_matrix(preds, labels, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert plot_confusion_matrix(preds, labels, ["a", "b", "c"]).axes
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(preds[:2], labels, 3)


def test_show_filters_shares_one_stated_scale():
    conv = torch.nn.Conv2d(3, 10, 5)
    fig = cnnlib.show_filters(conv, ncols=4)
    bound = conv.weight.abs().max().item()
    assert f"from {-bound:.3g} to {bound:.3g}" in fig._suptitle.get_text() and "RGB, grey = 0" in fig._suptitle.get_text()
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(shown) == 10 and all(0 <= a.min() and a.max() <= 1 for a in shown)
    assert any(a.max() == pytest.approx(1.0) or a.min() == pytest.approx(0.0) for a in shown)  # the largest weight


def test_show_filters_one_channel_uses_a_symmetric_colour_bar():
    weight = torch.randn(6, 2, 3, 3)
    fig = cnnlib.show_filters(weight, channel=1)
    limits = [ax.images[0].get_clim() for ax in fig.axes if ax.images]
    bound = weight[:, 1].abs().max().item()
    assert len(limits) == 6 and all(lim == pytest.approx((-bound, bound)) for lim in limits)
    assert len(fig.axes) == 7  # the six kernels and one colour bar
    assert "input channel 1" in fig._suptitle.get_text()


def test_show_filters_rejects_bad_input():
    with pytest.raises(TypeError, match="nn.Conv2d or a weight"):
        cnnlib.show_filters(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="channel 2 is out of range"):
        cnnlib.show_filters(torch.randn(4, 2, 3, 3), channel=2)


def test_show_feature_maps_one_row_per_layer_with_a_shared_scale():
    maps = {"conv1": torch.rand(2, 12, 8, 8), "conv2": 5 * torch.rand(2, 4, 4, 4)}
    fig = cnnlib.show_feature_maps(maps, channels=6, image=1)
    axes = [ax for ax in fig.axes]
    assert len(axes) == 12
    first_row = {ax.images[0].get_clim() for ax in axes[:6]}
    low, high = maps["conv1"][1, :6].min().item(), maps["conv1"][1, :6].max().item()
    assert first_row == {(low, high)}
    assert "12×8×8" in axes[0].get_ylabel() and "4×4×4" in axes[6].get_ylabel()
    assert sum(bool(ax.images) for ax in axes[6:]) == 4  # conv2 has only four channels
    assert len(cnnlib.show_feature_maps(torch.rand(1, 3, 4, 4)).axes) == 3


def test_show_feature_maps_rejects_bad_input():
    with pytest.raises(ValueError, match="no maps"):
        cnnlib.show_feature_maps({})
    with pytest.raises(ValueError, match=r"must have shape \(N, C, H, W\)"):
        cnnlib.show_feature_maps({"x": torch.rand(3, 4, 4)})
    with pytest.raises(ValueError, match="image 2 is out of range"):
        cnnlib.show_feature_maps(torch.rand(2, 3, 4, 4), image=2)


def test_history_plot_leaves_room_for_the_last_epochs_markers():
    history = History(train_loss=[1.0, 0.5, 0.4], train_acc=[0.5, 0.7, 0.8], val_loss=[0.9, 0.6, 0.5],
                      val_acc=[0.6, 0.7, 0.75], seconds=[1.0] * 3, examples_per_sec=[1.0] * 3)
    fig = cnnlib.plot_history(history)
    for ax in fig.axes:
        low, high = ax.get_xlim()
        assert low == 0 and high > 3  # the markers at epoch 3 are not cut in half by the edge
    matplotlib.pyplot.close(fig)
