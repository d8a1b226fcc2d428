"""The course's nbgrader setup: the student version of a chapter (learner/ and nbgrader's release are the
same notebook) and what the feedback may show. Used by tools/nb.py and instructor/nbgrader_config.py."""

CHECK = "NBVAL_CHECK_OUTPUT"  # the first line "# NBVAL_CHECK_OUTPUT": nbval compares the cell's output
CODE_STUB = 'raise NotImplementedError("Exercise: write your solution here")'  # a solution inside a function
TOP_LEVEL_STUB = "# YOUR CODE HERE"  # a solution at the top level of a cell (its answers are named above it)
MARKDOWN_STUB = "YOUR ANSWER HERE"  # a written answer (nbgrader's default text stub)
