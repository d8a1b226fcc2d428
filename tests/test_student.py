"""Student and learner versions, and nbgrader metadata: derived from the markers, and kept current; a
learner's own edits in learner/ never fail the tests and are never overwritten."""

import subprocess
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
    # nbgrader's release metadata: ids to grade by, checksums (an untouched written answer scores 0), locks
    assert [c.metadata["nbgrader"]["grade_id"] for c in (code, top_level, answer, plain)] == [
        "exercise1-answer", "exercise1-answer2", "exercise1-written", "exercise1-check"]
    assert all(len(c.metadata["nbgrader"]["checksum"]) == 32 for c in (code, top_level, answer, plain))
    assert plain.metadata["editable"] is False and plain.metadata["deletable"] is False
    assert "nbgrader" not in title.metadata and "nbgrader" not in prompt.metadata
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
    nb = new_notebook(cells=[new_markdown_cell("### Exercise 1"), new_code_cell(source)])
    with pytest.raises(ValueError, match="SOLUTION"):
        nbtool.student_version(nb)


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

def held(path: Path, root: Path = ROOT) -> str:
    """The text git holds for ``path`` (its index: what is or will be committed); the file if git has none."""
    text = nbtool.staged_text(path, root)
    return path.read_text() if text is None else text


def learner_is_current(path: Path, root: Path = ROOT) -> None:
    """Assert that git holds, for chapter ``path``, the learner version of the source that git holds.

    What git holds, not the working copy: a learner types answers into learner/ and JupyterLab saves outputs
    there, which must not fail the tests. The index rather than HEAD: it is what the next commit will hold,
    so a contributor who stages a source without its regenerated learner version sees the failure before
    committing, and one who has synced but not staged yet is not failed halfway.
    """
    shipped = nbtool.learner_path(path)
    assert shipped.is_file(), f"{shipped.name} is missing; run python tools/nb.py sync"
    expected = nbtool.learner_version(nbformat.reads(held(path, root), as_version=4), path)
    assert nbformat.reads(held(shipped, root), as_version=4) == expected, \
        f"learner/{path.name} is stale; run python tools/nb.py sync {path.relative_to(root)} and git add both files"


@pytest.mark.parametrize("path", WITH_SOLUTIONS, ids=lambda p: p.name)
def test_learner_version_is_current(path):
    learner_is_current(path)
    shipped = nbtool.learner_path(path)
    text = held(shipped)
    assert nbtool.BEGIN_SOLUTION not in text and nbtool.BEGIN_HIDDEN not in text
    first = nbformat.reads(text, as_version=4).cells[0].source.splitlines()
    assert first[0] == nbtool.badge_line(shipped) and f"(../notebooks/{path.name})" in first[1]


def hidden_lines(nb: nbformat.NotebookNode) -> set[str]:
    """The lines of the hidden tests that appear nowhere else in the chapter (e.g. their seeds)."""
    hidden, visible = set(), set()
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith((nbtool.BEGIN_HIDDEN, nbtool.END_HIDDEN)):
                inside = stripped.startswith(nbtool.BEGIN_HIDDEN)
            elif stripped:
                (hidden if inside else visible).add(stripped)
    return hidden - visible


@pytest.mark.parametrize("path", WITH_SOLUTIONS, ids=lambda p: p.name)
def test_no_hidden_test_reaches_the_learner(path):
    secret = hidden_lines(nbformat.read(path, as_version=4))
    text = held(nbtool.learner_path(path))
    lines = {line.strip() for cell in nbformat.reads(text, as_version=4).cells for line in cell.source.splitlines()}
    assert "HIDDEN TESTS" not in text and not secret & lines, sorted(secret & lines)


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
    assert nbtool.CODE_STUB in learner.cells[3].source and learner.cells[3].metadata["nbgrader"]["checksum"]
    assert "tags" not in learner.cells[3].metadata
    assert learner.cells[-1].metadata["editable"] is False  # the self-check is read-only for the learner
    for folder in ("notebooks", "learner"):  # the Colab copies: badge to themselves, no relative link left
        first = nbformat.read(tmp_path / "colab" / folder / "05_x.ipynb", as_version=4).cells[0].source
        assert first.splitlines()[0].endswith(f"/blob/{nbtool.BRANCH}/colab/{folder}/05_x.ipynb)")
        assert "A copy for Google Colab" in first and "](../" not in first


def test_a_learners_edits_survive_the_tests_and_sync(tmp_path, monkeypatch):
    """In a git repository: a learner types an answer into learner/ and JupyterLab saves outputs. The
    staleness test still passes (it reads git's index), sync refuses to overwrite the file and says how to
    keep it, and only sync --force replaces it. A contributor who syncs twice without staging is not refused."""
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    chapter = tmp_path / "notebooks" / "05_x.ipynb"
    chapter.parent.mkdir()
    nbformat.write(synthetic_notebook(), chapter)
    monkeypatch.setattr(nbtool, "ROOT", tmp_path)
    monkeypatch.setattr(nbtool, "LEARNER_DIR", tmp_path / "learner")
    nbtool.main(["sync", str(chapter)])
    git("init", "-q")
    git("add", ".")
    shipped = tmp_path / "learner" / "05_x.ipynb"
    nb = nbformat.read(shipped, as_version=4)
    answer = next(c for c in nb.cells if nbtool.CODE_STUB in c.source)
    answer.source = answer.source.replace(nbtool.CODE_STUB, "return x + 1")
    answer.outputs, answer.execution_count = [new_output("stream", name="stdout", text="2\n")], 1
    nbformat.write(nb, shipped)
    edited = shipped.read_text()
    learner_is_current(chapter, tmp_path)  # the learner's edits do not fail the test
    with pytest.raises(SystemExit, match=r"learner/05_x.ipynb has edits .* sync --force notebooks/05_x.ipynb"):
        nbtool.main(["sync", str(chapter)])
    assert shipped.read_text() == edited
    nbtool.main(["sync", "--force", str(chapter)])
    assert shipped.read_text() == held(shipped, tmp_path)  # the exercise version again
    source = nbformat.read(chapter, as_version=4)  # a contributor edits the chapter and syncs twice
    prompt = next(c for c in source.cells if "Write f." in c.source)
    prompt.source += "\n\nA hint."
    nbformat.write(source, chapter)
    nbtool.main(["sync", str(chapter)])
    prompt.source += " Another hint."
    nbformat.write(source, chapter)
    nbtool.main(["sync", str(chapter)])
    assert "Another hint." in shipped.read_text()
    learner_is_current(chapter, tmp_path)  # what git holds is still a consistent pair
