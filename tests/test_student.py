"""Student versions: solutions removed at the markers, and then every exercise's self-check fails."""

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
SELF_CHECK = "# Self-check"
#: How a self-check may fail once the solution is gone: the stub itself, a check that catches the wrong
#: answer, or a name the solution would have defined.
FAILURES = {"NotImplementedError", "AssertionError", "NameError"}


def synthetic_notebook() -> nbformat.NotebookNode:
    code = new_code_cell("def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n"
                         "    ### END SOLUTION\n\n\nprint(f(1))", execution_count=3,
                         outputs=[new_output("stream", name="stdout", text="2\n")])
    top_level = new_code_cell("a = 1\n### BEGIN SOLUTION\nb = a * 2\n### END SOLUTION\nc = 3\n### BEGIN SOLUTION\n"
                              "d = 4\n### END SOLUTION")
    answer = new_markdown_cell("**Your answer:**\n\n### BEGIN SOLUTION\nBecause of *this*.\n### END SOLUTION\n")
    plain = new_code_cell("# Self-check\nassert f(1) == 2", execution_count=4,
                          outputs=[new_output("stream", name="stdout", text="ok\n")])
    return new_notebook(cells=[new_markdown_cell("# Title"), code, top_level, answer, plain])


def test_student_version_replaces_regions_and_keeps_the_rest(tmp_path):
    original = synthetic_notebook()
    student = nbtool.student_version(original)
    title, code, top_level, answer, plain = student.cells
    assert code.source == ('def f(x):\n    """Doc."""\n    raise NotImplementedError("Exercise: write your solution '
                           'here")\n\n\nprint(f(1))')
    assert top_level.source == f"a = 1\n{nbtool.CODE_STUB}\nc = 3\n{nbtool.CODE_STUB}"
    assert answer.source == "**Your answer:**\n\nYOUR ANSWER HERE\n"
    assert title.source == "# Title" and plain.source == "# Self-check\nassert f(1) == 2"
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")
    assert original.cells[1].outputs and "y = x + 1" in original.cells[1].source  # the original is untouched
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
    assert not nbtool.has_solutions(out_a) and nbtool.CODE_STUB in out_a.cells[1].source
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
        assert err.ename in FAILURES, f"self-check failed with {err.ename}: {err.evalue}"
