"""Sphinx configuration of the course site; tools/website.py copies it next to the staged sources and builds."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(os.environ["CNN_SITE_ROOT"])))
from cnnlib._course import BRANCH, REPO_URL  # noqa: E402

project = "Convolutional neural networks in PyTorch"
author = "the course authors"
extensions = ["myst_nb", "sphinx-mathjax-offline"]  # the second ships MathJax: the site works offline
html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]
html_css_files = ["course.css"]  # website/course.css: long code lines wrap, folded written answers
html_favicon = "favicon.svg"  # without one the browser asks for /favicon.ico and gets a 404
html_context = {"default_mode": "light"}  # an explicit mode: the theme logs an error when it has none
html_theme_options = {
    "repository_url": REPO_URL,
    "repository_branch": BRANCH,
    "use_repository_button": True,
    "use_download_button": True,
    "home_page_in_toc": True,
}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# Building never runs a notebook: the outputs come from the runs recorded in website/runs/
# (tools/website.py --record), put back into the staged chapters.
nb_execution_mode = "off"
nb_merge_streams = True
exclude_patterns = ["**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]
# Widget outputs (progress bars, sliders) need a live kernel, and their scripts would come from CDNs:
# show their text form instead, and load no widget scripts, so the pages work offline.
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
