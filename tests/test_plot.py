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
