"""The course site in a real browser: build it, serve it on 127.0.0.1, open every page in Chromium.

Run by .ci/run (Debian's chromium, driven by Playwright with ``executable_path``; no browser download):
    python -m pytest -o addopts= site_tests
Every chapter with a recorded run (website/runs/) must show its recorded figures, each one loaded.
Screenshots land in build/site-screenshots/ (git-ignored).
"""

from __future__ import annotations

import functools
import json
import http.server
import os
import re
import shutil
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, ImageStat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import diagrams  # noqa: E402
import website  # noqa: E402

from cnnlib._course import BRANCH, REPO_URL, colab_url  # noqa: E402

SHOTS = ROOT / "build" / "site-screenshots"
RAW_MATH = re.compile(r"\$[^$\n]+\$|\\\(|\\\[")
GITHUB_CHAPTER = re.compile(re.escape(f"{REPO_URL}/blob/{BRANCH}/")
                            + r"(?:learner|notebooks)/([0-9][0-9]_[^/#?]+)\.ipynb")
# every <pre> whose text runs past its box and cannot be scrolled into view
CLIPPED_CODE = """() => Array.from(document.querySelectorAll('main pre')).filter(p => p.clientWidth > 0)
    .filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.innerText.split('\\n')[0].slice(0, 60))"""


def chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("no Chromium found: install Debian's chromium (apt-get install chromium) or set CHROMIUM")
    return path


@pytest.fixture(scope="module")
def server():
    html = website.build()
    FIGURES.update(json.loads((website.BUILD / "src" / "figures.json").read_text()))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", html
    httpd.shutdown()


def solutions_and_secrets(page: str) -> tuple[int, set[str]]:
    """How many solution cells a chapter has, and the lines only its hidden tests have."""
    import nbformat

    cells = nbformat.read(ROOT / page, as_version=4).cells
    return (sum(website.BEGIN_SOLUTION in c.source for c in cells),
            website.lines_only_in(ROOT / page, website.BEGIN_HIDDEN, website.END_HIDDEN))


def check_chapter(page, name: str) -> list[str]:
    """Hidden tests absent, every solution folded and closed, each toggle opening its solution; other
    chapters linked on the site, not on GitHub. Leaves every solution open."""
    notebook = Path(name).with_suffix(".ipynb").as_posix()
    expected, secrets = solutions_and_secrets(notebook)
    problems = []
    text = page.evaluate("() => document.querySelector('main').textContent")
    leaked = [s for s in secrets if s in text] + (["HIDDEN TESTS"] if "HIDDEN TESTS" in text else [])
    if leaked:
        problems.append(f"{name}: hidden tests on the page: {leaked}")
    toggles = page.locator("main details.hide.above-input, main details.solution")
    if toggles.count() != expected:
        problems.append(f"{name}: {toggles.count()} solution toggles, expected {expected}")
    for i in range(toggles.count()):
        toggle = toggles.nth(i)
        body = toggle.locator(":scope > :not(summary)").first
        if toggle.evaluate("d => d.open") or body.is_visible():
            problems.append(f"{name}: solution {i + 1} is not folded when the page opens")
        toggle.locator(":scope > summary").click()
        if not (toggle.evaluate("d => d.open") and body.is_visible()):
            problems.append(f"{name}: solution {i + 1} does not open when its toggle is clicked")
    for href in page.eval_on_selector_all("main a[href]", "as => as.map(a => a.href)"):
        linked = GITHUB_CHAPTER.match(href)
        if linked and linked.group(1) != Path(name).stem:
            problems.append(f"{name}: links chapter {linked.group(1)} on GitHub, not its page on the site: {href}")
    return problems


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield browser
        browser.close()


FIGURES: dict[str, int] = {}  # chapter: figures its recorded run shows (the build's figures.json)
PAGES = ["index.html"] + [Path(p).with_suffix(".html").as_posix() for p in website.pages()]


def test_every_page_renders(server, browser):
    base, html = server
    assert sorted(p.relative_to(html).as_posix() for p in html.glob("notebooks/*.html")) == sorted(
        p for p in PAGES if p.startswith("notebooks/")), "the site and the notebooks differ"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    internal: set[str] = set()
    current = {"url": ""}
    page.on("console", lambda m: m.type == "error" and problems.append(f"{current['url']}: console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{current['url']}: script error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"{current['url']}: failed to load {r.url}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{current['url']}: {r.status} for {r.url}"))
    for name in PAGES:
        current["url"] = name
        page.goto(f"{base}/{name}", wait_until="networkidle")
        page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
        broken = page.evaluate("() => Array.from(document.images)"
                               ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
        problems += [f"{name}: image did not load: {src}" for src in broken]
        text = page.evaluate("""() => { const main = document.querySelector('main') || document.body;
            const copy = main.cloneNode(true);
            copy.querySelectorAll('pre, code, mjx-container, script, .highlight').forEach(e => e.remove());
            return copy.innerText; }""")
        problems += [f"{name}: raw math left: {m!r}" for m in RAW_MATH.findall(text)]
        unrendered = page.evaluate("() => Array.from(document.querySelectorAll('.math'))"
                                   ".filter(e => !e.querySelector('mjx-container')).length")
        if unrendered:
            problems.append(f"{name}: {unrendered} math elements not rendered by MathJax")
        internal |= {h.split("#")[0] for h in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
                     if h.startswith(base)}
        if name == "index.html":
            links = page.eval_on_selector_all("main a[href]", "as => as.map(a => a.href)")
            problems += [f"index.html: a chapter linked on GitHub: {h}" for h in links if GITHUB_CHAPTER.match(h)]
            for chapter in (p for p in PAGES if p.startswith("notebooks/")):
                if links.count(f"{base}/{chapter}") < 2:  # the exercise version and the one with solutions
                    problems.append(f"index.html: links {chapter} {links.count(f'{base}/{chapter}')} times, not twice")
        if name.startswith("notebooks/"):
            problems += check_chapter(page, name)  # leaves the solutions open: their code is checked below
            notebook = Path(name).with_suffix(".ipynb").as_posix()
            colab = page.eval_on_selector_all("a", "as => as.filter(a => a.innerText.trim() === 'Open in Colab')"
                                                   ".map(a => a.href)")
            if colab != [colab_url(notebook)]:
                problems.append(f"{name}: Colab link {colab}, expected [{colab_url(notebook)}]")
            shown = page.evaluate("() => Array.from(document.images).filter(i => i.naturalWidth > 0)"
                                  ".map(i => i.src.split('/').pop())")
            figures = page.evaluate("() => Array.from(document.querySelectorAll('main .cell_output img'))"
                                    ".filter(i => i.naturalWidth > 0).length")
            if figures != FIGURES[notebook]:
                problems.append(f"{name}: {figures} figures from its recorded run, expected {FIGURES[notebook]}")
            note = page.evaluate("() => document.querySelector('main').innerText")
            run = website.load_run(notebook)
            if run and not all(fact in note for fact in (run["hardware"], run["date"], f"{run['mode']}")):
                problems.append(f"{name}: the page does not say the run's mode, hardware and date")
            for asset, (stem, *_rest) in diagrams.PLACES.items():
                if stem == Path(name).stem and not any(s.startswith(asset.removesuffix(".svg")) for s in shown):
                    problems.append(f"{name}: diagram {asset} not shown")
        problems += [f"{name}: code cut off at the right: {c!r}" for c in page.evaluate(CLIPPED_CODE)]
        shot = SHOTS / (name.replace("/", "_").removesuffix(".html") + ".png")
        page.screenshot(path=str(shot))
        if max(ImageStat.Stat(Image.open(shot).convert("L")).stddev) < 5:
            problems.append(f"{name}: the screenshot is blank")
    for url in sorted(internal):
        try:
            with urllib.request.urlopen(url) as response:
                ok = response.status == 200
        except OSError:
            ok = False
        if not ok:
            problems.append(f"internal link does not resolve: {url}")
    page.set_viewport_size({"width": 400, "height": 800})  # a phone: long lines must wrap, not run off
    for name in ("index.html", "notebooks/04_lenet.html"):
        page.goto(f"{base}/{name}", wait_until="networkidle")
        page.evaluate("() => document.querySelectorAll('main details').forEach(d => d.open = true)")
        problems += [f"{name} (400 px): code cut off at the right: {c!r}" for c in page.evaluate(CLIPPED_CODE)]
    assert not problems, "\n".join(problems)
    print(f"{len(PAGES)} pages checked, {len(internal)} internal links")
