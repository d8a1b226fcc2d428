"""Every notebook carries the Colab badge and setup cell, is committed clean, and uses current APIs."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nb as nbtool  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_the_course_has_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert "00_getting_started.ipynb" in names and "04_lenet.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_badge_and_setup_cell(path):
    first, second = cells(path)[:2]
    assert first["cell_type"] == "markdown"
    assert source(first).splitlines()[0] == nbtool.badge_line(path), "run: python tools/nb.py header"
    assert second["cell_type"] == "code" and source(second) == nbtool.SETUP_SOURCE


def test_setup_cell_installs_only_on_colab():
    setup = nbtool.SETUP_SOURCE
    assert 'if "google.colab" in sys.modules:' in setup
    assert "torch" not in setup.split("if")[-1]  # never reinstalls torch
    assert setup.count(nbtool.REPO_URL) == 1 and nbtool.REPO_URL.startswith("https://github.com/")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_unchecked_outputs(path):
    for cell in cells(path):
        if cell["cell_type"] == "code" and cell["outputs"]:
            assert "NBVAL_CHECK_OUTPUT" in source(cell), f"unchecked output in: {source(cell)[:60]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_current_apis_and_quick_mode(path):
    text = "\n".join(source(c) for c in cells(path))
    assert not re.search(r"pretrained\s*=\s*True", text), "use weights=..., not pretrained=True"
    assert "cnnlib.QUICK" in text, "every notebook shows what quick mode changes"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_readme_lists_every_chapter_with_its_badge(path):
    readme = (ROOT / "README.md").read_text()
    assert f"(notebooks/{path.name})" in readme and nbtool.badge_line(path) in readme
