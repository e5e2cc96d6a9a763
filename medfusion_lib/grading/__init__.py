"""Instructor grading (``medfusion grade``) and learner self-checks (``medfusion check``).

One submission goes through small steps, one module each:

- ``assignment``: the instructor's source notebook (solutions/NN.ipynb or a private ``--source``);
- ``testcell``: a test cell's probe (runs in the student's kernel) and checks (run in the judge);
- ``validate``: is the submission a readable nbformat-4 notebook holding the graded cells?
- ``restore``: put back the instructor's read-only cells (edits are tampering), probes in, hidden probes last;
- ``review``: notes on student cells worth a human look (file access, leaving the kernel, ...);
- ``execute``: run it with papermill on a kernel in a bubblewrap sandbox (``bwrap``) with resource limits
  (``kernel``, ``sandbox``, ``limits``), over IPC; evidence from capture cells only, outputs capped in bytes;
- ``checks`` / ``plaindata``: what probes use in the kernel, and the plain data that leaves it;
- ``judge``: a fresh trusted process runs the checks on plain data against the solution's values;
- ``score``: points (from the judge only) and a status per exercise (``results`` holds the data classes);
- ``grade``: the steps above for one submission, never raising for a bad one; the reference run;
- ``feedback``: the student's HTML report and the terminal table (hidden tests by name only);
- ``store``: HMAC-tagged per-student results (resume), grades.csv, summary.csv, histograms;
- ``batch``: find submissions, fan out over threads or a Dask cluster, write as each finishes.
"""
from medfusion_lib.grading.limits import Limits
from medfusion_lib.grading.results import EXERCISE_STATUSES, ExerciseResult, SubmissionResult

__all__ = ["EXERCISE_STATUSES", "ExerciseResult", "Limits", "SubmissionResult"]
