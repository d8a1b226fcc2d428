"""Maintain the course notebooks.

    python tools/nb.py header [NOTEBOOK ...]   write the Colab badge and setup cell from cnnlib/_course.py
    python tools/nb.py run [NOTEBOOK ...]      execute in quick mode, keep only outputs that nbval checks
    python tools/nb.py strip [NOTEBOOK ...]    drop every output except those of NBVAL_CHECK_OUTPUT cells
    python tools/nb.py student OUTDIR [NOTEBOOK ...]
                                               write student versions: solutions removed, outputs cleared

Without NOTEBOOK arguments each command works on every notebook in notebooks/.
Solutions sit between "### BEGIN SOLUTION" and "### END SOLUTION" lines (nbgrader's markers). In the
student version a code solution becomes `raise NotImplementedError(...)` at the marker's indentation, a
markdown one becomes "YOUR ANSWER HERE".
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnlib._course import REPO_URL, colab_url  # noqa: E402

CHECK = "NBVAL_CHECK_OUTPUT"
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = 'raise NotImplementedError("Exercise: write your solution here")'
MARKDOWN_STUB = "YOUR ANSWER HERE"
SETUP_MARK = "# Colab setup"
BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"

SETUP_SOURCE = f'''{SETUP_MARK}: on Google Colab, install cnnlib from the course repository (Colab's own
# PyTorch is kept: pip only adds what is missing). Anywhere else this cell does nothing.
import subprocess, sys
REPO_URL = "{REPO_URL}"
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{{REPO_URL}}"], check=True)'''


def notebooks(args: list[str]) -> list[Path]:
    paths = [Path(a) for a in args] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    return [p.resolve() for p in paths]


def badge_line(path: Path) -> str:
    return BADGE.format(url=colab_url(path.resolve().relative_to(ROOT).as_posix()))


def header(path: Path) -> None:
    """Make cell 0 start with the badge and cell 1 the setup cell."""
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    lines = [line for line in first.source.splitlines() if "colab-badge.svg" not in line]
    first.source = "\n".join([badge_line(path), *lines]).strip() + "\n"
    if len(nb.cells) > 1 and nb.cells[1].cell_type == "code" and nb.cells[1].source.startswith(SETUP_MARK):
        nb.cells[1].source = SETUP_SOURCE
    else:
        nb.cells.insert(1, nbformat.v4.new_code_cell(SETUP_SOURCE))
    nbformat.write(nb, path)


def strip(path: Path) -> None:
    """Keep outputs only where nbval compares them; drop execution counts and noisy metadata."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        if CHECK not in cell.source:  # nbval needs the execution count of the cells it compares
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


def remove_solutions(source: str, stub: str) -> str:
    """Replace each BEGIN/END SOLUTION region (markers included) by ``stub`` at the BEGIN line's indentation."""
    lines, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker.startswith(BEGIN_SOLUTION):
            if inside:
                raise ValueError(f"line {number}: {BEGIN_SOLUTION} inside another solution")
            inside = True
            lines.append(line[:len(line) - len(line.lstrip())] + stub)
        elif marker.startswith(END_SOLUTION):
            if not inside:
                raise ValueError(f"line {number}: {END_SOLUTION} without {BEGIN_SOLUTION}")
            inside = False
        elif not inside:
            lines.append(line)
    if inside:
        raise ValueError(f"{BEGIN_SOLUTION} without {END_SOLUTION}")
    return "\n".join(lines) + ("\n" if source.endswith("\n") else "")


def has_solutions(nb: nbformat.NotebookNode) -> bool:
    return any(BEGIN_SOLUTION in cell.source for cell in nb.cells)


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every solution removed and every output cleared."""
    nb = nbformat.from_dict(nb)  # a deep copy
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if BEGIN_SOLUTION in cell.source:
            cell.source = remove_solutions(cell.source, CODE_STUB if cell.cell_type == "code" else MARKDOWN_STUB)
    return nb


def student(path: Path, outdir: Path) -> Path:
    """Write the student version of the notebook at ``path`` into ``outdir``; return its path."""
    outdir.mkdir(parents=True, exist_ok=True)
    target = outdir / path.name
    if target.resolve() == path.resolve():
        raise ValueError(f"the student version would overwrite {path}: choose another OUTDIR")
    nbformat.write(student_version(nbformat.read(path, as_version=4)), target)
    return target


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("header", "run", "strip", "student"):
        sys.exit(__doc__)
    if argv[0] == "student":
        if len(argv) < 2:
            sys.exit("usage: python tools/nb.py student OUTDIR [NOTEBOOK ...]")
        outdir = Path(argv[1])
        for path in notebooks(argv[2:]):
            print(f"student: {path.name} -> {student(path, outdir)}")
        return
    command = {"header": header, "run": run, "strip": strip}[argv[0]]
    for path in notebooks(argv[1:]):
        command(path)
        print(f"{argv[0]}: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
