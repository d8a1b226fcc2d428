"""nbgrader's preprocessors as the course uses them, for tools/nb.py (learner/) and nbgrader_config.py.

The learner versions are made by the same preprocessors, in the same order, as `nbgrader generate_assignment`
(less those that need a course directory), so a learner's own notebook, handed in, autogrades.
"""

from __future__ import annotations

import re
from importlib import metadata

import nbformat
from nbconvert.exporters import HTMLExporter
from nbgrader import preprocessors as pp

from instructor import CHECK, CODE_STUB, MARKDOWN_STUB, TOP_LEVEL_STUB


class ClearCourseSolutions(pp.ClearSolutions):
    """nbgrader's ClearSolutions with the course's stubs: inside a function a ``raise``, at the top level of a
    cell a comment (the cell names its answers above the region, so "Run all" goes on to the self-check)."""

    def _replace_solution_region(self, cell: nbformat.NotebookNode, language: str) -> bool:
        lines, inside, replaced = [], False, False
        for number, line in enumerate(cell.source.split("\n"), start=1):
            if self.begin_solution_delimeter in line:
                if inside:
                    raise ValueError(f"line {number}: ### BEGIN SOLUTION inside another solution region")
                inside = replaced = True
                indent = line[:len(line) - len(line.lstrip())]
                stub = MARKDOWN_STUB if cell.cell_type != "code" else CODE_STUB if indent else TOP_LEVEL_STUB
                lines.append(indent + stub)
            elif self.end_solution_delimeter in line:
                if not inside:
                    raise ValueError(f"line {number}: ### END SOLUTION without ### BEGIN SOLUTION")
                inside = False
            elif not inside:
                lines.append(line)
        if inside:
            raise ValueError("### BEGIN SOLUTION without ### END SOLUTION")
        cell.source = "\n".join(lines)
        return replaced


class DropCheckComments(pp.NbGraderPreprocessor):
    """Student versions have no outputs to compare, so a first line ``# NBVAL_CHECK_OUTPUT`` goes."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and cell.source.lstrip().startswith(f"# {CHECK}"):
            cell.source = cell.source.lstrip().partition("\n")[2]
        return cell, resources


#: What makes the student version: nbgrader generate_assignment's steps in its order (ClearSolutions with our
#: stubs), after dropping the check comments.
STUDENT_VERSION = [DropCheckComments, pp.LockCells, ClearCourseSolutions, pp.ClearOutput, pp.CheckCellMetadata,
                   pp.ComputeChecksums, pp.ClearHiddenTests, pp.ClearMarkScheme, pp.ComputeChecksums,
                   pp.CheckCellMetadata]
#: The same with the steps that need a course directory: a header, test templates, the gradebook (SaveCells
#: stores each cell before its hidden tests are cleared; autograde puts them back).
GENERATE_ASSIGNMENT = [pp.IncludeHeaderFooter, pp.InstantiateTests, *STUDENT_VERSION[:6], pp.SaveCells,
                       *STUDENT_VERSION[6:]]


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Run the student-version preprocessors on a copy of ``nb`` (whose cells carry nbgrader metadata)."""
    nb, resources = nbformat.from_dict(nb), {}
    for preprocessor in STUDENT_VERSION:
        nb, resources = preprocessor().preprocess(nb, resources)
    return nb


class HideHiddenTests(pp.ClearHiddenTests):
    """Feedback: the hidden tests leave the source of their cell, and an error in that cell keeps only its
    message (the traceback would quote the cell's lines); the check's own message stays."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and self.begin_test_delimeter in cell.source:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return super().preprocess_cell(cell, resources, index)


MATHJAX_URL = re.compile(r'<script[^>]*\ssrc="https?://[^"]*mathjax[^"]*"[^>]*>\s*</script>', re.IGNORECASE)
MATHJAX_2_CONFIG = re.compile(r'<script type="text/x-mathjax-config">.*?</script>', re.DOTALL)
MATHJAX_CONFIG = ("window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], "
                  "displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true, processEnvironments: true}, "
                  "svg: {fontCache: 'global'}};")


def offline_mathjax() -> str:
    """MathJax 3 (TeX input, SVG output: no font files) as inline scripts, from sphinx-mathjax-offline."""
    try:
        script = metadata.distribution("sphinx-mathjax-offline").locate_file(
            "sphinx-mathjax-offline/static/mathjax/tex-svg.js")
        code = script.read_text(encoding="utf-8")
    except (metadata.PackageNotFoundError, OSError) as error:
        raise RuntimeError("feedback renders math offline with the MathJax copy in sphinx-mathjax-offline, which "
                           f"is missing ({error}): pip install -e '.[instructor]'") from error
    if "</script" in code.lower():
        raise RuntimeError(f"{script} contains '</script' and cannot be inlined")
    return f"<script>{MATHJAX_CONFIG}</script>\n<script>{code}</script>"


class OfflineFeedbackExporter(HTMLExporter):
    """nbgrader's feedback HTML with MathJax inlined instead of loaded from the web: math renders offline."""

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        if not MATHJAX_URL.search(output):
            raise RuntimeError("the feedback template no longer loads MathJax from a URL; "
                               "update OfflineFeedbackExporter in instructor/grading.py")
        output = MATHJAX_2_CONFIG.sub("", output)
        return MATHJAX_URL.sub(lambda match: offline_mathjax(), output, count=1), resources


__all__ = ["ClearCourseSolutions", "GENERATE_ASSIGNMENT", "HideHiddenTests", "OfflineFeedbackExporter",
           "STUDENT_VERSION", "student_version"]
