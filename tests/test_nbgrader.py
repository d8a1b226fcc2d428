"""Real nbgrader, end to end, on three chapters, with the course's config (instructor/nbgrader_config.py).

The notebook a learner gets (learner/) is nbgrader's release, and copies of it are what is handed in:
untouched = 0 < one plausible mistake < the solution = all automatic points; a from-scratch exercise that
calls the library (in Python, or below it through torch.ops.aten) scores below full points. The feedback
shows the checks' messages, never the hidden tests, and renders math without the web. Quick mode, one
thread per kernel (OMP_NUM_THREADS=1: several kernels share the CPU cores).
"""

import html
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nb as nbtool  # noqa: E402
from test_student import held, hidden_lines  # noqa: E402

from nbgrader.api import Gradebook  # noqa: E402  (the instructor extra, also part of dev)

#: For each chapter, edits of the learner's cell filled with the solution: a plausible mistake (what it
#: writes instead of what), and the body of a from-scratch solution that calls the library in Python and one
#: that calls it below Python, at the dispatcher.
SUBMISSIONS = {
    "01_convolution": {
        "wrong": ("exercise1-answer", "Y += K[a, b] * X", "Y += K[h - 1 - a, w - 1 - b] * X"),  # a flipped kernel
        "library": ("exercise1-answer", "import torch.nn.functional as F\n"
                    "return F.conv2d(X[None, None], K[None, None])[0, 0]"),
        "aten": ("exercise1-answer", "return torch.ops.aten.convolution(X[None, None], K[None, None], None, [1, 1], "
                 "[0, 0], [1, 1], False, [0, 0], 1)[0, 0]"),
    },
    "03_pooling": {
        "wrong": ("exercise1-answer", "out_h = (X.shape[-2] - p_h) // s_h + 1", "out_h = (X.shape[-2] - p_h) // s_h"),
        "library": ("exercise1-answer", "import torch.nn.functional as F\n"
                    "pool = F.max_pool2d if mode == 'max' else F.avg_pool2d\n"
                    "flat = X.reshape(-1, 1, *X.shape[-2:])\n"
                    "Y = pool(flat, pool_size, stride if stride is not None else pool_size, padding)\n"
                    "return Y.reshape(*X.shape[:-2], *Y.shape[-2:])"),
        "aten": ("exercise1-answer", "pool = torch.ops.aten.max_pool2d if mode == 'max' else torch.ops.aten.avg_pool2d\n"
                 "flat = X.reshape(-1, 1, *X.shape[-2:])\n"
                 "Y = pool(flat, pool_size, stride if stride is not None else pool_size, padding)\n"
                 "return Y.reshape(*X.shape[:-2], *Y.shape[-2:])"),
    },
    "09_batch_norm": {  # the biased batch variance in the running estimate
        "wrong": ("exercise1-answer", "momentum * var.detach() * m / (m - 1)", "momentum * var.detach()"),
        "library": ("exercise1-answer", "import torch.nn.functional as F\n"
                    "new_mean, new_var = moving_mean.clone(), moving_var.clone()\n"
                    "Y = F.batch_norm(X, new_mean, new_var, gamma, beta, training, momentum, eps)\n"
                    "return Y, new_mean, new_var"),
        "aten": ("exercise1-answer", "new_mean, new_var = moving_mean.clone(), moving_var.clone()\n"
                 "Y = torch.native_batch_norm(X, gamma.reshape(-1), beta.reshape(-1), new_mean, new_var, training, "
                 "momentum, eps)[0]\n"
                 "return Y, new_mean, new_var"),
    },
}
STUDENTS = ("untouched", "wrong", "library", "aten", "solution")
#: Chapters graded side by side (one course directory each, as many at once as there are cores, the longest
#: first) rather than one after another: 527 s instead of 836 s for this module on the 2-core CPU (shared,
#: load average about 6), torch 2.14.1, 2026-12-07; 235 s side by side at a load average about 2.5.
PARALLEL = True


def cell_with_id(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def with_solutions(learner, source):
    """The learner's notebook with every solution cell written as the source has it (found by grade_id)."""
    nb = nbformat.from_dict(learner)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = cell_with_id(source, meta["grade_id"]).source
    return nb


def with_wrong_answer(nb, grade_id: str, old: str, new: str):
    nb = nbformat.from_dict(nb)
    cell = cell_with_id(nb, grade_id)
    assert old in cell.source, f"{grade_id}: {old!r} not in the solution"
    cell.source = cell.source.replace(old, new)
    return nb


def with_body(nb, grade_id: str, body: str):
    """Replace the solution region of ``grade_id`` by ``body``, at the region's indentation."""
    nb = nbformat.from_dict(nb)
    cell = cell_with_id(nb, grade_id)
    lines, inside = [], False
    for line in cell.source.splitlines():
        if line.strip() == nbtool.BEGIN_SOLUTION:
            inside, indent = True, line[:len(line) - len(line.lstrip())]
            lines += [indent + b for b in body.splitlines()]
        elif line.strip() == nbtool.END_SOLUTION:
            inside = False
        elif not inside:
            lines.append(line)
    cell.source = "\n".join(lines)
    return nb


def nbgrader(course: Path, *args: str) -> float:
    """Run nbgrader's command line in ``course`` as the README does; return its wall time in seconds.
    nbgrader calls alembic, so the environment's bin goes on PATH; one thread per kernel."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               OMP_NUM_THREADS="1", CNNLIB_QUICK="1")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"],
                            cwd=course, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return time.perf_counter() - start


def grade_chapter(course: Path, name: str) -> dict:
    """In its own course directory (made by tools/nb.py course): release the chapter, hand in five copies of
    the learner's notebook, autograde, write feedback; return the scores and the autograde time."""
    nbtool.course(course, [])
    (course / "source" / name).mkdir(parents=True)
    source_text = held(ROOT / "notebooks" / f"{name}.ipynb")  # what git holds, as for the learner version
    (course / "source" / name / f"{name}.ipynb").write_text(source_text)
    nbgrader(course, "generate_assignment", name, "--force")
    source = nbformat.reads(source_text, as_version=4)
    learner = nbformat.reads(held(nbtool.learner_path(ROOT / "notebooks" / f"{name}.ipynb")), as_version=4)
    solved, edits = with_solutions(learner, source), SUBMISSIONS[name]
    submissions = {"untouched": learner, "wrong": with_wrong_answer(solved, *edits["wrong"]),
                   "library": with_body(solved, *edits["library"]), "aten": with_body(solved, *edits["aten"]),
                   "solution": solved}
    for student, nb in submissions.items():
        folder = course / "submitted" / student / name
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{name}.ipynb")
    seconds = nbgrader(course, "autograde", name, "--create", "--force")
    nbgrader(course, "generate_feedback", name, "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebooks = {student: gb.find_submission_notebook(name, name, student) for student in submissions}
        scores = {s: (nb.code_score, nb.max_code_score, nb.needs_manual_grade) for s, nb in notebooks.items()}
    return {"scores": scores, "autograde_s": seconds, "learner": learner, "source": source}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    """Grade the three chapters, each in its own course directory (no shared gradebook)."""
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("courses")
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(len(SUBMISSIONS), os.cpu_count() or 1) if PARALLEL else 1) as pool:
        futures = {name: pool.submit(grade_chapter, root / name, name) for name in reversed(SUBMISSIONS)}
        results = {name: futures[name].result() for name in SUBMISSIONS}
    print(f"\nnbgrader, {'parallel' if PARALLEL else 'sequential'}, total {time.perf_counter() - start:.0f} s")
    for name, result in results.items():
        print(f"{name}: autograde of {len(STUDENTS)} submissions {result['autograde_s']:.0f} s; {result['scores']}")
    return {"results": results, "root": root}


def feedback(graded, name: str, student: str) -> tuple[str, str]:
    """The feedback HTML of one submission, and its visible text (tags removed, entities decoded)."""
    page = (graded["root"] / name / "feedback" / student / name / f"{name}.html").read_text()
    return page, html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_the_learner_version_is_the_release(name, graded):
    """Same cells, ids, nbgrader metadata (checksums included) and sources; only the header cell differs."""
    release = nbformat.read(graded["root"] / name / "release" / name / f"{name}.ipynb", as_version=4)
    learner = graded["results"][name]["learner"]
    assert [c.id for c in learner.cells] == [c.id for c in release.cells]
    assert [c.metadata for c in learner.cells] == [c.metadata for c in release.cells]
    assert [c.source for c in learner.cells[1:]] == [c.source for c in release.cells[1:]]
    assert learner.cells[0].source.splitlines()[0] == nbtool.badge_line(nbtool.learner_path(Path(name + ".ipynb")))
    text = nbformat.writes(release)
    assert nbtool.BEGIN_SOLUTION not in text and "HIDDEN TESTS" not in text
    lines = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    assert not hidden_lines(graded["results"][name]["source"]) & lines
    assert "cnnlib.checks" in text  # the visible self-checks stay


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_scores_order_untouched_wrong_solution(name, graded):
    scores = graded["results"][name]["scores"]
    untouched, wrong, solution = (scores[s][0] for s in ("untouched", "wrong", "solution"))
    full = scores["solution"][1]
    assert full >= 3, f"{name}: only {full} automatic points"
    assert untouched == 0 < wrong < solution == full, scores


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_an_untouched_learner_notebook_is_scored_not_left_for_manual_grading(name, graded):
    """Its written answers (checksums unchanged) score 0 automatically; nothing waits for a grader."""
    assert graded["results"][name]["scores"]["untouched"][2] is False, graded["results"][name]["scores"]


@pytest.mark.parametrize("student", ["library", "aten"])
@pytest.mark.parametrize("name", SUBMISSIONS)
def test_calling_the_library_in_a_from_scratch_exercise_loses_points(name, student, graded):
    score, full, _ = graded["results"][name]["scores"][student]
    assert score < full, graded["results"][name]["scores"]


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_feedback_shows_the_check_messages_and_hides_the_hidden_tests(name, graded):
    secret = hidden_lines(graded["results"][name]["source"])
    autograded = (graded["root"] / name / "autograded" / "wrong" / name / f"{name}.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" in autograded  # the hidden tests ran ...
    for student in STUDENTS:
        page, text = feedback(graded, name, student)
        assert "HIDDEN TESTS" not in text and not {line for line in secret if line in text}, student  # ... unseen
    assert "not implemented yet" in feedback(graded, name, "untouched")[1]
    assert "is wrong on case" in feedback(graded, name, "wrong")[1]
    for student in ("library", "aten"):
        assert "this exercise asks you to write it without" in feedback(graded, name, student)[1]


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_feedback_renders_math_offline(name, graded):
    page, _ = feedback(graded, name, "solution")
    assert not re.search(r"""src=["']https?://[^"']*mathjax""", page, re.IGNORECASE)
    assert "window.MathJax" in page and "MathJax.Hub.Config" not in page
