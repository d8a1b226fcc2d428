"""JupyterLab settings for learners: ``jupyter lab --config=tools/lab_config.py learner/00_getting_started.ipynb``.

- Serve the whole clone, wherever the command is run from, so that the chapters' diagrams
  (``../assets/x.svg``) load: given only a notebook or a folder, JupyterLab serves just that folder.
- Hide nbgrader from learners. The course installs nbgrader for its tests and for instructors, whose
  command-line grading needs none of its JupyterLab parts; in a learner's JupyterLab those parts only add
  grading menus, a "Validate" button and a "No nbgrader_config.py" warning in the log. Instructors who
  want nbgrader's formgrader start JupyterLab without this file.
"""
# Read by traitlets, which runs this file with ``c`` (the configuration) and ``__file__`` defined.
from pathlib import Path

NBGRADER_SERVER_EXTENSIONS = ("formgrader", "validate_assignment", "assignment_list", "course_list")
NBGRADER_LAB_EXTENSION = "@jupyter/nbgrader"


def without_nbgrader(handler, page_config: dict) -> dict:
    """JupyterLab's page_config_hook: the page loads with nbgrader's lab extension disabled."""
    disabled = list(page_config.get("disabledExtensions", []))
    page_config["disabledExtensions"] = [*disabled, NBGRADER_LAB_EXTENSION]
    return page_config


c = get_config()  # noqa: F821 (defined by traitlets)
c.ServerApp.root_dir = str(Path(__file__).resolve().parents[1])
c.ServerApp.jpserver_extensions = {f"nbgrader.server_extensions.{name}": False for name in NBGRADER_SERVER_EXTENSIONS}
c.ServerApp.tornado_settings = {"page_config_hook": without_nbgrader}
