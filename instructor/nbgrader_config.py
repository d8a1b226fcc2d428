"""The course's nbgrader configuration. A course directory's own nbgrader_config.py loads it (tools/nb.py
course writes that file):

    c = get_config()
    load_subconfig(r"/path/to/the/repository/instructor/nbgrader_config.py")

generate_assignment makes exactly the notebooks in learner/ (same preprocessors, see instructor/grading.py);
generate_feedback hides the hidden tests (sources and tracebacks) and inlines MathJax, so math renders offline.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from instructor.grading import GENERATE_ASSIGNMENT, HideHiddenTests, OfflineFeedbackExporter  # noqa: E402
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

c = get_config()  # noqa: F821  (traitlets defines it in a config file)
c.CourseDirectory.course_id = "cnn-course"
c.Execute.timeout = 600  # seconds per cell; a chapter runs in quick mode when CNNLIB_QUICK=1 is set
c.GenerateAssignment.preprocessors = GENERATE_ASSIGNMENT
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
c.GenerateFeedback.exporter_class = OfflineFeedbackExporter
