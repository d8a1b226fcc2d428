"""Student and learner versions, and nbgrader metadata: derived from the markers, and kept current."""

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nb as nbtool  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WITH_SOLUTIONS = [p for p in NOTEBOOKS if nbtool.has_solutions(nbformat.read(p, as_version=4))]
SELF_CHECK = nbtool.SELF_CHECK


def synthetic_notebook() -> nbformat.NotebookNode:
    prompt = new_markdown_cell("### Exercise 1: f\n\nWrite f.")
    code = new_code_cell("def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n"
                         "    ### END SOLUTION\n\n\nprint(f(1))", execution_count=3,
                         outputs=[new_output("stream", name="stdout", text="2\n")])
    top_level = new_code_cell("a = 1\n### BEGIN SOLUTION\nb = a * 2\n### END SOLUTION\nc = 3\n### BEGIN SOLUTION\n"
                              "d = 4\n### END SOLUTION")
    answer = new_markdown_cell("**Your answer:**\n\n### BEGIN SOLUTION\nBecause of *this*.\n### END SOLUTION\n")
    plain = new_code_cell("# Self-check\nassert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(2) == 3\n### END HIDDEN TESTS",
                          execution_count=4, outputs=[new_output("stream", name="stdout", text="ok\n")])
    return new_notebook(cells=[new_markdown_cell("# Title"), prompt, code, top_level, answer, plain])


def test_student_version_replaces_regions_and_keeps_the_rest(tmp_path):
    original = synthetic_notebook()
    student = nbtool.student_version(original)
    title, prompt, code, top_level, answer, plain = student.cells
    assert code.source == ('def f(x):\n    """Doc."""\n    raise NotImplementedError("Exercise: write your solution '
                           'here")\n\n\nprint(f(1))')
    assert top_level.source == f"a = 1\n{nbtool.TOP_LEVEL_STUB}\nc = 3\n{nbtool.TOP_LEVEL_STUB}"
    assert answer.source == "**Your answer:**\n\nYOUR ANSWER HERE\n"
    assert title.source == "# Title" and plain.source == "# Self-check\nassert f(1) == 2"  # hidden tests removed
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")
    assert original.cells[2].outputs and "y = x + 1" in original.cells[2].source  # the original is untouched
    compile(code.source, "cell", "exec")  # still valid Python


def test_student_command_writes_files_and_leaves_notebooks_without_markers_unchanged(tmp_path):
    with_markers, without = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    nbformat.write(synthetic_notebook(), with_markers)
    plain = new_notebook(cells=[new_markdown_cell("# B"), new_code_cell("x = 1", execution_count=1, outputs=[
        new_output("stream", name="stdout", text="1\n")])])
    nbformat.write(plain, without)
    nbtool.main(["student", str(tmp_path / "out"), str(with_markers), str(without)])
    out_a = nbformat.read(tmp_path / "out" / "a.ipynb", as_version=4)
    out_b = nbformat.read(tmp_path / "out" / "b.ipynb", as_version=4)
    assert not nbtool.has_solutions(out_a) and nbtool.CODE_STUB in out_a.cells[2].source
    assert [c.source for c in out_b.cells] == [c.source for c in plain.cells]
    assert out_b.cells[1].outputs == []


def test_student_refuses_to_overwrite_the_original(tmp_path):
    path = tmp_path / "a.ipynb"
    nbformat.write(synthetic_notebook(), path)
    with pytest.raises(ValueError, match="overwrite"):
        nbtool.student(path, tmp_path)
    assert nbtool.has_solutions(nbformat.read(path, as_version=4))


@pytest.mark.parametrize("source", ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                                    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"])
def test_unbalanced_markers_raise(source):
    with pytest.raises(ValueError, match="SOLUTION"):
        nbtool.remove_solutions(source, nbtool.CODE_STUB)


def test_course_notebooks_have_exercises_with_solutions():
    assert len(WITH_SOLUTIONS) >= 3


@pytest.mark.parametrize("path", WITH_SOLUTIONS, ids=lambda p: p.name)
def test_every_self_check_fails_in_the_student_version(path, tmp_path, monkeypatch):
    """Execute the student version once in quick mode; every self-check cell must fail, and the first
    error must come from a removed solution or a self-check (not from a broken notebook)."""
    from nbclient import NotebookClient

    original = nbformat.read(path, as_version=4)
    student = nbtool.student_version(original)
    checks = [i for i, c in enumerate(student.cells) if c.cell_type == "code" and c.source.startswith(SELF_CHECK)]
    assert checks, f"{path.name} has solutions but no '{SELF_CHECK}' cell"
    monkeypatch.setenv("CNNLIB_QUICK", "1")
    NotebookClient(student, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()

    def error(cell):
        return next((o for o in cell.get("outputs", []) if o.output_type == "error"), None)

    failing = [i for i, c in enumerate(student.cells) if c.cell_type == "code" and error(c)]
    assert failing, "nothing failed in the student version"
    first = student.cells[failing[0]]
    assert nbtool.CODE_STUB in first.source or failing[0] in checks, \
        f"the first error is not from an exercise: {error(first).ename} in {first.source[:80]!r}"
    for i in checks:
        err = error(student.cells[i])
        assert err is not None, f"this self-check passes without a solution: {student.cells[i].source[:120]!r}"
        assert err.ename == "AssertionError" and "not implemented yet" in err.evalue, \
            f"a stub must fail its self-check with 'not implemented yet', got {err.ename}: {err.evalue}"


# -- nbgrader metadata -----------------------------------------------------------------------------------

def test_grading_metadata_follows_the_markers():
    nb = synthetic_notebook()
    nb.cells.insert(5, new_code_cell("helper = 42"))
    meta = nbtool.grading_metadata(nb)
    title, prompt, code, top_level, answer, given, check = meta
    assert title is None and prompt is None
    assert code == {"grade": False, "grade_id": "exercise1-answer", "locked": False, "schema_version": 3,
                    "solution": True, "task": False}
    assert top_level["grade_id"] == "exercise1-answer2" and top_level["solution"]
    assert answer["solution"] and answer["grade"] and answer["points"] == 1 and not answer["locked"]
    assert given["locked"] and not given["grade"] and not given["solution"] and given["grade_id"] == "exercise1-given"
    assert check["locked"] and check["grade"] and check["points"] == 1 and not check["solution"]


def test_a_new_section_ends_the_exercises():
    nb = synthetic_notebook()
    nb.cells.append(new_markdown_cell("## References\n\n- a paper"))
    nb.cells.append(new_code_cell("print('not an exercise')"))
    assert nbtool.grading_metadata(nb)[-2:] == [None, None]


@pytest.mark.parametrize("cells", [
    [new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")],  # no exercise heading
    [new_markdown_cell("### Exercise 1"), new_code_cell("# Self-check\n### BEGIN SOLUTION\n### END SOLUTION")],
], ids=["outside an exercise", "solution inside a self-check"])
def test_misplaced_markers_raise(cells):
    with pytest.raises(ValueError, match="cell"):
        nbtool.grading_metadata(new_notebook(cells=cells))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_grading_metadata_is_current(path):
    nb = nbformat.read(path, as_version=4)
    for index, (cell, meta) in enumerate(zip(nb.cells, nbtool.grading_metadata(nb))):
        assert cell.metadata.get("nbgrader") == meta, f"cell {index}: stale nbgrader metadata; run python tools/nb.py sync"


@pytest.mark.parametrize("path", WITH_SOLUTIONS, ids=lambda p: p.name)
def test_every_graded_function_has_a_hidden_test(path):
    """An exercise that asks for a function or class is also graded on inputs the learner has not seen."""
    nb = nbformat.read(path, as_version=4)
    roles = nbtool.exercise_roles(nb)
    asks_for_code = {r[0] for c, r in zip(nb.cells, roles)
                     if r and r[1] == "answer" and c.source.lstrip().startswith(("def ", "class "))}
    hidden = {r[0] for c, r in zip(nb.cells, roles) if r and r[1] == "check" and nbtool.BEGIN_HIDDEN in c.source}
    assert asks_for_code <= hidden, f"no hidden test for {sorted(asks_for_code - hidden)}"


@pytest.mark.parametrize("path", WITH_SOLUTIONS, ids=lambda p: p.name)
def test_every_self_check_speaks_through_cnnlib_checks(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(SELF_CHECK):
            assert "cnnlib.checks." in cell.source and "assert " not in cell.source, cell.source[:120]


# -- learner versions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", WITH_SOLUTIONS, ids=lambda p: p.name)
def test_learner_version_is_current(path):
    shipped = nbtool.learner_path(path)
    assert shipped.is_file(), f"{shipped.name} is missing; run python tools/nb.py sync"
    expected = nbtool.learner_version(nbformat.read(path, as_version=4), path)
    assert nbformat.read(shipped, as_version=4) == expected, f"learner/{path.name} is stale; run python tools/nb.py sync"
    text = shipped.read_text()
    assert nbtool.BEGIN_SOLUTION not in text and nbtool.BEGIN_HIDDEN not in text
    first = expected.cells[0].source.splitlines()
    assert first[0] == nbtool.badge_line(shipped) and f"(../notebooks/{path.name})" in first[1]


def test_no_learner_version_without_a_chapter():
    names = {p.name for p in WITH_SOLUTIONS}
    assert {p.name for p in nbtool.LEARNER_DIR.glob("*.ipynb")} == names


def test_sync_regenerates_everything(tmp_path, monkeypatch):
    chapter = tmp_path / "notebooks" / "05_x.ipynb"
    chapter.parent.mkdir()
    nb = synthetic_notebook()
    nb.cells[0].source = "# Title"
    nb.cells[2].source = "# NBVAL_CHECK_OUTPUT\n" + nb.cells[2].source
    nbformat.write(nb, chapter)
    monkeypatch.setattr(nbtool, "ROOT", tmp_path)
    monkeypatch.setattr(nbtool, "LEARNER_DIR", tmp_path / "learner")
    nbtool.main(["sync", str(chapter)])
    synced = nbformat.read(chapter, as_version=4)
    assert synced.cells[0].source.startswith(nbtool.badge_line(chapter)) and "../learner/05_x.ipynb" in synced.cells[0].source
    assert "tags" not in synced.cells[3].metadata and synced.cells[3].source.startswith("# NBVAL")
    assert synced.cells[3].metadata["nbgrader"]["grade_id"] == "exercise1-answer"
    learner = nbformat.read(tmp_path / "learner" / "05_x.ipynb", as_version=4)
    assert nbtool.CODE_STUB in learner.cells[3].source and "nbgrader" not in learner.cells[3].metadata
    assert "NBVAL" not in learner.cells[3].source and "tags" not in learner.cells[3].metadata
    assert learner.cells[-1].metadata["editable"] is False  # the self-check is read-only for the learner
