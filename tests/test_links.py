"""Every link in the notebooks and the Markdown files stays inside the repository and names a file that exists.

A learner has the repository, not the machines it was written on: a link to ``../shared`` or to an absolute
path works for the authors only. Links into the repository by its GitHub or Colab address must name a
path that exists here.
"""

import json
import re
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnlib._course import BRANCH, REPO_URL  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MARKDOWN = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("**/*.md"))]

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")  # [text](target "title")
HTML = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)  # code is shown, not followed
REPO_ADDRESSES = [f"{REPO_URL}/blob/{BRANCH}/", f"{REPO_URL}/tree/{BRANCH}/", f"{REPO_URL}/raw/{BRANCH}/",
                  f"https://colab.research.google.com/github/{REPO_URL.removeprefix('https://github.com/')}"
                  f"/blob/{BRANCH}/"]


def links(markdown: str) -> list[str]:
    """The targets of Markdown and HTML links in ``markdown``, leaving out code spans and blocks."""
    text = CODE.sub("", markdown)
    return LINK.findall(text) + HTML.findall(text)


def link_problem(target: str, source: Path) -> str | None:
    """Why ``target``, linked from the file ``source``, would not work for a learner; None if it would."""
    address = target.split("#", 1)[0].split("?", 1)[0]
    for prefix in REPO_ADDRESSES:
        if address.startswith(prefix):
            path = ROOT / unquote(address.removeprefix(prefix))
            return None if path.exists() else f"{target}: no {path.relative_to(ROOT)} in the repository"
    if re.match(r"^[a-z][a-z0-9+.-]*:", address, re.I):
        return f"{target}: a local file address" if address.lower().startswith("file:") else None
    if not address:
        return None  # a link to an anchor on the same page
    if address.startswith(("/", "~")):
        return f"{target}: an absolute path, outside the repository"
    path = (source.parent / unquote(address)).resolve()
    if not path.is_relative_to(ROOT):
        return f"{target}: outside the repository"
    return None if path.exists() else f"{target}: no such file in the repository"


def markdown_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text()


@pytest.mark.parametrize("path", NOTEBOOKS + MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_inside_the_repository(path):
    problems = [p for t in links(markdown_of(path)) if (p := link_problem(t, path))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS + [ROOT / "README.md"], ids=lambda p: p.name)
def test_no_pointer_to_the_authors_shared_folder(path):
    assert "../shared" not in markdown_of(path), "what a learner must see lives in the repository (docs/)"


def test_the_published_results_are_in_the_repository():
    text = (ROOT / "docs" / "published-results.md").read_text()
    assert "Dive into Deep Learning" in text and "0.779–0.821" in text
    # chapters 4 to 14 put published figures next to their own
    missing = [p.name for p in NOTEBOOKS if "04" <= p.name[:2] <= "14" and "published-results.md" not in markdown_of(p)]
    assert not missing, f"quote published figures with a link to docs/published-results.md: {missing}"


def test_the_link_checker_catches_what_breaks():
    readme = ROOT / "README.md"
    notebook = ROOT / "notebooks" / "04_lenet.ipynb"
    assert links("see [a](x.md), ![b](img.png \"t\"), `[c](in-code.md)` and <img src=\"d.svg\">") == \
        ["x.md", "img.png", "d.svg"]
    assert link_problem("docs/published-results.md", readme) is None
    assert link_problem("../docs/published-results.md#sources", notebook) is None
    assert link_problem(f"{REPO_URL}/blob/{BRANCH}/docs/published-results.md", notebook) is None
    assert link_problem("https://pytorch.org/docs", readme) is None and link_problem("#results", readme) is None
    assert "outside" in link_problem("../shared/reference/published-results.md", readme)
    assert "outside" in link_problem("../../shared/data", notebook)
    assert "absolute" in link_problem("/work/shared/reference/published-results.md", readme)
    assert "local file" in link_problem("file:///work/shared/x.md", readme)
    assert "no such file" in link_problem("docs/missing.md", readme)
    assert "no docs/missing.md" in link_problem(f"{REPO_URL}/blob/{BRANCH}/docs/missing.md", notebook)


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if "01" <= p.name[:2] <= "14"], ids=lambda p: p.name)
def test_chapters_end_with_a_reference_list(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]
    references = "".join(cells[-1]["source"])
    assert references.startswith("## References"), "end the chapter with a '## References' cell"
    assert re.search(r"^- .+\((19|20)\d\d\)\.", references, re.M), "authors (year). title. venue."


IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"  # ![alt](target "title")
                   r"|<img\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"']")
REPO_NAME = REPO_URL.removeprefix("https://github.com/")
THIS_REPOSITORY = (f"https://raw.githubusercontent.com/{REPO_NAME}/", f"{REPO_URL}/", f"http://github.com/{REPO_NAME}/")
CHAPTERS = [p for folder in ("notebooks", "learner") for p in sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb"))]


def image_problem(target: str, notebook: Path) -> str | None:
    """Why the image ``target`` in ``notebook`` would not show offline in JupyterLab, on GitHub and on the
    site; None if it would. Images of other sites (the Colab badge) are allowed."""
    if target.startswith(THIS_REPOSITORY):
        return (f"{target}: an absolute address of this repository; use ../assets/NAME "
                "(works offline and before publication)")
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
        return None
    path = (notebook.parent / unquote(target.split("#", 1)[0].split("?", 1)[0])).resolve()
    if not path.is_relative_to(ROOT):
        return f"{target}: outside the repository"
    return None if path.is_file() else f"{target}: no such file from {notebook.parent.name}/"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_images_resolve_from_the_notebooks_own_folder(path):
    text = CODE.sub("", markdown_of(path))
    targets = [a or b for a, b in IMAGE.findall(text)]
    problems = [p for t in targets if (p := image_problem(t, path))]
    assert not problems, "\n".join(problems)


def test_every_diagram_is_shown_by_a_relative_path():
    shown = {t for path in CHAPTERS for a, b in IMAGE.findall(CODE.sub("", markdown_of(path))) if (t := a or b)}
    assets = {f"../assets/{p.name}" for p in (ROOT / "assets").glob("*.svg")}
    assert assets and assets <= shown, f"diagrams no chapter shows by ../assets/: {sorted(assets - shown)}"


def test_the_image_checker_catches_what_breaks():
    notebook = ROOT / "notebooks" / "04_lenet.ipynb"
    assert image_problem("../assets/lenet.svg", notebook) is None
    assert image_problem("https://colab.research.google.com/assets/colab-badge.svg", notebook) is None
    raw = f"https://raw.githubusercontent.com/{REPO_NAME}/main/assets/lenet.svg"
    assert "absolute address" in image_problem(raw, notebook)
    assert "absolute address" in image_problem(f"{REPO_URL}/raw/main/assets/lenet.svg", notebook)
    assert "no such file from notebooks/" in image_problem("assets/lenet.svg", notebook)
    assert "outside" in image_problem("../../elsewhere.svg", notebook)
    assert [a or b for a, b in IMAGE.findall('![x](../assets/a.svg "t") and <img width=3 src="b.png">')] == \
        ["../assets/a.svg", "b.png"]


def test_every_jupyter_lab_command_serves_the_clone_so_diagrams_load():
    """Given a folder or a notebook, JupyterLab serves only that folder, and ../assets/ is then out of reach
    (a 404 for every diagram): each command in the README and chapter 00 uses tools/lab_config.py, which
    sets the root to the clone."""
    import nbformat

    texts = {"README.md": (ROOT / "README.md").read_text()}
    chapter0 = nbformat.read(ROOT / "notebooks" / "00_getting_started.ipynb", as_version=4)
    texts["notebooks/00_getting_started.ipynb"] = "\n".join(c.source for c in chapter0.cells)
    commands = [(name, line) for name, text in texts.items() for line in text.splitlines() if "jupyter lab" in line]
    assert len(commands) >= 3
    for name, line in commands:
        assert "--config=tools/lab_config.py" in line, f"{name}: {line.strip()}"


def test_learner_lab_config_serves_the_clone_and_hides_nbgrader(tmp_path, monkeypatch):
    """tools/lab_config.py, loaded as JupyterLab loads it (from another folder): the root is the clone, all
    of nbgrader's server extensions are off and its lab extension is disabled on the page."""
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.chdir(tmp_path)
    config = PyFileConfigLoader("lab_config.py", path=str(ROOT / "tools")).load_config()
    assert config.ServerApp.root_dir == str(ROOT)
    installed = json.loads((Path(sys.prefix) / "etc/jupyter/jupyter_server_config.d/nbgrader.json").read_text())
    nbgrader_extensions = installed["ServerApp"]["jpserver_extensions"]
    assert set(nbgrader_extensions) <= set(config.ServerApp.jpserver_extensions)
    assert not any(config.ServerApp.jpserver_extensions.values())
    assert (Path(sys.prefix) / "share/jupyter/labextensions/@jupyter/nbgrader/package.json").exists()
    hook = config.ServerApp.tornado_settings["page_config_hook"]
    page = hook(None, {"disabledExtensions": ["other"]})
    assert page["disabledExtensions"] == ["other", "@jupyter/nbgrader"]


# -- Colab copies ------------------------------------------------------------------------------------------

sys.path.insert(0, str(ROOT / "tools"))
import nb as nbtool  # noqa: E402


def held(path: Path) -> str:
    """What git holds for ``path`` (its index), or the file where git has none: a learner's saved work in
    learner/ does not count."""
    text = nbtool.staged_text(path)
    return path.read_text() if text is None else text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_copies_are_current(path):
    import nbformat

    chapter = nbformat.reads(held(path), as_version=4)
    expected = {path: chapter}
    if nbtool.has_solutions(chapter):
        expected[nbtool.learner_path(path)] = nbtool.learner_version(chapter, path)
    for original, nb in expected.items():
        copy = nbtool.colab_path(original)
        assert copy.is_file(), f"{copy.relative_to(ROOT)} is missing; run python tools/nb.py sync"
        assert nbformat.reads(held(copy), as_version=4) == nbtool.colab_version(nb, original), \
            f"{copy.relative_to(ROOT)} is stale; run python tools/nb.py sync {path.relative_to(ROOT)}"


def published_problem(target: str) -> str | None:
    """Why ``target`` in a Colab copy would not load on Colab once the repository is published: a relative
    path, or an address of this repository naming a file it does not have."""
    if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) and not target.startswith("#"):
        return f"{target}: relative, and Colab cannot resolve it"
    raw = f"https://raw.githubusercontent.com/{REPO_NAME}/{BRANCH}/"
    for prefix in (raw, *REPO_ADDRESSES):
        if target.startswith(prefix):
            file = ROOT / unquote(target.removeprefix(prefix).split("#", 1)[0])
            return None if file.exists() else f"{target}: the repository has no {file.relative_to(ROOT)}"
    return None


@pytest.mark.parametrize("path", sorted((ROOT / "colab").glob("*/*.ipynb")), ids=lambda p: str(p.relative_to(ROOT)))
def test_colab_copies_show_diagrams_by_published_addresses(path):
    text = CODE.sub("", markdown_of(path))
    targets = LINK.findall(text) + [a or b for a, b in IMAGE.findall(text)]
    problems = [p for t in targets if (p := published_problem(t))]
    assert not problems, "\n".join(problems)
    original = ROOT / path.relative_to(ROOT / "colab")
    relative = [a or b for a, b in IMAGE.findall(CODE.sub("", markdown_of(original))) if (a or b).startswith("../")]
    assert text.count("https://raw.githubusercontent.com/") >= len(relative), "every relative image was rewritten"


def test_the_published_address_checker_catches_what_breaks():
    assert "relative" in published_problem("../assets/lenet.svg")
    assert published_problem(f"https://raw.githubusercontent.com/{REPO_NAME}/{BRANCH}/assets/lenet.svg") is None
    assert "no assets/nothing.svg" in published_problem(
        f"https://raw.githubusercontent.com/{REPO_NAME}/{BRANCH}/assets/nothing.svg")
    assert published_problem("https://colab.research.google.com/assets/colab-badge.svg") is None
