"""Build the course website: README as the landing page, every chapter notebook, docs/, the diagrams.

    python tools/website.py                  build into build/site/html (open build/site/html/index.html)
    python tools/website.py --record 04      run the chapters whose file name contains "04" in quick mode and
                                             keep their outputs in website/runs/ (--record all: every chapter;
                                             --setting cpu or full: the CPU setting or the whole lesson)
    python tools/website.py --only 04        only the chapters whose file name contains "04" (while writing)

The sources are staged in build/site/src: links to a chapter (learner/NN_x.ipynb or notebooks/NN_x.ipynb) go
to its page on the site, links to other files that are not pages go to the repository on GitHub, diagrams
(``../assets/x.svg``) are copied along. Each chapter gets an "Open in Colab" link and a note that says which
run produced the outputs shown and how the page shows the exercises.

Figures come from recorded runs: the notebooks are committed without most outputs (only those nbval checks),
and building the site must not train anything, so ``--record`` executes a chapter once and stores its
outputs, cell by cell, with the run's mode, hardware, torch version and date, in website/runs/NN_x.json. The
build puts each recorded output back into the cell that produced it, if that cell's source is unchanged
since the run; a changed cell shows its committed outputs, and the page says how many cells that is.

Hidden tests never reach the site: they grade a learner's answers, so a reader must not see them (the
self-checks stay, without their hidden part). Solutions are folded, not removed: a reader who only has the
site can still check an answer, and one who wants to try first sees the exercise and a closed "Show the
solution" toggle (code solutions: the cell's source folded with myst-nb's ``hide-input``; written answers:
an HTML ``<details>``).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnlib._course import BRANCH, COLAB_LINK, REPO_URL, colab_url  # noqa: E402

BUILD = ROOT / "build" / "site"
RUNS = ROOT / "website" / "runs"
IMAGES = ("image/png", "image/jpeg", "image/svg+xml")
# widget views need a live kernel: a recorded run keeps their text form only
WIDGET = "application/vnd.jupyter.widget-view+json"
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
EXTERNAL = ("http://", "https://", "mailto:", "#")
# nbgrader's markers, as tools/nb.py writes the chapters (kept here: the site build needs no nbgrader)
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
REPO_FILE = f"{REPO_URL}/blob/{BRANCH}/"
CHAPTER = re.compile(r"^(?:learner|notebooks)/([0-9][0-9]_[^/]+\.ipynb)$")
SOLUTION_PROMPTS = {"code_prompt_show": "Show the solution", "code_prompt_hide": "Hide the solution"}
ANSWER_OPEN = '<details class="solution">\n<summary>Show the solution</summary>\n'
ANSWER_CLOSE = "\n</details>"
SOLUTIONS_NOTE = ("Each exercise's solution is folded under \"Show the solution\" so that you can try the "
                  "exercise first; the self-checks are shown without the hidden tests that grade an answer.")


def pages(only: str | None = None) -> list[str]:
    """Repository paths of every page besides the landing page: the chapters, then docs/*.md.

    With ``only``, just the chapters whose file name contains it (and no docs)."""
    chapters = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    docs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
    if only is None:
        return chapters + docs
    chosen = [c for c in chapters if only in Path(c).name]
    if not chosen:
        raise ValueError(f"no chapter file name contains {only!r}")
    return chosen


def relative(target: str, start: str) -> str:
    """``target`` (a repository path) as seen from the folder of the repository file ``start``."""
    return os.path.relpath(target, PurePosixPath(start).parent.as_posix() or ".").replace(os.sep, "/")


def rewrite_links(text: str, source: str, staged: set[str]) -> str:
    """Keep links to staged pages and assets, send links to a chapter (either version) to its page, and
    point every other repository link to GitHub (so does a chapter's link to its own exercise version)."""
    def fix(match: re.Match) -> str:
        bang, label, target = match.groups()
        absolute = target.startswith(REPO_FILE)  # a repository file by its GitHub address
        if target.startswith(EXTERNAL) and not absolute:
            return match.group(0)
        path, _, anchor = target.removeprefix(REPO_FILE).partition("#")
        anchor = "#" + anchor if anchor else ""
        resolved = path if absolute else os.path.normpath(
            os.path.join(PurePosixPath(source).parent.as_posix(), path)).replace(os.sep, "/")
        if resolved == "README.md":
            return f"{bang}[{label}]({relative('index.md', source)}{anchor})"
        chapter = CHAPTER.match(resolved)
        page = f"notebooks/{chapter.group(1)}" if chapter else resolved
        if page in staged and (page != source or resolved == source):  # not: a chapter to its exercise file
            return f"{bang}[{label}]({relative(page, source)}{anchor})"
        if absolute or resolved.startswith("assets/"):
            return match.group(0)
        kind = "tree" if (ROOT / resolved).is_dir() else "blob"
        return f"{bang}[{label}]({REPO_URL}/{kind}/{BRANCH}/{resolved}{anchor})"

    return LINK.sub(fix, text)


def regions(source: str, begin: str, end: str, opening: str | None, closing: str | None, keep: bool) -> str:
    """``source`` with each ``begin``/``end`` marker line replaced by ``opening``/``closing`` (None: dropped)
    and the lines between kept or dropped."""
    lines, inside = [], False
    for line in source.splitlines():
        marker = line.strip()
        if marker.startswith(begin):
            inside, text = True, opening
        elif marker.startswith(end):
            inside, text = False, closing
        else:
            text = line if keep or not inside else None
        if text is not None:
            lines.append(text)
    return "\n".join(lines)


def lines_only_in(path: Path, begin: str, end: str, code_only: bool = False) -> set[str]:
    """The stripped lines (12 characters or more) that the notebook at ``path`` has only inside its
    ``begin``/``end`` regions: what the site must never show (hidden tests) or show only folded (solutions)."""
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code" or not code_only]
    whole = {line.strip() for c in cells for line in c.source.splitlines()}
    outside = {line.strip() for c in cells for line in regions(c.source, begin, end, None, None, False).splitlines()}
    return {line for line in whole - outside
            if len(line) >= 12 and re.search(r"\w", line) and not line.startswith((begin, end))}


def site_cell(cell: nbformat.NotebookNode) -> bool:
    """Make one chapter cell fit for the site, in place: hidden tests removed, a solution folded (code: the
    cell's source behind a toggle; markdown: the answer in a <details>). True if it held a solution."""
    if BEGIN_HIDDEN in cell.source:
        cell.source = regions(cell.source, BEGIN_HIDDEN, END_HIDDEN, None, None, keep=False).rstrip("\n")
    if BEGIN_SOLUTION not in cell.source:
        return False
    if cell.cell_type == "markdown":
        cell.source = regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, ANSWER_OPEN, ANSWER_CLOSE, keep=True)
    else:
        cell.source = regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, None, None, keep=True)
        cell.metadata.setdefault("tags", []).append("hide-input")
        cell.metadata["mystnb"] = dict(SOLUTION_PROMPTS)
    return True


def cell_key(source: str) -> str:
    """A short hash of a cell's source: a recorded output is shown only under the source that produced it."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def hardware() -> str:
    """The machine in words: CPU cores and model, the threads a kernel started now would use, and the GPU if
    torch sees one."""
    import torch

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    threads = int(os.environ.get("OMP_NUM_THREADS") or torch.get_num_threads())
    text = f"{os.cpu_count()} CPU cores ({model}), {threads} thread{'s' if threads != 1 else ''}"
    if torch.cuda.is_available():
        text += f" and an {torch.cuda.get_device_name(0)} GPU"
    return text


def record(page: str, setting: str = "quick", timeout: int = 3600) -> Path:
    """Run one chapter top to bottom in a setting ("quick", "cpu" or "full", see ``cnnlib.SETTING``) and store
    its outputs in website/runs/NN_x.json, keyed by cell id, with the source hash, setting, hardware, torch
    and date."""
    from nbclient import NotebookClient
    import torch

    nb = nbformat.read(ROOT / page, as_version=4)
    env_before = dict(os.environ)
    os.environ["CNNLIB_QUICK"] = "1" if setting == "quick" else "0"
    os.environ["CNNLIB_SETTING"] = setting
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend must draw the figures into the outputs
    started = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str((ROOT / page).parent)}}).execute()
    except Exception:
        failed = ROOT / "build" / "failed_runs" / Path(page).name  # keep what ran, to see where and why
        failed.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, failed)
        print(f"{page} failed; the cells that ran, with their outputs, are in {failed}", file=sys.stderr)
        raise
    finally:
        facts = {"hardware": hardware(), "load": round(os.getloadavg()[0], 1)}
        os.environ.clear()
        os.environ.update(env_before)
    cells = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            if "data" in output and WIDGET in output.data:
                output.data.pop(WIDGET)
                if not output.data:
                    continue
            outputs.append(output)
        cells[cell.id] = {"source": cell_key(cell.source), "execution_count": cell.execution_count,
                          "outputs": outputs}
    run = {"mode": setting, **facts, "torch": torch.__version__,
           "date": datetime.date.today().isoformat(), "seconds": round(time.perf_counter() - started),
           "cells": cells}
    RUNS.mkdir(parents=True, exist_ok=True)
    target = RUNS / (Path(page).stem + ".json")
    target.write_text(json.dumps(run, indent=1, sort_keys=True) + "\n")
    return target


def apply_run(nb: nbformat.NotebookNode, run: dict) -> tuple[int, int]:
    """Put a recorded run's outputs into the cells whose source is unchanged since the run.

    Returns (images shown, code cells whose source changed since the run)."""
    images = changed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        recorded = run["cells"].get(cell.id)
        if recorded is None or recorded["source"] != cell_key(cell.source):
            changed += 1
            continue
        cell.outputs = [nbformat.from_dict(o) for o in recorded["outputs"]]
        cell.execution_count = recorded["execution_count"]
        images += sum(any(kind in o.get("data", {}) for kind in IMAGES) for o in cell.outputs)
    return images, changed


def load_run(page: str) -> dict | None:
    """The recorded run of a chapter, or None if it has none."""
    path = RUNS / (Path(page).stem + ".json")
    return json.loads(path.read_text()) if path.exists() else None


def outputs_note(run: dict | None, changed: int = 0, solutions: bool = False) -> str:
    """What produced the outputs on a chapter page (and, with ``solutions``, how the page shows them), said
    where no reader can miss it."""
    extra = f"\n\n{SOLUTIONS_NOTE}" if solutions else ""
    if run is None:
        return ("```{note}\nThis page shows the notebook as committed: only the outputs the tests check (shapes, "
                "counts, from-scratch results), which are the same on every machine. Run it, on Colab or "
                "locally, for the figures and training curves. The results tables in the text come from full "
                f"runs and say on what hardware.{extra}\n```")
    stale = (f" {changed} code cell{'s' if changed != 1 else ''} changed since that run and show only the "
             "outputs the tests check." if changed else "")
    if run["mode"] == "cpu":
        kind = ("a run in the chapter's CPU setting (`SETTING = \"cpu\"`: less data, smaller images or fewer "
                "epochs than the lesson, as the chapter's settings cell says), so its accuracies are below the "
                "chapter's full-run results")
    elif run["mode"] == "quick":
        kind = ("a quick-mode run (`CNNLIB_QUICK=1`: fewer images, fewer epochs), so its curves and accuracies "
                "are far below the chapter's results; the results tables in the text come from full runs and "
                "say on what hardware")
    else:
        kind = "a full run, the lesson as written"
    load = f" (load average {run['load']} at its end)" if "load" in run else ""
    return (f"```{{note}}\nThe outputs on this page come from {kind}. That run: {run['hardware']}{load}, torch "
            f"{run['torch']}, {run['date']}, {run['seconds']} s.{stale}{extra}\n```")


def stage(only: str | None = None) -> Path:
    """Write the site's sources into build/site/src and return that folder. Its figures.json says how many
    recorded figures each chapter page shows (the browser test counts them)."""
    src = BUILD / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name in ("conf.py", "favicon.svg"):
        shutil.copy(ROOT / "website" / name, src / name)
    (src / "_static").mkdir()
    shutil.copy(ROOT / "website" / "course.css", src / "_static" / "course.css")
    shutil.copytree(ROOT / "assets", src / "assets")
    chosen = pages(only)
    staged = set(chosen)
    figures = {}
    for page in chosen:
        target = src / page
        target.parent.mkdir(parents=True, exist_ok=True)
        if page.endswith(".md"):
            target.write_text(rewrite_links((ROOT / page).read_text(), page, staged))
            continue
        nb = nbformat.read(ROOT / page, as_version=4)
        run = load_run(page)  # before the site's edits of the cells below, which would not match the run
        images, changed = apply_run(nb, run) if run else (0, 0)
        solutions = False
        for cell in nb.cells:
            solutions |= site_cell(cell)
            if cell.cell_type == "markdown":
                cell.source = rewrite_links(cell.source, page, staged)
        first = nb.cells[0]
        links = (f"[Open in Colab]({colab_url(page)}) · "
                 f"[the notebook file]({REPO_URL}/blob/{BRANCH}/{page})")
        first.source = COLAB_LINK.sub(links, first.source)
        figures[page] = images
        note = nbformat.v4.new_markdown_cell(outputs_note(run, changed, solutions))
        note.id = "site-outputs-note"
        nb.cells.insert(1, note)
        nbformat.write(nb, target)
    readme = rewrite_links(COLAB_LINK.sub(r"[Colab](\1)", (ROOT / "README.md").read_text()), "README.md", staged)
    toc = "\n".join(PurePosixPath(p).with_suffix("").as_posix() for p in chosen)
    (src / "index.md").write_text(f"{readme}\n\n```{{toctree}}\n:hidden:\n:caption: Chapters\n\n{toc}\n```\n")
    (src / "figures.json").write_text(json.dumps(figures, indent=1))
    return src


def build(quiet: bool = True, only: str | None = None) -> Path:
    """Stage and build the site; returns the folder with index.html. Fails on any Sphinx warning."""
    src = stage(only)
    html = BUILD / "html"
    if html.exists():  # pages left from an earlier build must not survive into this one
        shutil.rmtree(html)
    env = dict(os.environ, CNN_SITE_ROOT=str(ROOT), PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going",
               str(src), str(html)]
    if quiet:
        command.insert(3, "-q")
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    return html


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", metavar="CHAPTERS",
                        help='run the chapters whose file name contains this ("all": every chapter) and keep '
                             "their outputs in website/runs/, then build")
    parser.add_argument("--setting", choices=("quick", "cpu", "full"), default="quick",
                        help="with --record: quick mode (default), the CPU setting, or the full lesson")
    parser.add_argument("--only", help="build only the chapters whose file name contains this")
    parser.add_argument("--no-build", action="store_true", help="with --record: record only, build nothing")
    args = parser.parse_args(argv)
    if args.record:
        for page in pages(None if args.record == "all" else args.record):
            start = time.perf_counter()
            print(f"recorded {record(page, args.setting).relative_to(ROOT)} "
                  f"in {time.perf_counter() - start:.0f} s", flush=True)
    if args.no_build:
        return 0
    start = time.perf_counter()
    html = build(quiet=False, only=args.only)
    print(f"built {html / 'index.html'} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
