"""Facts about the course itself, defined once and used by notebooks, tools and tests."""

#: Where the course lives; the Colab badge and setup cell of every notebook point here. A placeholder until
#: the course is published: a fork sets its own address here, runs ``python tools/nb.py sync`` and updates
#: the README's Colab badges (tests/test_notebooks.py names any left over). Nothing else names the
#: repository: notebooks show diagrams by relative paths (``../assets/x.svg``).
REPO_URL = "https://github.com/cnnlib/cnn-course"
#: The branch that Colab badges open.
BRANCH = "main"


def colab_url(notebook: str) -> str:
    """The Open-in-Colab address for a notebook path such as ``notebooks/04_lenet.ipynb``."""
    repo = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/{notebook}"

