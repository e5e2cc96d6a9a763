"""Instructor grading (``medfusion grade``) and learner self-checks (``medfusion check``).

One submission goes through small steps, one module each:

- ``assignment``: the instructor's source notebook (solutions/NN.ipynb) and what it grades;
- ``validate``: is the submission a readable nbformat-4 notebook holding the graded cells?
- ``restore``: put back the instructor's test and read-only cells, noting any edit as tampering;
- ``review``: notes on student cells worth a human look (file access, leaving the kernel, ...);
- ``execute``: run it with papermill on a resource-limited kernel (``kernel``, ``sandbox``, ``limits``);
- ``score``: points and a status per exercise (``results`` holds the data classes);
- ``grade``: the steps above for one submission, never raising for a bad one;
- ``feedback``: the student's HTML report and the terminal table (hidden tests by name only);
- ``store``: per-student results keyed by content hash (resume), grades.csv, summary.csv, histograms;
- ``batch``: find submissions, fan out over processes or a Dask cluster, with a progress bar.
"""
from medfusion_lib.grading.limits import Limits
from medfusion_lib.grading.results import EXERCISE_STATUSES, ExerciseResult, SubmissionResult

__all__ = ["EXERCISE_STATUSES", "ExerciseResult", "Limits", "SubmissionResult"]
