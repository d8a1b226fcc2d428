"""tools/website.py stages the course for Sphinx: links, Colab links, the note on outputs (no build here;
site_tests/ builds the site and opens it in a browser)."""

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import website  # noqa: E402

from cnnlib._course import REPO_URL, asset_url, colab_url  # noqa: E402

STAGED = {"notebooks/04_lenet.ipynb", "notebooks/05_alexnet.ipynb"}


def test_links_to_pages_stay_and_other_repository_files_go_to_github():
    text = ("[next](05_alexnet.ipynb) [code](../cnnlib/plot.py#L3) [web](https://example.org) [top](#a) "
            f"![d]({asset_url('lenet.svg')}) [home](../README.md)")
    out = website.rewrite_links(text, "notebooks/04_lenet.ipynb", STAGED)
    assert "[next](05_alexnet.ipynb)" in out
    assert f"[code]({REPO_URL}/blob/main/cnnlib/plot.py#L3)" in out
    assert "[web](https://example.org)" in out and "[top](#a)" in out
    assert "![d](../assets/lenet.svg)" in out
    assert "[home](../index.md)" in out


def test_folder_links_use_tree():
    out = website.rewrite_links("[b](benchmarks/)", "README.md", STAGED)
    assert out == f"[b]({REPO_URL}/tree/main/benchmarks)"


def test_pages_lists_chapters_and_only_filters():
    pages = website.pages()
    assert pages[0] == "notebooks/00_getting_started.ipynb" and "notebooks/04_lenet.ipynb" in pages
    assert website.pages("04_") == ["notebooks/04_lenet.ipynb"]
    with pytest.raises(ValueError, match="no chapter file name contains 'zzz'"):
        website.pages("zzz")


def test_outputs_note_says_what_produced_the_outputs():
    assert "as committed" in website.outputs_note(executed=False)
    executed = website.outputs_note(executed=True)
    assert "quick-mode run" in executed and "torch" in executed and "CPU cores" in executed


def test_stage_adds_colab_link_and_note(tmp_path, monkeypatch):
    monkeypatch.setattr(website, "BUILD", tmp_path)
    src = website.stage(executed=False, only="04_")
    nb = nbformat.read(src / "notebooks" / "04_lenet.ipynb", as_version=4)
    assert f"[Open in Colab]({colab_url('notebooks/04_lenet.ipynb')})" in nb.cells[0].source
    assert "colab-badge.svg" not in nb.cells[0].source
    assert nb.cells[1].id == "site-outputs-note"
    assert all(asset_url("") not in c.source for c in nb.cells if c.cell_type == "markdown")
    index = (src / "index.md").read_text()
    assert "```{toctree}" in index and "notebooks/04_lenet" in index and "colab-badge.svg" not in index
    assert (src / "conf.py").exists() and (src / "assets" / "lenet.svg").exists()
