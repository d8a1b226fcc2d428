"""environment.yml and pyproject.toml must list the same packages with the same lower bounds."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _parse(requirement: str) -> tuple[str, str]:
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", requirement.strip())
    assert match, f"cannot parse requirement {requirement!r}"
    name, spec = match.groups()
    return CONDA_NAMES.get(name.lower(), name.lower()), spec.replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for group in project["optional-dependencies"].values() for r in group]
    return dict(_parse(r) for r in reqs)


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    reqs = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip: section
            for r in dep["pip"]:
                if not r.startswith("-e"):
                    reqs.update([_parse(r)])
        elif not dep.startswith(("python", "pip")) or dep.startswith("pillow"):
            reqs.update([_parse(dep)])
    return reqs


def test_environment_yml_matches_pyproject():
    assert conda_requirements() == pyproject_requirements()


def test_requirements_use_ranges_not_pins():
    for name, spec in pyproject_requirements().items():
        assert "==" not in spec, f"{name} is pinned ({spec}); use a lower bound"
        assert spec.startswith(">="), f"{name} needs a lower bound, got {spec!r}"


def test_python_version_floor():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"


def test_no_merge_conflict_markers_are_committed():
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = subprocess.run(["git", "grep", "-n", "-E", "^(<<<<<<<|>>>>>>>) "], cwd=root, capture_output=True,
                           text=True).stdout
    assert found == "", f"merge conflict markers left in:\n{found}"
