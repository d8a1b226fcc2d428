"""tools/website.py stages the course for Sphinx: links, Colab links, the note on outputs, hidden tests left
out and solutions folded (one chapter is built here; site_tests/ builds the site and opens it in a browser)."""

import html
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import website  # noqa: E402

from cnnlib._course import REPO_URL, colab_url  # noqa: E402

STAGED = {"notebooks/04_lenet.ipynb", "notebooks/05_alexnet.ipynb"}


def test_links_to_pages_stay_and_other_repository_files_go_to_github():
    text = ("[next](05_alexnet.ipynb) [code](../cnnlib/plot.py#L3) [web](https://example.org) [top](#a) "
            "![d](../assets/lenet.svg) [home](../README.md)")
    out = website.rewrite_links(text, "notebooks/04_lenet.ipynb", STAGED)
    assert "[next](05_alexnet.ipynb)" in out
    assert f"[code]({REPO_URL}/blob/main/cnnlib/plot.py#L3)" in out
    assert "[web](https://example.org)" in out and "[top](#a)" in out
    assert "![d](../assets/lenet.svg)" in out
    assert "[home](../index.md)" in out


def test_chapter_links_go_to_the_chapter_page():
    text = "[ex](learner/04_lenet.ipynb) [sol](notebooks/04_lenet.ipynb#a) [other](learner/09_batch_norm.ipynb)"
    out = website.rewrite_links(text, "README.md", STAGED)
    assert "[ex](notebooks/04_lenet.ipynb)" in out and "[sol](notebooks/04_lenet.ipynb#a)" in out
    assert f"[other]({REPO_URL}/blob/main/learner/09_batch_norm.ipynb)" in out  # not a page of this build
    # from a chapter: the other chapter's page, but its own exercise version is the file in the repository
    out = website.rewrite_links("[b](../learner/05_alexnet.ipynb) [me](../learner/04_lenet.ipynb)",
                                "notebooks/04_lenet.ipynb", STAGED)
    assert out == f"[b](05_alexnet.ipynb) [me]({REPO_URL}/blob/main/learner/04_lenet.ipynb)"
    # a chapter linked by its GitHub address is a page of the site too; other files keep the address
    out = website.rewrite_links(f"[c]({REPO_URL}/blob/main/notebooks/05_alexnet.ipynb#s) "
                                f"[d]({REPO_URL}/blob/main/cnnlib/plot.py)", "notebooks/04_lenet.ipynb", STAGED)
    assert out == f"[c](05_alexnet.ipynb#s) [d]({REPO_URL}/blob/main/cnnlib/plot.py)"
    assert website.rewrite_links("[here](#a) [again](04_lenet.ipynb#b)", "notebooks/04_lenet.ipynb", STAGED) == \
        "[here](#a) [again](04_lenet.ipynb#b)"


def test_folder_links_use_tree():
    out = website.rewrite_links("[b](benchmarks/)", "README.md", STAGED)
    assert out == f"[b]({REPO_URL}/tree/main/benchmarks)"


def test_pages_lists_chapters_and_only_filters():
    pages = website.pages()
    assert pages[0] == "notebooks/00_getting_started.ipynb" and "notebooks/04_lenet.ipynb" in pages
    assert website.pages("04_") == ["notebooks/04_lenet.ipynb"]
    with pytest.raises(ValueError, match="no chapter file name contains 'zzz'"):
        website.pages("zzz")


RUN = {"mode": "quick", "hardware": "2 CPU cores (AMD EPYC)", "torch": "2.14.1", "date": "2026-12-07", "seconds": 40}


def test_outputs_note_says_what_produced_the_outputs():
    assert "as committed" in website.outputs_note(None)
    note = website.outputs_note(RUN, changed=2)
    assert "quick-mode run" in note and "2 CPU cores (AMD EPYC), torch 2.14.1, 2026-12-07, 40 s" in note
    assert "2 code cells changed since that run" in note
    assert "full run" in website.outputs_note(dict(RUN, mode="full")) and "changed" not in website.outputs_note(RUN)


def test_recorded_outputs_return_only_to_unchanged_cells():
    figure = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    text = nbformat.v4.new_output("stream", text="hello\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("plot()"), nbformat.v4.new_code_cell("say()"),
                                         nbformat.v4.new_code_cell("new()"), nbformat.v4.new_markdown_cell("m")])
    run = dict(RUN, cells={
        nb.cells[0].id: {"source": website.cell_key("plot()"), "execution_count": 3, "outputs": [figure]},
        nb.cells[1].id: {"source": website.cell_key("say('old')"), "execution_count": 4, "outputs": [text]}})
    assert website.apply_run(nb, run) == (1, 2)  # one figure; cell 1 edited since the run, cell 2 new
    assert nb.cells[0].outputs == [figure] and nb.cells[0].execution_count == 3
    assert nb.cells[1].outputs == [] and nb.cells[2].outputs == []


def test_record_keeps_outputs_by_cell_with_the_run_facts(tmp_path, monkeypatch):
    monkeypatch.setattr(website, "RUNS", tmp_path / "runs")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os\nprint(os.environ['CNNLIB_QUICK'])"),
        nbformat.v4.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.show()")])
    nbformat.write(nb, tmp_path / "99_tiny.ipynb")
    run = json.loads(website.record(str(tmp_path / "99_tiny.ipynb")).read_text())
    assert run["mode"] == "quick" and run["torch"] and run["date"] and "CPU cores" in run["hardware"]
    first, second = (run["cells"][c.id] for c in nb.cells)
    assert first["outputs"][0]["text"] == "1\n" and first["source"] == website.cell_key(nb.cells[0].source)
    assert "image/png" in second["outputs"][0]["data"]


def test_stage_adds_colab_link_and_note(tmp_path, monkeypatch):
    monkeypatch.setattr(website, "BUILD", tmp_path)
    src = website.stage(only="04_")
    nb = nbformat.read(src / "notebooks" / "04_lenet.ipynb", as_version=4)
    assert f"[Open in Colab]({colab_url('notebooks/04_lenet.ipynb')})" in nb.cells[0].source
    assert "colab-badge.svg" not in nb.cells[0].source
    assert nb.cells[1].id == "site-outputs-note"
    assert "Show the solution" in nb.cells[1].source and "hidden tests" in nb.cells[1].source
    index = (src / "index.md").read_text()
    assert "```{toctree}" in index and "notebooks/04_lenet" in index and "colab-badge.svg" not in index
    assert (src / "conf.py").exists() and (src / "assets" / "lenet.svg").exists()


# ---------------------------------------------------------------------------------- hidden tests, solutions
CHAPTERS = [page for page in website.pages() if page.endswith(".ipynb")]


def inside_lines(source: str, begin: str, end: str) -> list[str]:
    """The lines inside each ``begin``/``end`` region of ``source`` (markers left out)."""
    found, inside = [], False
    for line in source.splitlines():
        if line.strip().startswith(begin):
            inside = True
        elif line.strip().startswith(end):
            inside = False
        elif inside:
            found.append(line)
    return found


def hidden_lines(page: str) -> set[str]:
    return website.lines_only_in(ROOT / page, website.BEGIN_HIDDEN, website.END_HIDDEN)


def solution_lines(page: str, code_only: bool = False) -> set[str]:
    return website.lines_only_in(ROOT / page, website.BEGIN_SOLUTION, website.END_SOLUTION, code_only)


def test_the_chapters_have_hidden_tests_and_solutions_to_look_for():
    hidden = {page: hidden_lines(page) for page in CHAPTERS}
    assert sum(map(bool, hidden.values())) >= 10, hidden  # most chapters grade with hidden tests
    assert any("seed=201" in line for lines in hidden.values() for line in lines)
    assert all(solution_lines(page) for page in CHAPTERS)


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(website, "BUILD", tmp_path_factory.mktemp("site"))
    yield website.stage()
    monkeypatch.undo()


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: Path(p).stem)
def test_staged_chapter_has_no_hidden_tests_and_folds_every_solution(staged, page):
    source = nbformat.read(ROOT / page, as_version=4)
    site = nbformat.read(staged / page, as_version=4)
    text = "\n".join(c.source for c in site.cells)
    assert website.BEGIN_HIDDEN not in text and "HIDDEN TESTS" not in text
    leaked = [line for line in hidden_lines(page) if line in text]
    assert not leaked, f"hidden-test code on the site: {leaked}"
    assert website.BEGIN_SOLUTION not in text and website.END_SOLUTION not in text
    by_id = {c.id: c for c in site.cells}
    for cell in source.cells:
        if website.BEGIN_SOLUTION not in cell.source:
            assert "hide-input" not in by_id[cell.id].metadata.get("tags", []), "only solutions are folded"
            continue
        folded = by_id[cell.id]
        body = [line.strip() for line in inside_lines(cell.source, website.BEGIN_SOLUTION, website.END_SOLUTION)]
        assert all(line in folded.source for line in body), f"{cell.id}: the solution is incomplete on the site"
        if cell.cell_type == "code":
            assert "hide-input" in folded.metadata.tags and folded.metadata.mystnb == website.SOLUTION_PROMPTS
        else:
            assert folded.source.count(website.ANSWER_OPEN) == cell.source.count(website.BEGIN_SOLUTION)
    assert website.SOLUTIONS_NOTE in site.cells[1].source


def test_index_sends_every_chapter_link_to_its_page(staged):
    index = (staged / "index.md").read_text()
    for page in CHAPTERS:
        name = Path(page).name
        assert f"(learner/{name})" not in index, f"{name}: a link to the exercise file, not to the page"
        assert f"{REPO_URL}/blob/main/learner/{name}" not in index and f"{REPO_URL}/blob/main/{page}" not in index
        assert index.count(f"(notebooks/{name})") == 2  # the exercise version and the one with solutions


class Text(HTMLParser):
    """The text of an HTML page, split into what sits inside a <details> element (folded) and the rest."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth, self.folded, self.shown = 0, [], []

    def handle_starttag(self, tag, attrs):
        self.depth += tag == "details"

    def handle_endtag(self, tag):
        self.depth -= tag == "details"

    def handle_data(self, data):
        (self.folded if self.depth else self.shown).append(data)


def test_built_chapter_hides_the_hidden_tests_and_folds_the_solutions(tmp_path, monkeypatch):
    page = "notebooks/04_lenet.ipynb"  # hidden tests, code solutions and written answers
    monkeypatch.setattr(website, "BUILD", tmp_path)
    out = website.build(only="04_")
    parser = Text()
    parser.feed((out / "notebooks" / "04_lenet.html").read_text())
    folded, shown = "".join(parser.folded), "".join(parser.shown)
    assert solution_lines(page, code_only=True)
    for line in solution_lines(page, code_only=True):  # markdown answers change as they render: code does not
        assert line in folded and line not in shown, f"solution line not folded: {line!r}"
    assert "Show the solution" in folded
    secrets = hidden_lines(page)
    assert secrets
    for path in out.rglob("*"):  # every page, the copied sources, the search index
        if path.is_file() and path.suffix in {".html", ".ipynb", ".txt", ".js", ".md"}:
            if path.suffix == ".ipynb":
                text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
            else:
                text = path.read_text(errors="replace")
                text = html.unescape(re.sub(r"<[^>]+>", "", text)) if path.suffix == ".html" else text
            assert "BEGIN HIDDEN TESTS" not in text, path
            assert not [line for line in secrets if line in text], f"hidden-test code in {path}"
