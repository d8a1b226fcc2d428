"""Facts about the course itself, defined once and used by notebooks, tools and tests."""

import re

#: Where the course lives; the Colab badge and setup cell of every notebook point here. A placeholder until
#: the course is published: a fork sets its own address here, runs ``python tools/nb.py sync`` and updates
#: the README's Colab badges (tests/test_notebooks.py names any left over). Nothing else names the
#: repository: notebooks show diagrams by relative paths (``../assets/x.svg``), and the copies in colab/
#: (Colab opens one notebook without the rest of the repository) get addresses derived from this one.
REPO_URL = "https://github.com/cnnlib/cnn-course"
#: The branch that Colab badges open.
BRANCH = "main"


REPO = REPO_URL.removeprefix("https://github.com/")


def colab_url(notebook: str) -> str:
    """The Open-in-Colab address for a notebook path such as ``colab/learner/04_lenet.ipynb``."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{notebook}"


def colab_link(notebook: str) -> str:
    """The Open-in-Colab link written at the top of a notebook and in the README: text, not the usual badge
    image, which comes from colab.research.google.com and shows as a broken image offline."""
    return f"[Open in Colab]({colab_url(notebook)})"


#: A link that ``colab_link`` wrote; group 1 is the Colab address.
COLAB_LINK = re.compile(r"\[Open in Colab\]\((https://colab\.research\.google\.com/[^)\s]*)\)")


def file_url(path: str, raw: bool = False) -> str:
    """The published address of a repository file such as ``assets/lenet.svg``: its GitHub page, or with
    ``raw`` the file itself (what an image needs)."""
    if raw:
        return f"https://raw.githubusercontent.com/{REPO}/{BRANCH}/{path}"
    return f"{REPO_URL}/blob/{BRANCH}/{path}"

