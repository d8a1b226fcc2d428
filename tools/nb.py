"""Maintain the course notebooks.

    python tools/nb.py sync [--force] [NOTEBOOK ...]
                                               after any edit or merge: header, nbval tags, nbgrader metadata,
                                               learner versions, Colab copies (one command regenerates
                                               everything derived);
                                               a learner version with edits of its own (answers, outputs) is
                                               left alone unless --force
    python tools/nb.py header [NOTEBOOK ...]   write the Colab badge and setup cell from cnnlib/_course.py
    python tools/nb.py run [NOTEBOOK ...]      execute in quick mode, keep only outputs that nbval checks
    python tools/nb.py strip [NOTEBOOK ...]    drop every output except those of checked cells
    python tools/nb.py grading [NOTEBOOK ...]  write the nbgrader metadata of the exercise cells
    python tools/nb.py student OUTDIR [NOTEBOOK ...]
                                               write student versions: solutions removed, outputs cleared
    python tools/nb.py course COURSEDIR [NOTEBOOK ...]
                                               an nbgrader course directory: source/NAME/NAME.ipynb for each
                                               chapter and an nbgrader_config.py that loads instructor/'s

Without NOTEBOOK arguments each command works on every notebook in notebooks/.
Checked cells start with a "# NBVAL_CHECK_OUTPUT" line; sync turns an "nbval-check-output" tag into that line.
Learner versions drop it (their outputs are cleared).
Exercises live under a markdown heading "### Exercise ..." (or "## Exercise: ..."). Solutions sit between
"### BEGIN SOLUTION" and "### END SOLUTION" lines (nbgrader's markers), self-checks are code cells that
start with "# Self-check" and may end with a "### BEGIN HIDDEN TESTS" ... "### END HIDDEN TESTS" region.
Every other code cell of an exercise is a given helper: nbgrader locks it. In the student version a code
solution inside a function becomes `raise NotImplementedError(...)`, a top-level one a "# YOUR CODE HERE"
comment (the cell names the answer variables above it, `x = None`), a markdown one "YOUR ANSWER HERE";
hidden tests are removed. The student version is made by nbgrader's own preprocessors (instructor/grading.py),
as `nbgrader generate_assignment` makes its release: the learner versions in learner/ are the student versions
of the chapters, nbgrader metadata and checksums included, so a learner's notebook handed in autogrades.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnlib._course import BRANCH, COLAB_LINK, REPO_URL, colab_link, colab_url, file_url  # noqa: E402,F401
from instructor import CHECK, CODE_STUB, MARKDOWN_STUB, TOP_LEVEL_STUB  # noqa: E402,F401  (no nbgrader import)

CHECK_TAG = "nbval-check-output"
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SELF_CHECK = "# Self-check"
SETUP_MARK = "# Colab setup"
LEARNER_DIR = ROOT / "learner"
# A Markdown link or image whose target is a relative path (not an address, not an anchor on the page).
RELATIVE_LINK = re.compile(r"(!?)\[([^\]]*)\]\((?![a-z][a-z0-9+.-]*:|#)([^)\s]+)\)", re.I)
COLAB_LINE = ("*A copy for Google Colab, made by `tools/nb.py sync` from {source}: Colab opens one notebook "
              "without the rest of the repository, so its diagrams and links point to the published files.*")
GENERATED = "learner_version_sha256"  # notebook metadata: the fingerprint of the learner version as sync wrote it
VERSION_MARK = "<!-- course-version -->"
# The mark ends the line: a line that starts with "<!--" is raw HTML to Markdown, and its link would not render.
SOLUTIONS_LINE = ("*This is the version with solutions, for instructors and for checking your work. "
                  "Learners start from the [exercise version](../learner/{name}).*" + VERSION_MARK)
LEARNER_LINE = ("*Exercise version: the exercises are blank for you to write. The solutions are "
                "in [notebooks/{name}](../notebooks/{name}).*" + VERSION_MARK)
EXERCISE_HEADING = re.compile(r"^(#{2,4})\s+Exercise\b\s*(\d+)?", re.MULTILINE)
HEADING = re.compile(r"^(#{1,4})\s+\S", re.MULTILINE)
POINTS = 1  # per self-check and per written answer

SETUP_SOURCE = f'''{SETUP_MARK}: on Google Colab, install cnnlib from the course repository (Colab's own
# PyTorch is kept: pip only adds what is missing). Anywhere else this cell does nothing.
import subprocess, sys
REPO_URL = "{REPO_URL}"
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{{REPO_URL}}"], check=True)'''


def notebooks(args: list[str]) -> list[Path]:
    paths = [Path(a) for a in args] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    return [p.resolve() for p in paths]


def colab_path(path: Path) -> Path:
    """The Colab copy of notebooks/NAME or learner/NAME: colab/notebooks/NAME or colab/learner/NAME."""
    return ROOT / "colab" / path.resolve().relative_to(ROOT)


def badge_line(path: Path) -> str:
    """The Open-in-Colab badge of a chapter (or of its learner version): it opens the Colab copy."""
    return colab_link(colab_path(path).relative_to(ROOT).as_posix())


def rel(path: Path) -> Path:
    """``path`` relative to the repository where it lies inside it (for messages)."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def learner_path(path: Path) -> Path:
    return LEARNER_DIR / path.name


# ----------------------------------------------------------------------------------------------------------
# Header, nbval tags, outputs
# ----------------------------------------------------------------------------------------------------------

def set_header(nb: nbformat.NotebookNode, path: Path, version_line: str | None = None) -> None:
    """Cell 0 starts with the badge of ``path`` (and ``version_line``); cell 1 is the setup cell."""
    first = nb.cells[0]
    lines = [line for line in first.source.splitlines() if not COLAB_LINK.fullmatch(line) and VERSION_MARK not in line]
    first.source = "\n".join([badge_line(path), *([version_line] if version_line else []), *lines]).strip() + "\n"
    if len(nb.cells) > 1 and nb.cells[1].cell_type == "code" and nb.cells[1].source.startswith(SETUP_MARK):
        nb.cells[1].source = SETUP_SOURCE
    else:
        nb.cells.insert(1, nbformat.v4.new_code_cell(SETUP_SOURCE))


def header(path: Path) -> None:
    """Make cell 0 start with the badge (and, in a chapter with exercises, a link to its learner version)."""
    nb = nbformat.read(path, as_version=4)
    set_header(nb, path, SOLUTIONS_LINE.format(name=path.name) if has_solutions(nb) else None)
    nbformat.write(nb, path)


def is_checked(cell: nbformat.NotebookNode) -> bool:
    """A checked cell starts with ``# NBVAL_CHECK_OUTPUT``: nbval compares its output, and the reader sees so."""
    return cell.cell_type == "code" and cell.source.lstrip().startswith(f"# {CHECK}")


def without_check_comment(cell: nbformat.NotebookNode) -> str:
    """The cell's code as the lesson has it, without a first-line check comment."""
    if not is_checked(cell):
        return cell.source
    return cell.source.lstrip().split("\n", 1)[1] if "\n" in cell.source.strip() else ""


def drop_check_tag(cell: nbformat.NotebookNode) -> None:
    tags = cell.metadata.get("tags", [])
    if CHECK_TAG in tags:
        tags.remove(CHECK_TAG)
        if not tags:
            del cell.metadata["tags"]


def mark_checked_cells(nb: nbformat.NotebookNode) -> None:
    """One marker per checked cell, the comment: a cell tagged ``nbval-check-output`` gets the comment instead
    (nbval warns when a cell has both)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", []):
            if not is_checked(cell):
                cell.source = f"# {CHECK}\n{cell.source}"
            drop_check_tag(cell)


def tags(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    mark_checked_cells(nb)
    nbformat.write(nb, path)


def strip(path: Path) -> None:
    """Keep outputs only where nbval compares them; drop execution counts and noisy metadata."""
    nb = nbformat.read(path, as_version=4)
    mark_checked_cells(nb)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        if not is_checked(cell):  # nbval needs the execution count of the cells it compares
            cell.outputs = []
            cell.execution_count = None
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    nbformat.write(nb, path)


def run(path: Path, timeout: int = 1800) -> None:
    """Execute a notebook top to bottom in quick mode, then strip it."""
    from nbclient import NotebookClient

    os.environ.setdefault("CNNLIB_QUICK", "1")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    strip(path)


# ----------------------------------------------------------------------------------------------------------
# Exercises: which cell is what, and nbgrader's metadata for it
# ----------------------------------------------------------------------------------------------------------

def exercise_roles(nb: nbformat.NotebookNode) -> list[tuple[str, str] | None]:
    """For every cell, ``(exercise label, role)`` or None outside the exercises.

    Roles: "answer" (code solution), "written" (markdown solution), "check" (self-check), "given" (any
    other code cell of an exercise), "prompt" (its markdown). Raises ValueError for a misplaced marker.
    """
    roles: list[tuple[str, str] | None] = []
    label = None
    for index, cell in enumerate(nb.cells):
        source = cell.source
        if cell.cell_type == "markdown":
            headings = HEADING.findall(source)
            exercise = [m for m in EXERCISE_HEADING.finditer(source) if not m.group(0).startswith("## Exercises")]
            if exercise:
                number = exercise[-1].group(2)
                label = f"exercise{number}" if number else "exercise"
            elif any(len(h) <= 2 for h in headings) and "## Exercises" not in source:
                label = None  # a new section (Summary, References, ...) ends the exercises
        solution = BEGIN_SOLUTION in source
        check = cell.cell_type == "code" and without_check_comment(cell).startswith(SELF_CHECK)
        if label is None:
            if solution or check:
                raise ValueError(f"cell {index}: a solution or self-check outside an '### Exercise' section")
            roles.append(None)
            continue
        if solution and check:
            raise ValueError(f"cell {index}: a self-check cell must not hold a solution; split the cell")
        if cell.cell_type == "markdown":
            roles.append((label, "written" if solution else "prompt"))
        else:
            roles.append((label, "answer" if solution else "check" if check else "given"))
    return roles


def grading_metadata(nb: nbformat.NotebookNode) -> list[dict | None]:
    """nbgrader's cell metadata (schema 3) for every cell, derived from the markers; None: no metadata."""
    metadata, seen = [], {}
    for role in exercise_roles(nb):
        if role is None or role[1] == "prompt":
            metadata.append(None)
            continue
        label, kind = role
        key = f"{label}-{kind}"
        seen[key] = seen.get(key, 0) + 1
        grade_id = key if seen[key] == 1 else f"{key}{seen[key]}"
        meta = {"grade": kind in ("written", "check"), "grade_id": grade_id, "locked": kind in ("check", "given"),
                "schema_version": 3, "solution": kind in ("answer", "written"), "task": False}
        if meta["grade"]:
            meta["points"] = POINTS
        metadata.append(meta)
    return metadata


def apply_grading(nb: nbformat.NotebookNode) -> None:
    for cell, meta in zip(nb.cells, grading_metadata(nb)):
        if meta is None:
            cell.metadata.pop("nbgrader", None)
        else:
            cell.metadata["nbgrader"] = meta


def grading(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    apply_grading(nb)
    nbformat.write(nb, path)


# ----------------------------------------------------------------------------------------------------------
# Student and learner versions
# ----------------------------------------------------------------------------------------------------------

def has_solutions(nb: nbformat.NotebookNode) -> bool:
    return any(BEGIN_SOLUTION in cell.source for cell in nb.cells)


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` as nbgrader releases it: solutions and hidden tests removed, outputs cleared, given and
    check cells read-only, nbgrader metadata with checksums (derived from the markers first)."""
    from instructor.grading import student_version as nbgrader_student_version  # imports nbgrader (seconds)

    nb = nbformat.from_dict(nb)  # a deep copy
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    apply_grading(nb)
    return nbgrader_student_version(nb)


def student(path: Path, outdir: Path) -> Path:
    """Write the student version of the notebook at ``path`` into ``outdir``; return its path."""
    outdir.mkdir(parents=True, exist_ok=True)
    target = outdir / path.name
    if target.resolve() == path.resolve():
        raise ValueError(f"the student version would overwrite {path}: choose another OUTDIR")
    nbformat.write(student_version(nbformat.read(path, as_version=4)), target)
    return target


def fingerprint(nb: nbformat.NotebookNode) -> str:
    """A hash of what a learner changes: each cell's type, source, outputs and execution count."""
    cells = [[c.cell_type, c.source, c.get("outputs", []), c.get("execution_count")] for c in nb.cells]
    return hashlib.sha256(json.dumps(cells, sort_keys=True).encode()).hexdigest()


def learner_version(nb: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """The student version as shipped in learner/: its own badge and a link to the solutions, and the
    fingerprint that lets sync tell it from a learner's edited copy. Every other cell is as nbgrader releases it."""
    version = student_version(nb)
    set_header(version, learner_path(path), LEARNER_LINE.format(name=path.name))
    version.metadata[GENERATED] = fingerprint(version)
    return version


def learner_edits(target: Path) -> bool:
    """Whether learner/NAME holds work that sync did not write: answers, new cells, saved outputs.

    A file without a fingerprint (written before sync kept one) counts as edited once it has outputs."""
    nb = nbformat.read(target, as_version=4)
    if GENERATED in nb.metadata:
        return nb.metadata[GENERATED] != fingerprint(nb)
    return any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code")


class LearnerEdits(Exception):
    """sync would overwrite a learner's work."""


def learner(path: Path, force: bool = False) -> Path | None:
    """Write learner/NAME for a chapter with exercises; return its path (None: the chapter has none).
    Raises LearnerEdits, and writes nothing, where learner/NAME holds a learner's work (unless ``force``)."""
    nb = nbformat.read(path, as_version=4)
    if not has_solutions(nb):
        return None
    target = learner_path(path)
    version = learner_version(nb, path)
    if target.is_file() and not force and nbformat.read(target, as_version=4) != version and learner_edits(target):
        shown = rel(target)
        raise LearnerEdits(
            f"{shown} has edits that tools/nb.py did not write (answers or saved outputs), so sync leaves it "
            f"alone. To keep them, copy the file elsewhere first (cp {shown} ~/my_{target.name}), or commit "
            f"them; to replace it by the current exercise version, run: python tools/nb.py sync --force {rel(path)}")
    LEARNER_DIR.mkdir(exist_ok=True)
    nbformat.write(version, target)
    return target


def colab_version(nb: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """The copy of ``nb`` (notebooks/NAME or learner/NAME as git holds it) that Colab opens: relative links
    and images become published addresses derived from REPO_URL (images the raw files, notebooks their Colab
    copies, anything else its GitHub page); cell 0 says what the copy is. Code is unchanged."""
    version = nbformat.from_dict(json.loads(json.dumps(nb)))
    folder = path.resolve().parent

    def published(match: re.Match) -> str:
        image, text, target = match.groups()
        address, _, anchor = target.partition("#")
        try:
            where = (folder / address).resolve().relative_to(ROOT.resolve()).as_posix()
        except ValueError:  # outside the repository: leave it as it is
            return match.group(0)
        if image:
            url = file_url(where, raw=True)
        elif where.endswith(".ipynb") and where.startswith(("notebooks/", "learner/")):
            url = colab_url(f"colab/{where}")
        else:
            url = file_url(where)
        return f"{image}[{text}]({url}{'#' + anchor if anchor else ''})"

    for cell in version.cells:
        if cell.cell_type == "markdown":
            cell.source = RELATIVE_LINK.sub(published, cell.source)
    lines = version.cells[0].source.splitlines()
    source = path.resolve().relative_to(ROOT).as_posix()
    version.cells[0].source = "\n".join([lines[0], COLAB_LINE.format(source=source), *lines[1:]]) + "\n"
    version.metadata.pop(GENERATED, None)
    return version


def colab(path: Path, nb: nbformat.NotebookNode | None = None) -> Path:
    """Write the Colab copy of ``path`` (of ``nb`` if given, e.g. a learner version not yet on disk)."""
    target = colab_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(colab_version(nb if nb is not None else nbformat.read(path, as_version=4), path), target)
    return target


def sync(path: Path, force: bool = False) -> None:
    """Regenerate everything derived from a chapter: header, tags, nbgrader metadata, learner version, and
    the Colab copies of both."""
    header(path)
    tags(path)
    grading(path)
    colab(path)
    if has_solutions(nbformat.read(path, as_version=4)):
        try:
            learner(path, force)
        finally:  # the copy is made from the exercise version sync would write, whatever learner/ holds
            colab(learner_path(path), learner_version(nbformat.read(path, as_version=4), path))


def staged_text(path: Path, root: Path = ROOT) -> str | None:
    """The text git holds for ``path`` in its index (what is or will be committed); None if git has none."""
    try:
        shown = subprocess.run(["git", "show", f":{path.resolve().relative_to(root.resolve()).as_posix()}"],
                               cwd=root, capture_output=True, text=True, check=True)
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None
    return shown.stdout


def course(outdir: Path, paths: list[Path]) -> None:
    """An nbgrader course directory: each chapter as source/NAME/NAME.ipynb, and a config that loads ours."""
    config = ROOT / "instructor" / "nbgrader_config.py"
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "nbgrader_config.py").write_text(f"c = get_config()  # noqa: F821\nload_subconfig(r\"{config}\")  # noqa: F821\n")
    for path in paths:
        if not has_solutions(nbformat.read(path, as_version=4)):
            print(f"course: {path.name} skipped (no exercises)")
            continue
        (outdir / "source" / path.stem).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, outdir / "source" / path.stem / path.name)
        print(f"course: {path.name} -> {outdir / 'source' / path.stem}")


def main(argv: list[str]) -> None:
    commands = {"header": header, "run": run, "strip": strip, "grading": grading, "sync": sync}
    if not argv or argv[0] not in (*commands, "student", "course"):
        sys.exit(__doc__)
    if argv[0] in ("student", "course"):
        if len(argv) < 2:
            sys.exit(f"usage: python tools/nb.py {argv[0]} OUTDIR [NOTEBOOK ...]")
        outdir = Path(argv[1])
        if argv[0] == "course":
            return course(outdir, notebooks(argv[2:]))
        for path in notebooks(argv[2:]):
            print(f"student: {path.name} -> {student(path, outdir)}")
        return
    force = "--force" in argv[1:]
    if force and argv[0] != "sync":
        sys.exit("--force only applies to sync")
    refused = []
    for path in notebooks([a for a in argv[1:] if a != "--force"]):
        try:
            commands[argv[0]](path, force) if argv[0] == "sync" else commands[argv[0]](path)
        except LearnerEdits as error:
            refused.append(str(error))
            continue
        print(f"{argv[0]}: {path.relative_to(ROOT)}")
    if refused:
        sys.exit("\n".join(refused))


if __name__ == "__main__":
    main(sys.argv[1:])
