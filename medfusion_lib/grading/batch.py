"""Grade a class: find the submissions, fan out over local processes or a Dask cluster, save as we go.

Accepted layouts for each SUBMISSION argument (the student id is in brackets):

- a notebook file ``alice.ipynb``                                  [alice]
- a folder of notebooks ``submitted/alice.ipynb, submitted/bob.ipynb``   [alice, bob]
- a folder of student folders ``submitted/alice/00_warmup.ipynb``  [alice]; a student folder must hold
  ``<ASSIGNMENT>.ipynb`` or exactly one notebook.

Every other entry is listed as skipped with its reason (hidden files, ``.ipynb_checkpoints``, ``..ipynb``, a
folder named ``x.ipynb``, files that are not notebooks). Two submissions with one student id are a mistake
(exit 2), never a silent overwrite.

Each kernel runs in its own bubblewrap sandbox (``bwrap``); without it the batch refuses unless the
instructor says the class is trusted (``trusted=True``), and every result then carries a note saying so.
"""
from __future__ import annotations

import os
import re
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from medfusion_lib.errors import UserError
from medfusion_lib.grading.assignment import Assignment
from medfusion_lib.grading.feedback import feedback_html
from medfusion_lib.grading.grade import grade_submission
from medfusion_lib.grading.limits import Limits
from medfusion_lib.grading.results import ExerciseResult, SubmissionResult
from medfusion_lib.grading.store import (KERNEL_CACHES, cache_key, load_cached, load_reference, save_reference,
                                         save_result, write_histograms, write_tables)

_SAFE_ID = re.compile(r"[^A-Za-z0-9._@-]+")


def student_id(name: str) -> str:
    """A file-name-safe student id from a file or folder name."""
    cleaned = _SAFE_ID.sub("_", name).strip("._") or "student"
    return cleaned[:100]


def _skip_reason(path: Path) -> str | None:
    """Why ``path`` (an entry of a submissions folder) is not a submission, or None when it is one."""
    if path.name == ".ipynb_checkpoints":
        return "Jupyter's checkpoint folder"
    if path.name.startswith("."):
        return "hidden file or folder (name starts with a dot)"
    if path.is_dir() and path.suffix == ".ipynb":
        return "a folder named like a notebook"
    if path.is_file() and path.suffix != ".ipynb":
        return "not a .ipynb file"
    if path.is_symlink():
        return "a symbolic link (submit the file itself)"
    return None


def discover(paths: Iterable[str | Path], assignment: str,
             skipped: list[tuple[Path, str]] | None = None) -> list[tuple[str, Path]]:
    """(student id, notebook path) for every submission under ``paths`` (layouts in the module docstring).

    ``skipped`` (when given) receives (path, reason) for every entry that is not graded.
    """
    found: dict[str, Path] = {}
    skipped = skipped if skipped is not None else []

    def add(student: str, path: Path) -> None:
        student = student_id(student)
        if student in found and found[student].resolve() != path.resolve():
            raise UserError(f"two submissions for student {student!r}: {found[student]} and {path}; "
                            "rename one or grade them separately")
        found[student] = path

    for raw in paths:
        path = Path(raw)
        if path.is_file():
            add(path.stem, path)
        elif path.is_dir():
            for entry in sorted(path.iterdir()):
                reason = _skip_reason(entry)
                if reason:
                    skipped.append((entry, reason))
                elif entry.is_file():
                    add(entry.stem, entry)
                elif entry.is_dir():
                    notebooks = []
                    for inner in sorted(entry.iterdir()):
                        why = _skip_reason(inner)
                        if why or not inner.is_file():
                            skipped.append((inner, why or "a folder inside a student folder"))
                        else:
                            notebooks.append(inner)
                    named = entry / f"{assignment}.ipynb"
                    if named in notebooks:
                        add(entry.name, named)
                        skipped += [(p, f"{named.name} is graded for this student") for p in notebooks if p != named]
                    elif len(notebooks) == 1:
                        add(entry.name, notebooks[0])
                    elif notebooks:
                        raise UserError(f"{entry} holds {len(notebooks)} notebooks and none is named "
                                        f"{assignment}.ipynb; keep one per student folder")
                    else:
                        skipped.append((entry, "a folder with no notebook"))
                else:
                    skipped.append((entry, "not a regular file or folder"))
        else:
            raise UserError(f"no such submission file or folder: {path}")
    if not found:
        raise UserError(f"no submissions (.ipynb files) found in {', '.join(map(str, paths))}")
    return sorted(found.items())


@dataclass
class BatchReport:
    results: list[SubmissionResult] = field(default_factory=list)
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    reference_seconds: float = 0.0       # running the solution for the reference values (0 when cached)


def _crashed(student: str, assignment: Assignment, sha: str, exc: BaseException) -> SubmissionResult:
    message = f"the grader failed on this submission: {type(exc).__name__}: {exc}"[:300]
    return SubmissionResult(student, assignment.name, sha,
                            [ExerciseResult(ex, 0.0, float(mx), "error", message)
                             for ex, mx in assignment.exercises.items()], notes=[message])


def _run_local(tasks, assignment, limits, workers, options) -> Iterator[tuple[str, SubmissionResult]]:
    if workers <= 1:
        for student, data, sha in tasks:
            try:
                yield student, grade_submission(student, data, assignment, limits, **options)
            except Exception as exc:  # never let one submission stop the batch
                yield student, _crashed(student, assignment, sha, exc)
        return
    # Threads are enough: each kernel is its own (resource-limited) process, and a grader thread only
    # sends code and collects replies. No worker start-up cost, nothing to pickle.
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade") as pool:
        futures = {pool.submit(grade_submission, student, data, assignment, limits, **options): (student, sha)
                   for student, data, sha in tasks}
        for future in as_completed(futures):
            student, sha = futures[future]
            try:
                yield student, future.result()
            except Exception as exc:
                yield student, _crashed(student, assignment, sha, exc)


def _connect_dask(address: str):
    """A ``distributed.Client`` of the scheduler at ``address``, or a UserError that says why not.

    A ``tcp://`` scheduler that refuses the connection is reported at once: Dask itself would retry for the whole
    5-second timeout first.
    """
    try:
        from distributed import Client
        from distributed.comm.addressing import parse_address, parse_host_port
    except ImportError:
        raise UserError("--dask needs dask[distributed]: pip install 'dask[distributed]'") from None
    try:
        scheme, location = parse_address(address)
        if scheme == "tcp":
            socket.create_connection(parse_host_port(location), timeout=5).close()
        return Client(address, timeout="5s")
    except Exception as exc:  # OSError (refused, no route), TimeoutError, ValueError for a bad address
        raise UserError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _run_dask(tasks, assignment, limits, client, options) -> Iterator[tuple[str, SubmissionResult]]:
    """Each task carries the notebook's bytes and the assignment, so workers need no shared files
    (only the course package and, for cohort exercises, the built cohort)."""
    from distributed import as_completed as dask_completed

    futures = {client.submit(grade_submission, student, data, assignment, limits, **options, pure=False,
                             key=f"grade-{student}-{sha[:12]}"): (student, sha)
               for student, data, sha in tasks}
    for future in dask_completed(list(futures)):
        student, sha = futures[future]
        try:
            yield student, future.result()
        except Exception as exc:
            yield student, _crashed(student, assignment, sha, exc)


def prepare(assignment: Assignment) -> None:
    """Build the default cohort once before kernels start, so parallel kernels do not race to build it."""
    if not any("load_cohort(" in cell.source for cell in assignment.solution.cells):
        return
    try:
        from medfusion_lib.data import load_cohort

        load_cohort()
    except Exception:  # the kernels will report the problem in their own cells
        pass


def grade_batch(assignment: Assignment, submissions: list[tuple[str, Path]], out: Path, limits: Limits,
                workers: int = 1, force: bool = False, dask_address: str | None = None,
                progress: bool = True, trusted: bool = False, class_secret: str | None = None) -> BatchReport:
    """Grade every submission (skipping those already graded under the same key), save each as it
    finishes, then write grades.csv, summary.csv and histograms.png.

    ``trusted``: run kernels without the sandbox (refused otherwise when bwrap is missing); every result
    says so. ``class_secret``: draws this class's variant of the hidden inputs (``variant_of``).
    If the batch is interrupted, the tables are written from what was graded so far; a re-run resumes.
    """
    import hashlib

    from tqdm.auto import tqdm

    from medfusion_lib.grading.bwrap import require_bwrap, sandbox_available
    from medfusion_lib.grading.grade import reference_evidence
    from medfusion_lib.grading.store import load_key

    if not trusted and dask_address is None:
        require_bwrap()  # SandboxUnavailable names the package; the CLI turns it into one line
    out = Path(out)
    report = BatchReport()
    secret_key = load_key(out)
    variant = variant_of(class_secret, assignment.name)
    tasks, keys = [], {}
    for student, path in submissions:
        data = path.read_bytes()                      # read once; the file is never opened for writing
        sha = hashlib.sha256(data).hexdigest()
        keys[student] = cache_key(sha, assignment, limits, trusted=trusted, variant=variant)
        cached, problem = (None, None) if force else load_cached(out, student, keys[student], secret_key)
        if problem:
            report.warnings.append(problem)
        if cached is not None:
            report.results.append(cached)
            report.skipped.append(student)
        else:
            tasks.append((student, data, sha))
    # the scheduler first: an unreachable one is an error before any kernel runs or any table is written
    client = _connect_dask(dask_address) if dask_address and tasks else None
    try:
        if tasks:
            prepare(assignment)
            sandboxed = not trusted and sandbox_available()
            # The solution's values, once per class (cached in --out, tagged like the results).
            reference_key = cache_key("reference", assignment, limits, trusted=not sandboxed, variant=variant)
            reference = None if force else load_reference(out, reference_key, secret_key)
            # The solution run's course caches (features keyed on code and cohort), for every student's kernel.
            warm_cache = out / KERNEL_CACHES / reference_key
            if reference is None:
                started = time.perf_counter()
                reference = reference_evidence(assignment, limits, sandboxed=sandboxed, variant=variant,
                                               keep_cache=warm_cache)
                report.reference_seconds = time.perf_counter() - started
                save_reference(out, reference_key, reference, secret_key)
            options = {"reference": reference, "sandboxed": sandboxed, "variant": variant,
                       "warm_cache": warm_cache}
            runner = (_run_dask(tasks, assignment, limits, client, options) if client is not None
                      else _run_local(tasks, assignment, limits, max(1, min(workers, len(tasks))), options))
            bar = tqdm(total=len(tasks), desc=f"grading {assignment.name}", unit="nb", disable=not progress,
                       file=sys.stderr)
            with bar:
                for student, result in runner:
                    if not sandboxed:
                        result.notes.append(TRUSTED_NOTE)
                    # Written after this submission's sandbox is gone; the result (tagged) goes last.
                    save_result(out, result, keys[student], feedback_html(result), secret_key)
                    result.executed = None                # written; do not keep every notebook in memory
                    report.results.append(result)
                    report.graded.append(student)
                    bar.set_postfix_str(f"{student}: {result.points:g}/{result.max_points:g}")
                    bar.update()
    except KeyboardInterrupt:
        report.interrupted = True
        report.warnings.append(f"interrupted: {len(report.graded)} of {len(tasks)} submissions graded this run are "
                               "saved; run the same command again to grade the rest")
    finally:
        if client is not None:
            client.close()
        write_tables(out, report.results)
    if not report.interrupted:
        write_histograms(out, report.results)
    if assignment.source_changed():
        report.warnings.append(f"{assignment.path} changed while grading; restore it from version control and "
                               "re-grade with --force")
    return report


TRUSTED_NOTE = "graded WITHOUT a sandbox (--trusted-class): the kernel could read and change the grader's files"


def variant_of(class_secret: str | None, assignment: str) -> int:
    """This class's VARIANT for the hidden probes: 0 without a secret, else a number drawn from it."""
    if not class_secret:
        return 0
    import hmac

    digest = hmac.new(class_secret.encode(), f"variant:{assignment}".encode(), "sha256").digest()
    return 1 + int.from_bytes(digest[:4], "big") % 1_000_000


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
