"""Every ``torch.load`` in the repository passes ``weights_only=True``: loading never runs pickled code.

torch >= 2.6 defaults to it, but the project supports torch >= 2.3, where the default unpickles anything.
"""

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LOAD = re.compile(r"\btorch\s*\.\s*load\s*\(")


def _sources() -> list[tuple[Path, str]]:
    """(file, text) of every Python file, notebook code cell and Markdown file outside hidden folders."""
    found = []
    for path in sorted(ROOT.rglob("*")):
        parts = path.relative_to(ROOT).parts
        if any(part.startswith(".") or part in ("build", "student") for part in parts) or not path.is_file():
            continue
        if path.suffix in (".py", ".md"):
            found.append((path, path.read_text(encoding="utf-8")))
        elif path.suffix == ".ipynb":
            cells = nbformat.read(path, as_version=4).cells
            found += [(path, cell.source) for cell in cells if cell.cell_type == "code"]
    return found


def _call_arguments(text: str, start: int) -> str:
    """The text between the parenthesis that opens at ``start - 1`` and the one that closes it."""
    depth, i = 1, start
    while depth and i < len(text):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    return text[start:i - 1]


def unsafe_loads(sources: list[tuple[Path, str]]) -> list[str]:
    bad = []
    for path, text in sources:
        for match in LOAD.finditer(text):
            arguments = _call_arguments(text, match.end())
            if not re.search(r"\bweights_only\s*=\s*True\b", arguments):
                bad.append(f"{path.relative_to(ROOT)}: {match.group(0)}{arguments})")
    return bad


def test_the_check_finds_a_load_without_weights_only():
    call = "torch" ".load"  # split, so that this file holds no unsafe call of its own
    sources = [(ROOT / "x.py", f"a = {call}(path, map_location=f(1))\nb = {call}(p, weights_only=True)")]
    assert unsafe_loads(sources) == [f"x.py: {call}(path, map_location=f(1))"]


def test_every_torch_load_passes_weights_only_true():
    sources = _sources()
    assert any(LOAD.search(text) for _, text in sources)  # the search does see the repository's loads
    assert unsafe_loads(sources) == []
