"""Facts about the course itself, defined once and used by notebooks, tools and tests."""

#: Where the course lives; the Colab badge and setup cell of every notebook point here.
REPO_URL = "https://github.com/cnnlib/cnn-course"
#: The branch that Colab badges open.
BRANCH = "main"


def colab_url(notebook: str) -> str:
    """The Open-in-Colab address for a notebook path such as ``notebooks/04_lenet.ipynb``."""
    repo = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/{notebook}"


def asset_url(name: str) -> str:
    """The raw-file address of a diagram in ``assets/``: notebooks use it because Colab cannot resolve
    a relative image path; the site build maps it back to its local copy."""
    repo = REPO_URL.removeprefix("https://github.com/")
    return f"https://raw.githubusercontent.com/{repo}/{BRANCH}/assets/{name}"
