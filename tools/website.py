"""Build the course website: README as the landing page, every chapter notebook, docs/, the diagrams.

    python tools/website.py              build into build/site/html (open build/site/html/index.html)
    python tools/website.py --execute    run every notebook once in quick mode first (cached by content)
    python tools/website.py --only 04    only the chapters whose file name contains "04" (while writing)

The sources are staged in build/site/src: links to files that are not pages of the site point to the
repository on GitHub, diagram addresses point to the local copies in assets/, each chapter gets an "Open
in Colab" link and a note that says which run produced the outputs shown.
"""

from __future__ import annotations

import argparse
import datetime
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

from cnnlib._course import BRANCH, REPO_URL, asset_url, colab_url  # noqa: E402

BUILD = ROOT / "build" / "site"
BADGE_LINK = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(([^)]*)\)")
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
EXTERNAL = ("http://", "https://", "mailto:", "#")


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
    """Keep links to staged pages and assets; point every other repository link to GitHub."""
    def fix(match: re.Match) -> str:
        bang, label, target = match.groups()
        if target.startswith(asset_url("")):  # a diagram: its local copy
            return f"{bang}[{label}]({relative('assets/' + target.removeprefix(asset_url('')), source)})"
        if target.startswith(EXTERNAL):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(PurePosixPath(source).parent.as_posix(), path)).replace(os.sep, "/")
        if resolved == "README.md":
            return f"{bang}[{label}]({relative('index.md', source)}{'#' + anchor if anchor else ''})"
        if resolved in staged or resolved.startswith("assets/"):
            return match.group(0)
        kind = "tree" if (ROOT / resolved).is_dir() else "blob"
        return f"{bang}[{label}]({REPO_URL}/{kind}/{BRANCH}/{resolved}{'#' + anchor if anchor else ''})"

    return LINK.sub(fix, text)


def outputs_note(executed: bool) -> str:
    """What produced the outputs on a chapter page, said where no reader can miss it."""
    if not executed:
        return ("```{note}\nThis page shows the notebook as committed: only the outputs the tests check (shapes, "
                "counts, from-scratch results), which are the same on every machine. Run it, on Colab or "
                "locally, for the figures and training curves. The results tables in the text come from full "
                "runs and say on what hardware.\n```")
    cpu = platform.processor() or platform.machine()
    import torch

    return (f"```{{warning}}\nThe outputs on this page come from a quick-mode run (`CNNLIB_QUICK=1`: fewer "
            f"images, fewer epochs) on {os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__}, "
            f"{datetime.date.today().isoformat()}. Quick-mode curves and accuracies are far below the chapter's "
            "results; the results tables in the text come from full runs and say on what hardware.\n```")


def stage(executed: bool, only: str | None = None) -> Path:
    """Write the site's sources into build/site/src and return that folder."""
    src = BUILD / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name in ("conf.py", "favicon.svg"):
        shutil.copy(ROOT / "website" / name, src / name)
    shutil.copytree(ROOT / "assets", src / "assets")
    chosen = pages(only)
    staged = set(chosen)
    for page in chosen:
        target = src / page
        target.parent.mkdir(parents=True, exist_ok=True)
        if page.endswith(".md"):
            target.write_text(rewrite_links((ROOT / page).read_text(), page, staged))
            continue
        nb = nbformat.read(ROOT / page, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = rewrite_links(cell.source, page, staged)
        first = nb.cells[0]
        links = (f"[Open in Colab]({colab_url(page)}) · "
                 f"[the notebook file]({REPO_URL}/blob/{BRANCH}/{page})")
        first.source = BADGE_LINK.sub(links, first.source)
        note = nbformat.v4.new_markdown_cell(outputs_note(executed))
        note.id = "site-outputs-note"
        nb.cells.insert(1, note)
        nbformat.write(nb, target)
    readme = rewrite_links(BADGE_LINK.sub(r"[Colab](\1)", (ROOT / "README.md").read_text()), "README.md", staged)
    toc = "\n".join(PurePosixPath(p).with_suffix("").as_posix() for p in chosen)
    (src / "index.md").write_text(f"{readme}\n\n```{{toctree}}\n:hidden:\n:caption: Chapters\n\n{toc}\n```\n")
    return src


def build(execute: bool = False, quiet: bool = True, only: str | None = None) -> Path:
    """Stage and build the site; returns the folder with index.html. Fails on any Sphinx warning."""
    src = stage(execute, only)
    html = BUILD / "html"
    if html.exists():  # pages left from an earlier build must not survive into this one
        shutil.rmtree(html)
    env = dict(os.environ, CNN_SITE_ROOT=str(ROOT), PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    if execute:
        env.update(CNN_SITE_EXECUTION="cache", CNN_SITE_CACHE=str(BUILD / "cache"), CNNLIB_QUICK="1")
        env.pop("MPLBACKEND", None)  # the kernel's inline backend must draw the figures into the outputs
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going",
               str(src), str(html)]
    if quiet:
        command.insert(3, "-q")
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    return html


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="run the notebooks in quick mode (cached)")
    parser.add_argument("--only", help="build only the chapters whose file name contains this")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    html = build(args.execute, quiet=False, only=args.only)
    print(f"built {html / 'index.html'} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
