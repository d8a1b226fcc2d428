"""The diagrams in assets/ are what tools/diagrams.py draws, byte for byte, and every chapter shows its own."""

import re
import sys
from pathlib import Path

import matplotlib
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import diagrams  # noqa: E402

ASSETS = ROOT / "assets"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)")


def asset_references() -> dict[str, set[str]]:
    """Asset file name -> notebooks whose markdown shows it (by its ../assets/ path)."""
    found: dict[str, set[str]] = {}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "markdown":
                continue
            for target in IMAGE.findall(cell.source):
                if target.startswith("../assets/"):
                    found.setdefault(target.removeprefix("../assets/"), set()).add(path.name)
    return found


@pytest.mark.parametrize("name", sorted(diagrams.DIAGRAMS))
def test_diagram_is_regenerated_identically(name):
    committed = ASSETS / name
    assert committed.exists(), f"assets/{name} is missing: run python tools/diagrams.py"
    assert diagrams.draw(name) == committed.read_bytes(), (
        f"assets/{name} differs from a fresh drawing (a changed model or drawing, or a matplotlib other than "
        f"{matplotlib.__version__}): run python tools/diagrams.py and review the diagram")


def test_drawing_is_deterministic_and_dateless():
    first, second = diagrams.draw("pooling.svg"), diagrams.draw("pooling.svg")
    assert first == second
    assert b"<dc:date>" not in first


def test_every_asset_is_drawn_by_the_script():
    assert sorted(p.name for p in ASSETS.iterdir()) == sorted(diagrams.DIAGRAMS)


def test_every_referenced_asset_exists_and_every_asset_is_shown():
    references = asset_references()
    missing = sorted(set(references) - {p.name for p in ASSETS.iterdir()})
    assert not missing, f"notebooks show assets that do not exist: {missing}"
    unused = sorted(set(diagrams.DIAGRAMS) - set(references))
    assert not unused, f"assets no notebook shows: {unused} (python tools/diagrams.py insert)"


def test_each_diagram_is_shown_in_its_chapter_with_a_caption():
    references = asset_references()
    for name, (stem, _, _, _) in diagrams.PLACES.items():
        assert f"{stem}.ipynb" in references.get(name, set()), f"{name} is not shown in {stem}"
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown" and IMAGE.search(cell.source) and "../assets/" in cell.source:
                assert "*Figure:" in cell.source, f"{path.name}: a diagram without a caption"


def test_places_and_diagrams_agree():
    assert set(diagrams.PLACES) == set(diagrams.DIAGRAMS)


def test_diagram_cells_show_the_image_by_its_relative_path():
    # ../assets/ resolves from notebooks/ and learner/ in JupyterLab (offline too), on GitHub and on the site
    assert "](../assets/lenet.svg)" in diagrams.diagram_cell_source("lenet.svg")


def test_diagram_shapes_come_from_the_code():
    svg = diagrams.draw("lenet.svg").decode()
    for shape in ("6×28×28", "6×14×14", "16×10×10", "16×5×5", "400"):
        assert shape in svg  # the classic LeNet of chapter 4, traced with layer_shapes


def test_unknown_diagram_is_named():
    with pytest.raises(KeyError, match="no diagram 'nope.svg'"):
        diagrams.draw("nope.svg")


def test_lenet_cell_must_exist(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "04_lenet.ipynb")
    with pytest.raises(RuntimeError, match="defining lenet_classic, found 0"):
        diagrams.lenet_from_notebook(tmp_path / "04_lenet.ipynb")


def test_insert_is_idempotent_and_names_a_missing_heading(tmp_path):
    stem, heading, _, _ = diagrams.PLACES["lenet.svg"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"{heading}\n\nText."),
                                         nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / f"{stem}.ipynb")
    assert diagrams.insert(["lenet.svg"], tmp_path) == [f"{stem}.ipynb"]
    assert diagrams.insert(["lenet.svg"], tmp_path) == []
    cells = nbformat.read(tmp_path / f"{stem}.ipynb", as_version=4).cells
    assert [c.cell_type for c in cells] == ["markdown", "markdown", "code"]
    assert cells[1].source == diagrams.diagram_cell_source("lenet.svg")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Other")]),
                   tmp_path / f"{stem}.ipynb")
    with pytest.raises(RuntimeError, match="expected one markdown cell"):
        diagrams.insert(["lenet.svg"], tmp_path)
