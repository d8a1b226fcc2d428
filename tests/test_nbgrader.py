"""Real nbgrader, end to end, on three chapters: the release, then autograding of four submissions.

untouched release = 0 < one plausible mistake < the solution = all automatic points, and a submission that
calls the library inside a from-scratch exercise scores below full points. The chapters run in quick mode.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nb as nbtool  # noqa: E402

from nbgrader.api import Gradebook  # noqa: E402  (the instructor extra, also part of dev)

#: For each chapter: a solution to change, (what the wrong submission writes instead of what), and the body
#: of a from-scratch solution that calls the library.
SUBMISSIONS = {
    "01_convolution": {
        "wrong": ("exercise1-answer", "Y += K[a, b] * X", "Y += K[h - 1 - a, w - 1 - b] * X"),  # a flipped kernel
        "library": ("exercise1-answer", "return F.conv2d(X[None, None], K[None, None])[0, 0]"),
    },
    "03_pooling": {
        "wrong": ("exercise1-answer", "out_h = (X.shape[-2] - p_h) // s_h + 1", "out_h = (X.shape[-2] - p_h) // s_h"),
        "library": ("exercise1-answer", "pool = F.max_pool2d if mode == 'max' else F.avg_pool2d\n"
                    "flat = X.reshape(-1, 1, *X.shape[-2:])\n"
                    "Y = pool(flat, pool_size, stride if stride is not None else pool_size, padding)\n"
                    "return Y.reshape(*X.shape[:-2], *Y.shape[-2:])"),
    },
    "09_batch_norm": {  # the biased batch variance in the running estimate
        "wrong": ("exercise1-answer", "momentum * var.detach() * m / (m - 1)", "momentum * var.detach()"),
        "library": ("exercise1-answer", "new_mean, new_var = moving_mean.clone(), moving_var.clone()\n"
                    "Y = F.batch_norm(X, new_mean, new_var, gamma, beta, training, momentum, eps)\n"
                    "return Y, new_mean, new_var"),
    },
}


def cell_with_id(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def with_wrong_answer(nb, grade_id: str, old: str, new: str):
    nb = nbformat.from_dict(nb)
    cell = cell_with_id(nb, grade_id)
    assert old in cell.source, f"{grade_id}: {old!r} not in the solution"
    cell.source = cell.source.replace(old, new)
    return nb


def with_library_call(nb, grade_id: str, body: str):
    """Replace the solution region of ``grade_id`` by ``body``, at the region's indentation."""
    nb = nbformat.from_dict(nb)
    cell = cell_with_id(nb, grade_id)
    lines, inside = [], False
    for line in cell.source.splitlines():
        if line.strip() == nbtool.BEGIN_SOLUTION:
            inside, indent = True, line[:len(line) - len(line.lstrip())]
            lines += [indent + "import torch.nn.functional as F"] + [indent + b for b in body.splitlines()]
        elif line.strip() == nbtool.END_SOLUTION:
            inside = False
        elif not inside:
            lines.append(line)
    cell.source = "\n".join(lines)
    return nb


def nbgrader(course: Path, *args: str) -> None:
    """Run nbgrader's command line in ``course``; it calls alembic, so the environment's bin goes on PATH."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"],
                            cwd=course, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def grade_chapter(course: Path, name: str) -> dict[str, tuple[float, float]]:
    """In its own course directory: release one chapter, submit four versions, autograde them;
    return {student: (automatic score, automatic maximum)}."""
    (course / "source" / name).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'cnn-course'\n"
        "c.Execute.timeout = 600\n")
    shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", course / "source" / name)
    nbgrader(course, "generate_assignment", name, "--create", "--force")
    edits = SUBMISSIONS[name]
    solution = nbformat.read(course / "source" / name / f"{name}.ipynb", as_version=4)
    release = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
    submissions = {"untouched": release, "wrong": with_wrong_answer(solution, *edits["wrong"]),
                   "library": with_library_call(solution, *edits["library"]), "solution": solution}
    for student, nb in submissions.items():
        folder = course / "submitted" / student / name
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{name}.ipynb")
    nbgrader(course, "autograde", name, "--create", "--force")
    nbgrader(course, "generate_feedback", name, "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {student: (gb.find_submission_notebook(name, name, student).code_score,
                          gb.find_submission_notebook(name, name, student).max_code_score) for student in submissions}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    """Grade the chapters side by side (one course directory each, so no gradebook is shared)."""
    from concurrent.futures import ThreadPoolExecutor

    os.environ.setdefault("CNNLIB_QUICK", "1")
    root = tmp_path_factory.mktemp("courses")
    with ThreadPoolExecutor(max_workers=min(len(SUBMISSIONS), os.cpu_count() or 1)) as pool:
        futures = {name: pool.submit(grade_chapter, root / name, name) for name in SUBMISSIONS}
        scores = {name: future.result() for name, future in futures.items()}
    print("nbgrader scores (automatic points):", scores)
    return {"scores": scores, "root": root}


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_release_hides_solutions_and_hidden_tests(name, graded):
    release = (graded["root"] / name / "release" / name / f"{name}.ipynb").read_text()
    assert nbtool.BEGIN_SOLUTION not in release and nbtool.BEGIN_HIDDEN not in release
    assert "cnnlib.checks" in release  # the visible self-checks stay


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_scores_order_untouched_wrong_solution(name, graded):
    scores = graded["scores"][name]
    untouched, wrong, solution = (scores[s][0] for s in ("untouched", "wrong", "solution"))
    full = scores["solution"][1]
    assert full >= 3, f"{name}: only {full} automatic points"
    assert untouched == 0 < wrong < solution == full, scores


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_calling_the_library_in_a_from_scratch_exercise_loses_points(name, graded):
    score, full = graded["scores"][name]["library"]
    assert score < full, graded["scores"][name]


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_feedback_shows_the_check_messages(name, graded):
    untouched = (graded["root"] / name / "feedback" / "untouched" / name / f"{name}.html").read_text()
    assert "not implemented yet" in untouched
    library = (graded["root"] / name / "feedback" / "library" / name / f"{name}.html").read_text()
    assert "this exercise asks you to write it without" in library
