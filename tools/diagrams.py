"""Draw the course's diagrams into assets/ as SVG, from the course's own code.

    python tools/diagrams.py            (re)write every diagram in assets/
    python tools/diagrams.py --check    exit 1 and name the diagrams that differ from a fresh drawing
    python tools/diagrams.py insert     add each diagram's markdown cell to its chapter, after the cell
                                        that opens its section (skipped where the chapter already shows it)

Every size, channel count and shape in a diagram comes from cnnlib: the model builders and their
configurations, cnnlib.layer_shapes, cnnlib.receptive_field, the from-scratch ops. So a diagram cannot
disagree with the code. The SVG bytes are deterministic (fixed hash salt, no date), so a test redraws
every diagram and compares.
"""

from __future__ import annotations

import io
import textwrap
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle  # noqa: E402
from torch import nn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cnnlib  # noqa: E402
from cnnlib import models  # noqa: E402
from cnnlib.models.densenet import CONFIGS as DENSENET_CONFIGS  # noqa: E402
from cnnlib.models.googlenet import INCEPTION_CONFIG  # noqa: E402
from cnnlib.models.efficientnet import LITE0_STAGES  # noqa: E402
from cnnlib.ops import corr2d, pool2d  # noqa: E402

ASSETS = ROOT / "assets"
STYLE = {"svg.hashsalt": "cnn-course", "svg.fonttype": "none", "font.family": "DejaVu Sans",
         "font.size": 9, "path.simplify": False}
SVG_METADATA = {"Date": None, "Creator": "tools/diagrams.py"}
COLORS = {"conv": "#cfe2f3", "pool": "#d9ead3", "dense": "#fce5cd", "norm": "#ead1dc", "input": "#ffffff",
          "other": "#eeeeee", "frozen": "#d9d9d9", "new": "#f4cccc", "add": "#fff2cc"}
UNIT = 0.5  # inches per drawing unit


# ---------------------------------------------------------------- drawing primitives
class Canvas:
    """A figure in drawing units, y growing downwards, with boxes, arrows, text and number grids."""

    def __init__(self, width: float, height: float):
        self.fig = plt.figure(figsize=(width * UNIT, height * UNIT))
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, width)
        self.ax.set_ylim(height, 0)
        self.ax.axis("off")

    def box(self, x: float, y: float, w: float, h: float, text: str, kind: str = "other",
            size: float = 8) -> None:
        """A rounded box centred on (x, y)."""
        self.ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.12",
                                         facecolor=COLORS[kind], edgecolor="#444444", linewidth=0.8))
        self.text(x, y, text, size=size)

    def text(self, x: float, y: float, text: str, size: float = 8, **kwargs) -> None:
        options = dict(ha="center", va="center", fontsize=size, color="#222222")
        options.update(kwargs)
        self.ax.text(x, y, text, **options)

    def arrow(self, points: Sequence[tuple[float, float]], color: str = "#444444") -> None:
        """A polyline with an arrowhead at its last point."""
        xs, ys = zip(*points)
        self.ax.plot(xs[:-1], ys[:-1], color=color, linewidth=0.9, solid_capstyle="butt")
        self.ax.annotate("", xy=points[-1], xytext=points[-2],
                         arrowprops=dict(arrowstyle="-|>", color=color, linewidth=0.9, shrinkA=0, shrinkB=0))

    def grid(self, x: float, y: float, values, cell: float = 0.6, fill=None, size: float = 8,
             fmt: str = "{:g}") -> None:
        """A grid of numbers with its top-left corner at (x, y); ``fill(i, j)`` colours a cell."""
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                color = fill(i, j) if fill else "#ffffff"
                self.ax.add_patch(Rectangle((x + j * cell, y + i * cell), cell, cell, facecolor=color,
                                            edgecolor="#666666", linewidth=0.6))
                if value is not None:
                    self.text(x + (j + 0.5) * cell, y + (i + 0.5) * cell, fmt.format(value), size=size)

    def outline(self, x: float, y: float, w: float, h: float, color: str = "#cc0000", width: float = 1.8,
                style: str = "-") -> None:
        self.ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=color, linewidth=width, linestyle=style))

    def svg(self) -> bytes:
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="svg", metadata=SVG_METADATA)
        plt.close(self.fig)
        return buffer.getvalue()


def shape_text(shape: Sequence[int]) -> str:
    """(1, 6, 28, 28) -> '6×28×28'; (1, 120) -> '120'."""
    return "×".join(str(s) for s in shape[1:])


def pair(value) -> int:
    return value[0] if isinstance(value, tuple) else value


def layer_text(module: nn.Module) -> tuple[str, str] | None:
    """A short label and a colour kind for a layer; None for layers folded into the box before them."""
    if isinstance(module, nn.Conv2d):
        k, s, p = pair(module.kernel_size), pair(module.stride), pair(module.padding)
        extra = "".join([f", stride {s}" if s != 1 else "", f", pad {p}" if p else "",
                         f", {module.groups} groups" if module.groups > 1 else ""])
        return f"conv {k}×{k}{extra}", "conv"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kind = "max" if isinstance(module, nn.MaxPool2d) else "avg"
        k, s = pair(module.kernel_size), pair(module.stride)
        return f"{kind}-pool {k}×{k}" + (f", stride {s}" if s != k else ""), "pool"
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return f"adaptive avg-pool to {pair(module.output_size)}×{pair(module.output_size)}", "pool"
    if isinstance(module, nn.Linear):
        return f"dense {module.out_features}", "dense"
    if isinstance(module, nn.Flatten):
        return "flatten", "other"
    return None


FOLDED = {nn.ReLU: "ReLU", nn.Sigmoid: "sigmoid", nn.Dropout: "dropout", nn.LocalResponseNorm: "LRN",
          nn.BatchNorm2d: "BN", nn.ReLU6: "ReLU6"}


def trace(parts: Sequence[nn.Module], shape: Sequence[int]) -> list[tuple[str, str, str]]:
    """(label, shape text, kind) of every layer of the given sequential parts, shapes from layer_shapes.

    Activations, dropout and normalisation join the label of the layer before them ("conv 5×5 + ReLU").
    """
    rows: list[list[str]] = []
    shape = tuple(shape)
    for part in parts:
        children = dict(part.named_children()) if len(list(part.children())) else {"": part}
        if "" in children:
            traced = [("", type(part).__name__, tuple(part(torch.zeros(shape)).shape))]
        else:
            traced = cnnlib.layer_shapes(part, shape, print_it=False)
        for name, _, out in traced:
            module = children[name]
            described = layer_text(module)
            if described is None:
                folded = FOLDED.get(type(module))
                if folded is None or not rows:
                    raise ValueError(f"no diagram label for {type(module).__name__}")
                rows[-1][0] += f" + {folded}"
            else:
                rows.append([described[0], shape_text(out), described[1]])
            shape = out
    return [tuple(row) for row in rows]


def pipeline(canvas: Canvas, layers: Sequence[tuple[str, str, str]], input_text: str, top: float,
             per_row: int = 7, w: float = 2.3, h: float = 1.4, gap: float = 0.45, left: float = 0.3) -> float:
    """Lay out input and layers left to right, wrapping into rows; returns the y below the last row."""
    items = [("input", input_text, "input")] + list(layers)
    row_gap = 0.7
    for index, (label, shape, kind) in enumerate(items):
        row, col = divmod(index, per_row)
        x = left + w / 2 + col * (w + gap)
        y = top + h / 2 + row * (h + row_gap)
        canvas.box(x, y, w, h, f"{wrap(label, 18)}\n{shape}", kind, size=7.5)
        if index:
            if col:
                canvas.arrow([(x - w / 2 - gap, y), (x - w / 2, y)])
            else:
                last_x = left + w / 2 + (per_row - 1) * (w + gap)
                mid = y - h / 2 - row_gap / 2
                canvas.arrow([(last_x, y - h - row_gap + h / 2), (last_x, mid), (x, mid), (x, y - h / 2)])
    rows = (len(items) + per_row - 1) // per_row
    return top + rows * h + (rows - 1) * row_gap


def wrap(text: str, width: int) -> str:
    """Break a label between words so that no line is longer than ``width`` characters."""
    return textwrap.fill(text, width, break_long_words=False)


def legend(canvas: Canvas, x: float, y: float, kinds: Sequence[tuple[str, str]]) -> None:
    for i, (kind, text) in enumerate(kinds):
        canvas.ax.add_patch(Rectangle((x + i * 3.2, y - 0.2), 0.4, 0.4, facecolor=COLORS[kind], edgecolor="#444444",
                                      linewidth=0.6))
        canvas.text(x + i * 3.2 + 0.55, y, text, size=7.5, ha="left")


def network_diagram(title: str, layers, input_text: str, per_row: int = 7) -> bytes:
    rows = (len(layers) + per_row) // per_row
    width = 0.6 + per_row * 2.3 + (per_row - 1) * 0.45
    canvas = Canvas(width, 1.6 + rows * 1.4 + (rows - 1) * 0.7 + 0.9)
    canvas.text(0.3, 0.5, title, size=10, ha="left", weight="bold")
    bottom = pipeline(canvas, layers, input_text, top=1.1, per_row=per_row)
    legend(canvas, 0.3, bottom + 0.55, [("conv", "convolution"), ("pool", "pooling"), ("dense", "dense"),
                                        ("other", "reshape")])
    return canvas.svg()


def stack(canvas: Canvas, x: float, top: float, boxes: Sequence[tuple[str, str]], w: float = 3.4,
          h: float = 0.75, gap: float = 0.45, arrow_in: bool = True) -> float:
    """Boxes top to bottom at x with arrows between them; returns the y of the last box's bottom."""
    y = top
    for i, (text, kind) in enumerate(boxes):
        if i or arrow_in:
            canvas.arrow([(x, y - gap), (x, y)])
        canvas.box(x, y + h / 2, w, h, text, kind)
        y += h + gap
    return y - gap


# ---------------------------------------------------------------- chapters 01-03: operations
def cross_correlation() -> bytes:
    X = torch.arange(9.0).reshape(3, 3)
    K = torch.arange(4.0).reshape(2, 2)
    Y = corr2d(X, K)
    cell = 0.9
    canvas = Canvas(13.5, 5.2)
    canvas.text(0.3, 0.45, "Cross-correlation: slide the kernel, multiply, add", size=10, ha="left", weight="bold")
    top = 1.3
    window = lambda i, j: "#f4cccc" if i < 2 and j < 2 else "#ffffff"  # noqa: E731
    canvas.grid(0.5, top, X.tolist(), cell, fill=window, size=10)
    canvas.outline(0.5, top, 2 * cell, 2 * cell)
    canvas.text(0.5 + 1.5 * cell, top + 3 * cell + 0.4, "input X (3×3)")
    canvas.text(3.75, top + 1.5 * cell, "⋆", size=16)
    canvas.grid(4.5, top + 0.5 * cell, K.tolist(), cell, fill=lambda i, j: "#cfe2f3", size=10)
    canvas.text(4.5 + cell, top + 3 * cell + 0.4, "kernel K (2×2)")
    canvas.text(7.0, top + 1.5 * cell, "=", size=16)
    canvas.grid(7.8, top + 0.5 * cell, Y.tolist(), cell, fill=lambda i, j: "#f4cccc" if i == j == 0 else "#ffffff",
                size=10)
    canvas.outline(7.8, top + 0.5 * cell, cell, cell)
    canvas.text(7.8 + cell, top + 3 * cell + 0.4, f"output ({Y.shape[0]}×{Y.shape[1]})")
    terms = " + ".join(f"{X[i, j]:g}·{K[i, j]:g}" for i in range(2) for j in range(2))
    canvas.text(10.0, top + 1.0 * cell, "top-left output:", size=8.5, ha="left")
    canvas.text(10.0, top + 1.6 * cell, f"{terms}", size=8.5, ha="left")
    canvas.text(10.0, top + 2.2 * cell, f"= {Y[0, 0]:g}", size=8.5, ha="left", weight="bold")
    canvas.text(0.3, top + 3 * cell + 1.15, "Output size: (3 − 2 + 1) × (3 − 2 + 1). The kernel is not flipped "
                "(a true convolution would flip it).", size=8, ha="left")
    return canvas.svg()


def _window_panel(canvas: Canvas, x0: float, y0: float, n: int, k: int, p: int, s: int, d: int, title: str) -> None:
    """The padded n×n input with the first window (red) and the second along the row (blue, dashed)."""
    cell = 0.42
    size = n + 2 * p
    out = cnnlib.conv_output_size(n, k, padding=p, stride=s, dilation=d)
    inside = lambda i, j: p <= i < p + n and p <= j < p + n  # noqa: E731
    first = {(i * d, j * d) for i in range(k) for j in range(k)}
    second = {(i * d, j * d + s) for i in range(k) for j in range(k)}

    def fill(i, j):
        if (i, j) in first:
            return "#f4cccc"
        if (i, j) in second:
            return "#cfe2f3"
        return "#ffffff" if inside(i, j) else "#d9d9d9"

    canvas.grid(x0, y0, [[None] * size for _ in range(size)], cell, fill=fill)
    span = d * (k - 1) + 1
    canvas.outline(x0, y0, span * cell, span * cell)
    canvas.outline(x0 + s * cell, y0, span * cell, span * cell, color="#3d85c6", width=1.4, style="--")
    canvas.text(x0 + size * cell / 2, y0 - 0.45, title, size=8.5, weight="bold")
    formula = f"⌊({n} + 2·{p} − {d}·({k} − 1) − 1) / {s}⌋ + 1 = {out}"
    canvas.text(x0 + size * cell / 2, y0 + size * cell + 0.4, f"n={n}, k={k}, p={p}, s={s}, d={d}", size=7.5)
    canvas.text(x0 + size * cell / 2, y0 + size * cell + 0.85, formula, size=7.5)


def padding_stride_dilation() -> bytes:
    canvas = Canvas(16.0, 6.6)
    canvas.text(0.3, 0.45, "Padding, stride and dilation (grey: zero padding; red: first window; "
                "blue: the next window along the row)", size=9.5, ha="left", weight="bold")
    _window_panel(canvas, 0.6, 1.8, n=5, k=3, p=1, s=1, d=1, title="padding 1: 'same' size")
    _window_panel(canvas, 5.9, 1.8, n=5, k=3, p=1, s=2, d=1, title="padding 1, stride 2")
    _window_panel(canvas, 11.2, 1.8, n=7, k=3, p=0, s=1, d=2, title="dilation 2: a 3×3 kernel spans 5×5")
    return canvas.svg()


def pooling() -> bytes:
    X = torch.tensor([[1.0, 3, 2, 0], [5, 6, 1, 2], [0, 2, 4, 8], [3, 1, 7, 5]])
    top_max = pool2d(X, 2, mode="max")
    top_avg = pool2d(X, 2, mode="avg")
    assert torch.equal(top_max, F.max_pool2d(X[None, None], 2)[0, 0])
    cell = 0.8
    quadrant = ["#f4cccc", "#cfe2f3", "#d9ead3", "#fff2cc"]
    fill = lambda i, j: quadrant[2 * (i // 2) + j // 2]  # noqa: E731
    canvas = Canvas(14.5, 5.6)
    canvas.text(0.3, 0.45, "2×2 pooling with stride 2: one number per window, no weights", size=10, ha="left",
                weight="bold")
    top = 1.2
    canvas.grid(0.5, top, X.tolist(), cell, fill=fill, size=10)
    canvas.text(0.5 + 2 * cell, top + 4 * cell + 0.4, "input (4×4)")
    for x, result, name, fmt in ((6.0, top_max, "max-pool", "{:g}"), (10.0, top_avg, "average pool", "{:.2f}")):
        y = top + (0 if x < 8 else 2) * cell
        canvas.arrow([(4.0, top + 2 * cell), (x - 0.3, y + cell)])
        canvas.grid(x, y, result.tolist(), cell, fill=lambda i, j: quadrant[2 * i + j], size=9, fmt=fmt)
        canvas.text(x + cell, y + 2 * cell + 0.35, f"{name} ({result.shape[0]}×{result.shape[1]})")
    canvas.text(0.3, top + 4 * cell + 1.1, "Max pooling keeps the strongest response in each window; average "
                "pooling keeps the mean. Both halve height and width.", size=8, ha="left")
    return canvas.svg()


# ---------------------------------------------------------------- chapters 04-08: classic networks
def lenet_from_notebook(path: Path = ROOT / "notebooks" / "04_lenet.ipynb") -> nn.Module:
    """The classic LeNet exactly as chapter 4 defines it (its ``lenet_classic`` cell)."""
    cells = [c.source for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code" and "def lenet_classic" in c.source]
    if len(cells) != 1:
        raise RuntimeError(f"{path.name} must have exactly one cell defining lenet_classic, found {len(cells)}")
    namespace = {"nn": nn, "torch": torch}
    exec(compile(cells[0], str(path), "exec"), namespace)  # noqa: S102 - our own notebook
    return namespace["lenet_classic"]()


def lenet() -> bytes:
    layers = trace([lenet_from_notebook()], (1, 1, 28, 28))
    return network_diagram("LeNet-5 (classic version of chapter 4): output shape below each layer", layers,
                           "1×28×28", per_row=5)


def alexnet() -> bytes:
    model = models.alexnet(config="paper")
    layers = trace([model.features, model.avgpool, nn.Flatten(), model.classifier], (1, 3, 224, 224))
    return network_diagram("AlexNet (the 2012 paper's configuration, one 224×224 colour image)", layers,
                           "3×224×224", per_row=6)


def block_beside_network(title: str, block: str, block_boxes, block_note: str, input_text: str,
                         rows: Sequence[tuple[str, str]], footer: str) -> bytes:
    """A block's layers on the left, the whole network (one box per row: text, kind) on the right."""
    canvas = Canvas(17.0, 2.6 + 0.8 * len(rows) + 0.9)
    canvas.text(0.3, 0.5, title, size=10, ha="left", weight="bold")
    canvas.text(2.6, 1.2, block, size=8, weight="bold")
    bottom = stack(canvas, 2.6, 2.0, block_boxes)
    canvas.text(2.6, bottom + 0.6, block_note, size=7.5)
    y, x = 1.6, 10.6
    canvas.box(x, y, 6.2, 0.5, input_text, "input")
    for text, kind in rows:
        canvas.arrow([(x, y + 0.25), (x, y + 0.55)])
        y += 0.8
        canvas.box(x, y, 6.2, 0.5, text, kind)
    canvas.text(x, y + 0.7, footer, size=8)
    return canvas.svg()


def vgg() -> bytes:
    model = models.vgg11()
    shapes = cnnlib.layer_shapes(model.features, (1, 3, 224, 224), print_it=False)
    rows = [(f"block {i}: {n} conv{'s' if n > 1 else ''}, {c} ch → {shape_text(out)}", "conv")
            for i, ((n, c), (_, _, out)) in enumerate(zip(model.config, shapes), 1)]
    rows += [(f"{text} → {shape}", kind)
             for text, shape, kind in trace([model.avgpool, nn.Flatten(), model.classifier], shapes[-1][2])]
    return block_beside_network(
        "A VGG block, and VGG-11 built from five of them", "VGGBlock(num_convs, c_in, c_out)",
        [("conv 3×3, pad 1 + ReLU", "conv"), ("⋮  (num_convs times)", "other"), ("conv 3×3, pad 1 + ReLU", "conv"),
         ("max-pool 2×2, stride 2", "pool")], "keeps H×W in the convolutions,\nhalves it in the pool",
        "input 3×224×224", rows, f"VGG-11: {cnnlib.count_params(model):,} parameters (1000 classes)")


def nin() -> bytes:
    model = models.nin()
    children = dict(model.named_children())
    rows = []
    for name, _, out in cnnlib.layer_shapes(model, (1, 1, 224, 224), print_it=False):
        module = children[name]
        if isinstance(module, models.NiNBlock):
            conv = module[0]
            text, kind = f"NiN block, k={pair(conv.kernel_size)}, stride {pair(conv.stride)}", "conv"
        else:
            text, kind = layer_text(module) or (type(module).__name__.lower(), "other")
        rows.append((f"{name if text == name else name + ': ' + text} → {shape_text(out)}", kind))
    return block_beside_network(
        "A NiN block, and the NiN of chapter 7 (1×224×224 Fashion-MNIST, 10 classes)", "NiNBlock(c_in, c_out, k)",
        [("conv k×k + ReLU", "conv"), ("conv 1×1 + ReLU", "conv"), ("conv 1×1 + ReLU", "conv")],
        "the two 1×1 convolutions are\na small MLP applied at every pixel", "input 1×224×224", rows,
        f"no dense layers: {cnnlib.count_params(model):,} parameters")


def inception() -> bytes:
    name = "inception3a"
    c_in, c1, c3r, c3, c5r, c5, pool_proj = INCEPTION_CONFIG[name]
    block = models.Inception(*INCEPTION_CONFIG[name], branch3_kernel=5)
    size = 28
    out = tuple(block(torch.zeros(1, c_in, size, size)).shape)
    canvas = Canvas(16.0, 7.4)
    canvas.text(0.3, 0.45, f"An Inception block ({name} of GoogLeNet, paper's 5×5 branch, a {size}×{size} input)",
                size=10, ha="left", weight="bold")
    canvas.box(8.0, 1.3, 4.2, 0.6, f"input {c_in}×{size}×{size}", "input")
    branches = [[(f"conv 1×1, {c1}", "conv")],
                [(f"conv 1×1, {c3r}", "conv"), (f"conv 3×3, pad 1, {c3}", "conv")],
                [(f"conv 1×1, {c5r}", "conv"), (f"conv 5×5, pad 2, {c5}", "conv")],
                [("max-pool 3×3, stride 1, pad 1", "pool"), (f"conv 1×1, {pool_proj}", "conv")]]
    for i, boxes in enumerate(branches):
        x = 2.0 + i * 4.0
        top = 2.5 if len(boxes) == 2 else 3.7
        canvas.arrow([(8.0, 1.6), (8.0, 2.0), (x, 2.0), (x, top)])
        bottom = stack(canvas, x, top, boxes, w=3.6, h=0.7, gap=0.5, arrow_in=False)
        canvas.arrow([(x, bottom), (x, 5.4), (8.0, 5.4), (8.0, 5.7)])
    canvas.box(8.0, 6.05, 7.4, 0.7, f"concatenate channels: {c1} + {c3} + {c5} + {pool_proj} = {out[1]}  →  "
               f"{shape_text(out)}", "add")
    canvas.text(8.0, 7.0, "every branch keeps height and width; the 1×1 convolutions before the 3×3 and 5×5 "
                "ones cut the channels they see", size=7.5)
    return canvas.svg()


def googlenet_stages() -> bytes:
    model = models.googlenet()
    traced = cnnlib.layer_shapes(model, (1, 3, 224, 224), print_it=False)
    children = dict(model.named_children())
    stages: list[list[tuple[str, str]]] = [[]]
    for name, _, out in traced:
        module = children[name]
        if isinstance(module, (nn.Identity, nn.Dropout)):
            continue
        if isinstance(module, models.Inception):
            text, kind = f"{name}  ({module.out_channels} ch)", "conv"
        elif isinstance(module, nn.Sequential):  # ConvReLU
            conv = module[0]
            text, kind = f"{name}: conv {pair(conv.kernel_size)}×{pair(conv.kernel_size)}" + (
                f", stride {pair(conv.stride)}" if pair(conv.stride) > 1 else ""), "conv"
        else:
            text, kind = layer_text(module) or (name, "other")
        stages[-1].append((f"{text} → {shape_text(out)}", kind))
        if name.startswith("maxpool") and name != "maxpool1":
            stages.append([])
    titles = ["stem", "stage 3", "stage 4", "stage 5 and head"]
    if len(stages) != len(titles):
        raise RuntimeError(f"expected {len(titles)} stages between max-pools, found {len(stages)}")
    canvas = Canvas(22.0, 5.3)
    canvas.text(0.3, 0.45, "GoogLeNet's stages (one 224×224 colour image; each max-pool halves the size)", size=10,
                ha="left", weight="bold")
    for i, (title, boxes) in enumerate(zip(titles, stages)):
        x = 2.8 + i * 5.5
        canvas.text(x, 1.15, title, size=8.5, weight="bold")
        stack(canvas, x, 1.5, boxes, w=5.1, h=0.42, gap=0.1, arrow_in=False)
        if i:
            canvas.arrow([(x - 2.95, 1.71), (x - 2.55, 1.71)])
    canvas.text(11.0, 5.0, f"{cnnlib.count_params(model):,} parameters (torchvision variant, 1000 classes)", size=8)
    return canvas.svg()


# ---------------------------------------------------------------- chapters 10-14: modern blocks
def _residual(canvas: Canvas, x: float, title: str, boxes: Sequence[tuple[str, str]], shortcut: str,
              c_in: str) -> None:
    canvas.text(x, 1.15, title, size=8.5, weight="bold")
    canvas.box(x, 1.75, 4.4, 0.5, f"input x: {c_in}", "input")
    bottom = stack(canvas, x, 2.5, boxes, w=4.4, h=0.55, gap=0.3)
    canvas.box(x, bottom + 0.65, 0.7, 0.7, "+", "add", size=12)
    canvas.arrow([(x, bottom), (x, bottom + 0.3)])
    right = x + 2.7
    canvas.arrow([(x + 2.2, 1.75), (right, 1.75), (right, bottom + 0.65), (x + 0.35, bottom + 0.65)])
    canvas.text(right + 0.15, (1.75 + bottom) / 2, shortcut, size=7.5, ha="left", rotation=90)
    canvas.arrow([(x, bottom + 1.0), (x, bottom + 1.4)])
    canvas.box(x, bottom + 1.7, 4.4, 0.5, "ReLU", "other")


def _conv_boxes(block: nn.Module, names: Sequence[str]) -> list[tuple[str, str]]:
    boxes = []
    for i, name in enumerate(names):
        conv = getattr(block, name)
        k, s = pair(conv.kernel_size), pair(conv.stride)
        relu = " + ReLU" if i < len(names) - 1 else ""
        boxes.append((f"conv {k}×{k}{', stride ' + str(s) if s > 1 else ''}, {conv.out_channels} + BN{relu}",
                      "conv"))
    return boxes


def residual_blocks() -> bytes:
    r18, r50 = models.resnet18(), models.resnet50()
    basic, down, bottleneck = r18.layer1[0], r18.layer2[0], r50.layer2[0]
    canvas = Canvas(21.0, 7.4)
    canvas.text(0.3, 0.45, "Residual blocks: output = ReLU(F(x) + shortcut(x)); channels from resnet18 and resnet50",
                size=10, ha="left", weight="bold")
    _residual(canvas, 2.6, "basic block (resnet18 layer1)", _conv_boxes(basic, ["conv1", "conv2"]),
              "identity", f"{basic.conv1.in_channels} ch")
    sc = down.shortcut[0]
    _residual(canvas, 9.6, "basic block, downsampling (layer2)", _conv_boxes(down, ["conv1", "conv2"]),
              f"conv 1×1, stride {pair(sc.stride)}, {sc.out_channels} + BN", f"{down.conv1.in_channels} ch")
    sc = bottleneck.shortcut[0]
    _residual(canvas, 16.6, "bottleneck (resnet50 layer2)", _conv_boxes(bottleneck, ["conv1", "conv2", "conv3"]),
              f"conv 1×1, stride {pair(sc.stride)}, {sc.out_channels} + BN", f"{bottleneck.conv1.in_channels} ch")
    canvas.text(10.5, 7.05, "the bottleneck's 1×1 convolutions shrink the channels 4× around the 3×3 and expand "
                "them again", size=7.5)
    return canvas.svg()


def dense_block() -> bytes:
    config = DENSENET_CONFIGS["densenet-fashion-mnist"]
    model = models.densenet(config, in_channels=1, num_classes=10)
    block, transition = model.dense1, model.transition1
    c0, k = config.stem_channels, config.growth_rate
    size = 24
    out = tuple(transition(block(torch.zeros(1, c0, size, size))).shape)
    canvas = Canvas(18.0, 5.4)
    canvas.text(0.3, 0.45, f"A dense block (growth rate k = {k}) and a transition layer, as in chapter 11's "
                "DenseNet", size=10, ha="left", weight="bold")
    y = 2.2
    xs = [1.3 + 2.75 * i for i in range(len(block.layers) + 1)]
    channels = [c0 + i * k for i in range(len(block.layers) + 1)]
    for i, (x, c) in enumerate(zip(xs, channels)):
        canvas.box(x, y, 1.6, 0.9, f"{'input' if i == 0 else 'concat'}\n{c} ch", "input" if i == 0 else "add")
        if i:
            canvas.box(x - 1.37, y + 1.55, 1.3, 0.75, f"BN-ReLU-\nconv 3×3\n+{k} ch", "conv", size=7)
            canvas.arrow([(xs[i - 1], y + 0.45), (xs[i - 1], y + 1.55), (x - 2.02, y + 1.55)])
            canvas.arrow([(x - 0.72, y + 1.55), (x, y + 1.55), (x, y + 0.45)])
            canvas.arrow([(xs[i - 1] + 0.8, y), (x - 0.8, y)])
    canvas.text(xs[0] - 0.5, y - 1.0, "each layer gets the concatenation of the block's input and of every "
                "earlier layer's new channels", size=7.5, ha="left")
    tx = xs[-1] + 2.3
    canvas.arrow([(xs[-1] + 0.8, y), (tx - 1.1, y)])
    canvas.box(tx, y, 2.2, 1.2, f"transition\nBN-ReLU-conv 1×1\nto {out[1]} ch,\navg-pool 2×2", "pool", size=7)
    canvas.text(9.0, 4.8, f"{c0} + {len(block.layers)} × {k} = {channels[-1]} channels; the transition keeps "
                f"{config.compression:g} of them and halves the size: {c0}×{size}×{size} → {shape_text(out)}",
                size=8)
    return canvas.svg()


def mbconv() -> bytes:
    stage = LITE0_STAGES[1]
    block = models.MBConv(stage.out_channels, stage.out_channels, stage.kernel_size, 1, stage.expand_ratio)
    size = 56
    c, hidden = stage.out_channels, block.depthwise_conv.out_channels
    out = tuple(block(torch.zeros(1, c, size, size)).shape)
    canvas = Canvas(15.0, 7.6)
    canvas.text(0.3, 0.45, f"MBConv, the inverted residual block (EfficientNet-Lite0 stage 2, expansion "
                f"{stage.expand_ratio})", size=10, ha="left", weight="bold")
    x = 5.0
    canvas.box(x, 1.4, 4.4, 0.55, f"input {c}×{size}×{size}", "input")
    k = stage.kernel_size
    bottom = stack(canvas, x, 2.15, [
        (f"expand: conv 1×1, {c} → {hidden} ch + BN + ReLU6", "conv"),
        (f"depthwise: conv {k}×{k}, {hidden} groups + BN + ReLU6", "conv"),
        (f"project: conv 1×1, {hidden} → {c} ch + BN (linear)", "conv")], w=5.6, h=0.65, gap=0.35)
    canvas.box(x, bottom + 0.6, 0.65, 0.65, "+", "add", size=12)
    canvas.arrow([(x, bottom), (x, bottom + 0.27)])
    canvas.arrow([(x + 2.2, 1.4), (x + 3.3, 1.4), (x + 3.3, bottom + 0.6), (x + 0.33, bottom + 0.6)])
    canvas.text(x + 3.45, (1.4 + bottom) / 2, "identity (stride 1, same channels)", size=7.5, ha="left", rotation=90)
    canvas.arrow([(x, bottom + 0.93), (x, bottom + 1.3)])
    canvas.box(x, bottom + 1.6, 4.4, 0.55, f"output {shape_text(out)}", "input")
    canvas.text(9.6, 2.3, "narrow → wide → narrow:", size=8, ha="left", weight="bold")
    canvas.text(9.6, 2.8, f"the block widens {c} channels {stage.expand_ratio}×", size=8, ha="left")
    canvas.text(9.6, 3.25, "filters each wide channel on its own", size=8, ha="left")
    canvas.text(9.6, 3.7, "(depthwise), then mixes them back", size=8, ha="left")
    canvas.text(9.6, 4.15, "down to a narrow output.", size=8, ha="left")
    canvas.text(9.6, 4.8, f"{cnnlib.count_params(block):,} parameters", size=8, ha="left")
    return canvas.svg()


def transfer_learning() -> bytes:
    model = models.efficientnet_lite0(num_classes=1000)
    cnnlib.transfer.freeze(model)
    old_head = model.classifier
    model.classifier = nn.Linear(old_head.in_features, 2)
    frozen = cnnlib.count_params(model) - cnnlib.count_params(model, trainable_only=True)
    trainable = cnnlib.count_params(model, trainable_only=True)
    shapes = cnnlib.layer_shapes(model.stages, (1, 32, 112, 112), print_it=False)
    canvas = Canvas(17.0, 5.6)
    canvas.text(0.3, 0.45, "Transfer learning: a frozen pretrained backbone, a new head", size=10, ha="left",
                weight="bold")
    y = 2.4
    parts = [("image\n3×224×224", "input", 1.7), ("stem\nconv 3×3 /2", "frozen", 1.9),
             (f"{len(shapes)} stages of\nMBConv blocks\n→ {shape_text(shapes[-1][2])}", "frozen", 2.6),
             (f"head conv 1×1\n+ avg-pool\n→ {old_head.in_features}", "frozen", 2.3),
             (f"new dense\n{old_head.in_features} → 2\n(ants, bees)", "new", 2.2)]
    x = 0.4
    centres = []
    for text, kind, w in parts:
        canvas.box(x + w / 2, y, w, 1.5, text, kind, size=8)
        centres.append((x, w))
        x += w + 0.55
    for (x0, w0), (x1, _) in zip(centres, centres[1:]):
        canvas.arrow([(x0 + w0, y), (x1, y)])
    fx0, fx1 = centres[1][0], centres[3][0] + centres[3][1]
    canvas.ax.annotate("", xy=(fx0, 3.5), xytext=(fx1, 3.5), arrowprops=dict(arrowstyle="<->", color="#444444"))
    canvas.text((fx0 + fx1) / 2, 3.9, f"frozen: ImageNet weights, {frozen:,} parameters, batch norm fixed", size=8)
    nx = centres[4][0] + centres[4][1] / 2
    canvas.text(nx, 3.55, f"trained: {trainable:,}", size=8)
    canvas.text(0.4, 4.8, f"The replaced ImageNet classifier had {cnnlib.count_params(old_head):,} parameters. "
                "Fine-tuning later unfreezes the backbone with a smaller learning rate.", size=8, ha="left")
    return canvas.svg()


def receptive_field() -> bytes:
    conv = lambda: nn.Conv2d(1, 1, 3)  # noqa: E731
    stacks = {"three 3×3 convolutions": [conv(), conv(), conv()],
              "3×3 conv, 2×2 max-pool (stride 2), 3×3 conv": [conv(), nn.MaxPool2d(2), conv()]}
    canvas = Canvas(22.0, 6.6)
    canvas.text(0.3, 0.45, "Receptive field growth: the input pixels one output unit can see (1-D cut)", size=10,
                ha="left", weight="bold")
    cell = 0.36
    for panel, (title, layers) in enumerate(stacks.items()):
        x0 = 0.6 + panel * 11.0
        fields = [cnnlib.receptive_field(nn.Sequential(*layers[:i]), (1, 1, 31, 31))[1]
                  for i in range(1, len(layers) + 1)]
        canvas.text(x0 + 4.0, 1.05, title, size=8.5, weight="bold")
        names = ["input"] + [layer_text(m)[0] for m in layers]
        n = 19
        # walk down from one unit at the top: the span (start, end) it covers in each lower layer
        spans = [(n // 2, n // 2 + 1)]
        for layer in reversed(layers):
            k, s = pair(layer.kernel_size), pair(layer.stride)
            start, end = spans[-1]
            spans.append((start * s, (end - 1) * s + k))
        spans = spans[::-1]
        if spans[0][1] - spans[0][0] != fields[-1]:
            raise RuntimeError(f"drawn field {spans[0]} disagrees with the measured {fields[-1]} px")
        for row, (name, (start, end)) in enumerate(zip(names, spans)):
            y = 1.6 + (len(layers) - row) * 1.05
            width = end - start
            shift = (n - width) / 2 - start
            canvas.grid(x0, y, [[None] * n], cell,
                        fill=lambda i, j, a=start + shift, b=end + shift: "#f4cccc" if a <= j < b else "#ffffff")
            label = f"{name}: field {fields[row - 1]} px" if row else name
            canvas.text(x0 + n * cell + 0.2, y + cell / 2, label, size=7.5, ha="left")
        canvas.text(x0 + 4.0, 6.1, f"fields: {', '.join(str(f) for f in fields)} pixels", size=8)
    return canvas.svg()


# ---------------------------------------------------------------- chapter 17: modern CNN design
def _block_boxes(convs: Sequence[nn.Conv2d], after: Sequence[str]) -> list[tuple[str, str]]:
    """One box per convolution: kernel, stride, channels in -> out, groups, then what follows it."""
    boxes = []
    for conv, tail in zip(convs, after):
        k, s, g = pair(conv.kernel_size), pair(conv.stride), conv.groups
        groups = "" if g == 1 else (", depthwise" if g == conv.in_channels == conv.out_channels else f", {g} groups")
        boxes.append((f"conv {k}×{k}{', stride ' + str(s) if s > 1 else ''}, {conv.in_channels} → "
                      f"{conv.out_channels}{groups}{tail}", "conv"))
    return boxes


def resnext_block() -> bytes:
    names = ("resnet50", "resnext50_32x4d", "wide_resnet50_2")
    blocks = [models.resnet(name).layer1[1] for name in names]
    canvas = Canvas(21.5, 8.0)
    canvas.text(0.3, 0.45, "One bottleneck block (layer1, identity shortcut) from the same ResNetConfig: "
                "plain, ResNeXt (32 groups), wide (2× inner width)", size=10, ha="left", weight="bold")
    for i, (name, block) in enumerate(zip(names, blocks)):
        x = 3.0 + i * 7.2
        boxes = _block_boxes([block.conv1, block.conv2, block.conv3], [" + BN + ReLU", " + BN + ReLU", " + BN"])
        _residual(canvas, x, name, [(wrap(t, 32), k) for t, k in boxes], "identity", f"{block.conv1.in_channels} ch")
        conv = block.conv2
        canvas.text(x, 6.95, f"block: {cnnlib.count_params(block):,} parameters; the 3×3: "
                    f"{conv.weight.numel():,}", size=7.5)
    g = blocks[1].conv2.groups
    canvas.text(10.75, 7.5, f"A grouped 3×3 is {g} small convolutions side by side, each seeing "
                f"{blocks[1].conv2.in_channels // g} of the channels: {g}× fewer weights than one full 3×3 of the "
                "same width, which ResNeXt spends on a wider block.", size=7.5)
    return canvas.svg()


def inverted_residual() -> bytes:
    plain = models.mobilenet_v2().features[3]  # stage 2's second block: 24 -> 24 channels, stride 1
    c = plain.conv[0][0].in_channels
    hidden = plain.conv[0][0].out_channels
    with_se = models.InvertedResidual(c, c, 1, hidden // c, se_ratio=0.25)
    se = with_se.conv[2]
    size = 56
    canvas = Canvas(17.5, 9.0)
    canvas.text(0.3, 0.45, f"The inverted residual (MobileNetV2, {c} channels at {size}×{size}); right: with "
                "squeeze-and-excitation", size=10, ha="left", weight="bold")
    for x, block, title in ((4.2, plain, "mobilenet_v2().features[3]"),
                            (12.6, with_se, "InvertedResidual(..., se_ratio=0.25)")):
        convs = [block.conv[0][0], block.conv[1][0], block.conv[-2]]
        boxes = _block_boxes(convs, [" + BN + ReLU6", " + BN + ReLU6", " + BN (linear)"])
        if block is with_se:
            boxes.insert(2, (f"squeeze-excite: pool → 1×1 {se.fc1.in_channels} → {se.fc1.out_channels} → ReLU → "
                             f"1×1 → {se.fc2.out_channels} → sigmoid, × input", "other"))
        canvas.text(x, 1.15, title, size=8.5, weight="bold")
        canvas.box(x, 1.75, 5.6, 0.5, f"input x: {c}×{size}×{size}", "input")
        bottom = stack(canvas, x, 2.5, [(wrap(t, 52), k) for t, k in boxes], w=7.2, h=0.7, gap=0.35)
        canvas.arrow([(x, bottom), (x, bottom + 0.3)])
        canvas.box(x, bottom + 0.65, 0.7, 0.7, "+", "add", size=12)
        canvas.arrow([(x + 2.8, 1.75), (x + 3.9, 1.75), (x + 3.9, bottom + 0.65), (x + 0.35, bottom + 0.65)])
        canvas.text(x, bottom + 1.3, f"{cnnlib.count_params(block):,} parameters", size=8)
    canvas.text(8.4, 8.6, f"narrow ({c}) → wide ({hidden}) → narrow ({c}): the residual joins the narrow ends; "
                "the projection has no activation. Chapter 13's MBConv is the same block.", size=7.5)
    return canvas.svg()


def convnext_block() -> bytes:
    bottleneck = models.resnet("resnet50").layer1[1]
    block = models.convnext("convnext_tiny").stages[0][0]
    c, hidden = block.pwconv1.in_features, block.pwconv1.out_features
    k = pair(block.dwconv.kernel_size)
    canvas = Canvas(17.0, 8.4)
    canvas.text(0.3, 0.45, "From the ResNet-50 bottleneck to the ConvNeXt block (ConvNeXt-T, stage 1)", size=10,
                ha="left", weight="bold")
    boxes = _block_boxes([bottleneck.conv1, bottleneck.conv2, bottleneck.conv3],
                         [" + BN + ReLU", " + BN + ReLU", " + BN"])
    _residual(canvas, 3.6, "resnet50, layer1", boxes, "identity", f"{bottleneck.conv1.in_channels} ch")
    canvas.text(3.6, 7.1, f"{cnnlib.count_params(bottleneck):,} parameters", size=7.5)
    x = 12.0
    canvas.text(x, 1.15, "convnext_tiny, stage 1", size=8.5, weight="bold")
    canvas.box(x, 1.75, 4.8, 0.5, f"input x: {c} ch", "input")
    bottom = stack(canvas, x, 2.4, [
        (f"depthwise conv {k}×{k}, {c} ch", "conv"), ("LayerNorm over channels", "norm"),
        (f"1×1 (Linear), {c} → {hidden}", "conv"), ("GELU", "other"), (f"1×1 (Linear), {hidden} → {c}", "conv"),
        ("× layer scale (per channel)", "other")], w=5.6, h=0.45, gap=0.22)
    canvas.arrow([(x, bottom), (x, bottom + 0.25)])
    canvas.box(x, bottom + 0.55, 0.6, 0.6, "+", "add", size=12)
    canvas.arrow([(x + 2.4, 1.75), (x + 3.3, 1.75), (x + 3.3, bottom + 0.55), (x + 0.3, bottom + 0.55)])
    canvas.text(x + 3.45, (1.75 + bottom) / 2, "identity", size=7.5, ha="left", rotation=90)
    canvas.text(x, bottom + 1.2, f"{cnnlib.count_params(block):,} parameters; no activation after the sum",
                size=7.5)
    canvas.text(8.5, 8.0, "spatial mixing first and cheap (depthwise, large kernel), channel mixing in an inverted "
                "bottleneck (4× wider), one norm and one activation per block", size=7.5)
    return canvas.svg()


# ---------------------------------------------------------------- chapter 18: transposed convolution, U-Net
def transposed_convolution() -> bytes:
    X = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    Y = cnnlib.ops.conv_transpose2d(X[None, None], K[None, None])[0, 0]
    patches = []  # what each input pixel paints: the transposed convolution of X with only that pixel kept
    for i in range(2):
        for j in range(2):
            one = torch.zeros_like(X)
            one[i, j] = X[i, j]
            patches.append(((i, j), cnnlib.ops.conv_transpose2d(one[None, None], K[None, None])[0, 0]))
    assert torch.equal(sum(p for _, p in patches), Y)
    cell = 0.55
    canvas = Canvas(19.0, 4.6)
    canvas.text(0.3, 0.45, "Transposed convolution (stride 1): every input pixel paints input × kernel; "
                "overlaps add up", size=10, ha="left", weight="bold")
    top = 1.6
    colours = ["#f4cccc", "#cfe2f3", "#d9ead3", "#fff2cc"]
    canvas.grid(0.4, top + cell / 2, X.tolist(), cell, fill=lambda i, j: colours[2 * i + j], size=9)
    canvas.text(0.4 + cell, top + 3 * cell, "input X", size=8)
    canvas.grid(2.0, top + cell / 2, K.tolist(), cell, fill=lambda i, j: COLORS["conv"], size=9)
    canvas.text(2.0 + cell, top + 3 * cell, "kernel K", size=8)
    x = 3.6
    for n, ((i, j), patch) in enumerate(patches):
        inside = lambda a, b, i=i, j=j: i <= a < i + 2 and j <= b < j + 2  # noqa: E731
        values = [[patch[a, b].item() if inside(a, b) else None for b in range(3)] for a in range(3)]
        canvas.grid(x, top, values, cell, fill=lambda a, b, n=n, inside=inside: colours[n] if inside(a, b) else "#ffffff",
                    size=8.5)
        canvas.text(x + 1.5 * cell, top + 3 * cell + 0.35, f"X[{i},{j}] · K = {X[i, j]:g} · K", size=7.5)
        canvas.text(x + 3 * cell + 0.35, top + 1.5 * cell, "+" if n < 3 else "=", size=13)
        x += 3 * cell + 0.75
    canvas.grid(x, top, Y.tolist(), cell, fill=lambda a, b: "#eeeeee", size=9)
    canvas.text(x + 1.5 * cell, top + 3 * cell + 0.35, f"output ({Y.shape[0]}×{Y.shape[1]})", size=8)
    canvas.text(0.3, top + 3 * cell + 1.2, "Output size (n − 1)·s − 2p + k = (2 − 1)·1 − 0 + 2 = 3. Stride 2 would "
                "place the copies 2 pixels apart; padding p crops p rows and columns per border.", size=8, ha="left")
    return canvas.svg()


def unet() -> bytes:
    model = models.unet()
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape)))
             for name, m in model.named_modules() if name.count(".") == 1 or name == "classifier"]
    with torch.no_grad():
        model.eval()(torch.zeros(1, model.in_channels, 64, 64))
    for hook in hooks:
        hook.remove()
    levels = len(model.widths)
    canvas = Canvas(17.0, 1.1 + 1.5 * levels)
    canvas.text(0.3, 0.45, f"U-Net ({levels} levels, widths {model.widths}) on a 1×64×64 scene", size=10,
                ha="left", weight="bold")
    left, right, w, h = 4.1, 11.6, 4.6, 0.8
    row = lambda level: 1.5 + 1.5 * level  # noqa: E731
    canvas.box(0.9, row(0), 1.2, h, "input\n1×64×64", "input", size=7.5)
    canvas.arrow([(1.5, row(0)), (left - w / 2, row(0))])
    for level in range(levels):
        y = row(level)
        canvas.box(left, y, w, h, f"2 × (conv 3×3 + BN + ReLU)\n{shape_text(shapes[f'encoder.{level}'])}", "conv",
                   size=7.5)
        if level < levels - 1:
            canvas.arrow([(left, y + h / 2), (left, row(level + 1) - h / 2)])
            canvas.text(left + 0.15, y + 0.75, "max-pool 2×2", size=7, ha="left", color="#38761d")
    for k in range(levels - 1):  # decoder stage k sits at level levels - 2 - k
        level = levels - 2 - k
        y, below = row(level), row(level + 1)
        up = shapes[f"up.{k}"]
        if k == 0:  # from the deepest encoder level
            canvas.arrow([(left + w / 2, below), (right, below), (right, y + h / 2)], color="#3d85c6")
        else:  # from the decoder stage below
            canvas.arrow([(right, below - h / 2), (right, y + h / 2)], color="#3d85c6")
        canvas.text(right + 0.15, (y + below) / 2 + 0.1, f"transposed conv 2×2, stride 2 → {shape_text(up)}", size=7,
                    ha="left", color="#3d85c6")
        canvas.box(right, y, w, h, f"concatenate: {up[1]} + {up[1]} channels\n2 × (conv 3×3 + BN + ReLU)\n"
                   f"{shape_text(shapes[f'decoder.{k}'])}", "conv", size=7.5)
        canvas.arrow([(left + w / 2, y), (right - w / 2, y)], color="#cc0000")
        canvas.text((left + right) / 2, y + 0.22, "skip (copy)", size=7, color="#cc0000")
    canvas.arrow([(right + w / 2, row(0)), (14.6, row(0))])
    canvas.box(15.4, row(0), 1.6, h, f"conv 1×1\n{shape_text(shapes['classifier'])}", "dense", size=7.5)
    return canvas.svg()


# ---------------------------------------------------------------- registry and entry point
#: Every diagram: file name in assets/ -> drawing function.
DIAGRAMS: dict[str, Callable[[], bytes]] = {
    "cross_correlation.svg": cross_correlation,
    "padding_stride_dilation.svg": padding_stride_dilation,
    "pooling.svg": pooling,
    "lenet.svg": lenet,
    "alexnet.svg": alexnet,
    "vgg.svg": vgg,
    "nin.svg": nin,
    "inception_block.svg": inception,
    "googlenet_stages.svg": googlenet_stages,
    "residual_blocks.svg": residual_blocks,
    "dense_block.svg": dense_block,
    "receptive_field.svg": receptive_field,
    "mbconv.svg": mbconv,
    "transfer_learning.svg": transfer_learning,
    "resnext_block.svg": resnext_block,
    "inverted_residual.svg": inverted_residual,
    "convnext_block.svg": convnext_block,
    "transposed_convolution.svg": transposed_convolution,
    "unet.svg": unet,
}


#: Where each diagram is shown: notebook, a heading line of the markdown cell it follows, alt text, caption.
PLACES: dict[str, tuple[str, str, str, str]] = {
    "cross_correlation.svg": ("01_convolution", "## Cross-correlation, not convolution",
                              "A 2×2 kernel sliding over a 3×3 input",
                              "The top-left window of the input times the kernel, summed, gives the top-left output."),
    "padding_stride_dilation.svg": ("02_padding_and_stride", "## Dilation",
                                    "Windows of a 3×3 kernel with padding, stride and dilation",
                                    "Padding adds a border of zeros; the stride is how far the window moves; "
                                    "dilation spreads the kernel's taps apart. Each panel gives the output size."),
    "pooling.svg": ("03_pooling", "## Max and average pooling by hand", "Max and average pooling of a 4×4 input",
                    "Each colour is one 2×2 window and the number it becomes."),
    "lenet.svg": ("04_lenet", "## The architecture", "LeNet-5 layer by layer",
                  "The classic LeNet of this chapter, with the output shape of every layer "
                  "(traced with `cnnlib.layer_shapes`)."),
    "alexnet.svg": ("05_alexnet", "## Building AlexNet step by step", "AlexNet layer by layer",
                    "AlexNet as in the 2012 paper (`alexnet(config=\"paper\")`), with the output shape of every "
                    "layer for one 224×224 colour image."),
    "vgg.svg": ("06_vgg", "## The VGG block, step by step", "A VGG block and VGG-11",
                "Left: a VGG block. Right: VGG-11's five blocks and dense layers, with output shapes."),
    "nin.svg": ("07_nin", "## The NiN block, step by step", "A NiN block and the whole NiN",
                "Left: a NiN block. Right: the chapter's NiN on a 224×224 Fashion-MNIST image."),
    "inception_block.svg": ("08_googlenet", "## The Inception block, step by step", "An Inception block",
                            "Four parallel branches, concatenated along the channels (block inception3a)."),
    "googlenet_stages.svg": ("08_googlenet", "## GoogLeNet, and which GoogLeNet", "GoogLeNet's stages",
                             "The stem and the three stages of Inception blocks, with output shapes."),
    "residual_blocks.svg": ("10_resnet", "## The residual block, step by step",
                            "Basic and bottleneck residual blocks",
                            "The basic block with an identity and with a projection shortcut, and the "
                            "bottleneck block of ResNet-50."),
    "dense_block.svg": ("11_densenet", "## The dense block, step by step", "A dense block and a transition layer",
                        "Each layer adds k channels to the concatenation; the transition halves channels and size."),
    "receptive_field.svg": ("12_architecture_analysis", "## 1. What does a unit see? The receptive field",
                            "Receptive fields of stacked layers",
                            "Each layer widens what one unit sees; a stride-2 pool doubles the growth of every "
                            "layer after it. The fields are measured with `cnnlib.receptive_field`."),
    "mbconv.svg": ("13_efficientnet", "## The MBConv block", "The MBConv block",
                   "Expansion, depthwise convolution and linear projection, with the residual."),
    "transfer_learning.svg": ("14_transfer_learning",
                              "## Approach 2: the pretrained network as a frozen feature extractor",
                              "A frozen backbone with a new head",
                              "Only the new 2-class layer learns; the pretrained EfficientNet-Lite0 stays fixed."),
    "resnext_block.svg": ("17_modern_cnns", "## 2. ResNeXt and wide ResNets from one config",
                          "ResNet, ResNeXt and wide ResNet bottleneck blocks",
                          "The same bottleneck block from `resnet(\"resnet50\")`, `resnet(\"resnext50_32x4d\")` "
                          "and `resnet(\"wide_resnet50_2\")`, with the channels and groups of each convolution."),
    "inverted_residual.svg": ("17_modern_cnns", "## 3. Squeeze-and-excitation and the inverted residual",
                              "The inverted residual block, without and with squeeze-and-excitation",
                              "MobileNetV2's block (chapter 13's MBConv) and the same block with a "
                              "squeeze-and-excitation gate after the depthwise convolution."),
    "convnext_block.svg": ("17_modern_cnns", "## 6. The ConvNeXt ladder at course scale",
                           "The ResNet-50 bottleneck beside the ConvNeXt block",
                           "Where the ladder starts and where it ends: the block of `resnet(\"resnet50\")` and "
                           "of `convnext(\"convnext_tiny\")`."),
    "transposed_convolution.svg": ("18_beyond_labels", "## 4. Transposed convolution",
                                   "A transposed convolution of a 2×2 input with a 2×2 kernel",
                                   "Each input pixel paints a copy of the kernel scaled by its value; the copies "
                                   "overlap and add up (computed with `cnnlib.ops.conv_transpose2d`)."),
    "unet.svg": ("18_beyond_labels", "## 9. A U-Net", "The U-Net of this chapter",
                 "Encoder levels (left), decoder levels (right) and the skip connections between them, with the "
                 "output shape of every stage of `cnnlib.models.unet()` for one 64×64 scene."),
}


def diagram_cell_source(name: str) -> str:
    """The markdown of a diagram's cell: the image by its path from notebooks/ and learner/ (JupyterLab,
    GitHub and the site resolve it; Colab does not), then the caption."""
    _, _, alt, caption = PLACES[name]
    return f"![{alt}](../assets/{name})\n\n*Figure: {caption}*"


def insert(names: Sequence[str], notebooks: Path = ROOT / "notebooks") -> list[str]:
    """Add each diagram's cell after the cell with its heading, unless the chapter already shows it."""
    changed = []
    for name in names:
        stem, heading, _, _ = PLACES[name]
        path = notebooks / f"{stem}.ipynb"
        nb = nbformat.read(path, as_version=4)
        if any(name in cell.source for cell in nb.cells if cell.cell_type == "markdown"):
            continue
        anchors = [i for i, cell in enumerate(nb.cells)
                   if cell.cell_type == "markdown" and heading in cell.source.splitlines()]
        if len(anchors) != 1:
            raise RuntimeError(f"{path.name}: expected one markdown cell starting with {heading!r} to place "
                               f"{name} after, found {len(anchors)}; update PLACES in tools/diagrams.py")
        cell = nbformat.v4.new_markdown_cell(diagram_cell_source(name))
        cell.id = "diagram-" + name.removesuffix(".svg").replace("_", "-")
        nb.cells.insert(anchors[0] + 1, cell)
        nbformat.write(nb, path)
        if path.name not in changed:
            changed.append(path.name)
    return changed


def draw(name: str) -> bytes:
    """The SVG bytes of one diagram, drawn with the fixed style."""
    if name not in DIAGRAMS:
        raise KeyError(f"no diagram {name!r}; known: {sorted(DIAGRAMS)}")
    torch.manual_seed(0)
    with matplotlib.rc_context(STYLE):
        return DIAGRAMS[name]()


def main(argv: list[str]) -> int:
    if argv[:1] == ["insert"]:
        changed = insert(argv[1:] or list(PLACES))
        print(f"diagram cells added to: {', '.join(changed) or 'none (every chapter shows its diagrams)'}")
        return 0
    check = "--check" in argv
    names = [a for a in argv if not a.startswith("--")] or list(DIAGRAMS)
    ASSETS.mkdir(exist_ok=True)
    stale = []
    for name in names:
        svg = draw(name)
        path = ASSETS / name
        if check:
            if not path.exists() or path.read_bytes() != svg:
                stale.append(name)
        else:
            path.write_bytes(svg)
            print(f"wrote {path.relative_to(ROOT)} ({len(svg):,} bytes)")
    if stale:
        print(f"out of date (run python tools/diagrams.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
