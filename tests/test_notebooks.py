"""Every notebook carries the Colab badge and setup cell, is committed clean, and uses current APIs."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nb as nbtool  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def committed_cells(path: Path, root: Path = ROOT) -> list[dict]:
    """The cells git holds for ``path``: its staged version (the index), i.e. what is or will be committed.

    The index, not the working copy: outputs that JupyterLab autosaves while someone works through a chapter
    do not count, while outputs staged for a commit do (HEAD would miss those until after the commit). A
    notebook git does not know yet (or a copy outside git) is read from the file itself.
    """
    text = nbtool.staged_text(path, root)
    return cells(path) if text is None else json.loads(text)["cells"]


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


def checked(cell: dict) -> bool:
    return cell["cell_type"] == "code" and source(cell).lstrip().startswith(f"# {nbtool.CHECK}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_unchecked_outputs(path):
    for cell in committed_cells(path):
        if cell["cell_type"] == "code" and cell["outputs"]:
            assert checked(cell), f"unchecked output in: {source(cell)[:60]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_cells_carry_the_comment_not_the_tag(path):
    """A reader sees which outputs are checked (the comment); one marker, since nbval warns about two. A checked
    cell keeps its committed output (a cell that lost its marker would have lost its output in tools/nb.py run)."""
    for cell in cells(path):
        tags = cell["metadata"].get("tags", [])
        assert nbtool.CHECK_TAG not in tags, f"run python tools/nb.py sync: {source(cell)[:60]!r}"
        if checked(cell):
            assert cell["outputs"], f"a checked cell without committed output: {source(cell)[:60]!r}"
    assert any(checked(c) for c in cells(path)), "every chapter checks some deterministic output"


def test_check_tags_become_comments():
    from nbformat.v4 import new_code_cell, new_notebook
    nb = new_notebook(cells=[new_code_cell("# NBVAL_CHECK_OUTPUT\n\nprint(1)"), new_code_cell("print(2)"),
                             new_code_cell("print(3)", metadata={"tags": [nbtool.CHECK_TAG]}),
                             new_code_cell("print(4)", metadata={"tags": [nbtool.CHECK_TAG, "other"]})])
    nbtool.mark_checked_cells(nb)
    assert nb.cells[0].source == "# NBVAL_CHECK_OUTPUT\n\nprint(1)" and "tags" not in nb.cells[0].metadata
    assert nb.cells[1].source == "print(2)" and "tags" not in nb.cells[1].metadata
    assert nb.cells[2].source == "# NBVAL_CHECK_OUTPUT\nprint(3)" and "tags" not in nb.cells[2].metadata
    assert nb.cells[3].source == "# NBVAL_CHECK_OUTPUT\nprint(4)" and nb.cells[3].metadata["tags"] == ["other"]


def test_outputs_saved_in_the_working_copy_do_not_count_until_staged(tmp_path):
    """A learner who runs a chapter in JupyterLab (which autosaves outputs) must not break the tests."""
    import nbformat

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    path = tmp_path / "chapter.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nbformat.write(notebook, path)
    git("add", "chapter.ipynb")
    notebook.cells[0].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nbformat.write(notebook, path)  # what JupyterLab's autosave does
    assert committed_cells(path, tmp_path)[0]["outputs"] == [] and cells(path)[0]["outputs"]
    git("add", "chapter.ipynb")  # staging the outputs is what the check must catch
    assert committed_cells(path, tmp_path)[0]["outputs"]
    untracked = tmp_path / "new.ipynb"
    nbformat.write(notebook, untracked)
    assert committed_cells(untracked, tmp_path)[0]["outputs"]  # not in git yet: the file is checked


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_current_apis_and_quick_mode(path):
    text = "\n".join(source(c) for c in cells(path))
    assert not re.search(r"pretrained\s*=\s*True", text), "use weights=..., not pretrained=True"
    assert "cnnlib.QUICK" in text or "cnnlib.SETTING" in text, "every notebook shows what quick mode changes"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_readme_opens_the_learner_version_with_the_solutions_one_click_away(path):
    readme = (ROOT / "README.md").read_text()
    learner = nbtool.learner_path(path)
    assert f"(learner/{path.name})" in readme and nbtool.badge_line(learner) in readme
    assert f"[solutions](notebooks/{path.name})" in readme and nbtool.badge_line(path) not in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_cpu_setting_is_explained_and_listed(path):
    """A chapter whose settings cell has a "cpu" entry says in its text what that setting changes and what it
    measured, and the README's paragraph on the CPU setting names the chapter."""
    code = "\n".join(source(c) for c in cells(path) if c["cell_type"] == "code")
    if '"cpu":' not in code:
        return
    assert "cnnlib.SETTING" in code, "the settings cell reads cnnlib.SETTING"
    text = "\n".join(source(c) for c in cells(path) if c["cell_type"] == "markdown")
    assert "**The CPU setting**" in text and "Measured" in text, f"{path.name} explains its CPU setting"
    paragraph = (ROOT / "README.md").read_text().split("**The CPU setting.**", 1)[1].split("\n\n", 1)[0]
    assert path.name[:2] in paragraph, f"README's CPU-setting paragraph names chapter {path.name[:2]}"
