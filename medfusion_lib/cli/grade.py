"""``medfusion grade ASSIGNMENT SUBMISSION... --out DIR`` (instructors) and ``medfusion check NOTEBOOK`` (learners)."""
from __future__ import annotations

import sys
from pathlib import Path


def _limit_options(parser, cell_timeout: float, timeout: float) -> None:
    parser.add_argument("--cell-timeout", type=float, default=cell_timeout, metavar="SECONDS",
                        help=f"wall-clock limit per cell (default {cell_timeout:g})")
    parser.add_argument("--timeout", type=float, default=timeout, metavar="SECONDS",
                        help=f"wall-clock limit per notebook (default {timeout:g})")
    parser.add_argument("--memory-mb", type=int, default=3072, metavar="M",
                        help="memory each kernel may allocate, in MB (default 3072; PyTorch alone takes ~1000)")
    parser.add_argument("--cpu-seconds", type=int, default=None, metavar="S",
                        help="CPU-time limit of each kernel (default: the notebook timeout)")
    parser.add_argument("--seed", type=int, default=0, help="SEED passed to the notebook (default 0)")
    parser.add_argument("--full", action="store_true", help="run in full mode (default: QUICK=True)")
    parser.add_argument("--source", "--solutions", dest="solutions", default=None, metavar="DIR",
                        help="the assignment source: a folder of solution notebooks in the one-source format, e.g. "
                             "your private copy (default: <repo>/solutions)")


def register(subparsers) -> None:
    grade = subparsers.add_parser(
        "grade", help="grade a class's submissions with papermill: grades.csv, summary.csv, feedback/",
        description="Grade submissions of ASSIGNMENT (a notebook stem in solutions/, e.g. 00_warmup). "
                    "SUBMISSION: a notebook, a folder of <student>.ipynb, or a folder of <student>/ folders. "
                    "Exit 0 when the batch completed (whatever the scores), 2 on misuse.")
    grade.add_argument("assignment", help="assignment name, e.g. 00_warmup (solutions/00_warmup.ipynb)")
    grade.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="notebook file(s) or folder(s)")
    grade.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    grade.add_argument("--workers", type=int, default=None, metavar="N",
                       help="kernels run at once (default: the number of cores)")
    grade.add_argument("--force", action="store_true", help="re-grade submissions already graded")
    grade.add_argument("--dask", default=None, metavar="SCHEDULER_ADDRESS",
                       help="fan out on a Dask distributed cluster instead of local processes")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    grade.add_argument("--released", action="append", default=[], metavar="NOTEBOOK",
                       help="an earlier released exercise copy whose test cells count as unedited "
                            "(after you fixed a visible test; repeatable)")
    grade.add_argument("--trusted-class", action="store_true",
                       help="run kernels WITHOUT the bubblewrap sandbox (only for code you trust; every result "
                            "says so). Without this flag, grading refuses to start when bwrap is missing")
    grade.add_argument("--class-secret-file", default=None, metavar="FILE",
                       help="a file holding this class's secret (or set MEDFUSION_CLASS_SECRET): hidden probes "
                            "draw this class's own inputs from it, so the published answers do not pass by rote")
    _limit_options(grade, cell_timeout=60, timeout=600)
    grade.set_defaults(func=_grade)

    check = subparsers.add_parser(
        "check", help="self-check your exercise notebook with the grader (per-exercise table)",
        description="Grade your own copy of an exercise notebook with the same machinery as the instructor.")
    check.add_argument("notebook", help="your notebook, e.g. exercises/00_warmup.ipynb")
    check.add_argument("--assignment", default=None,
                       help="assignment name (default: from the notebook's metadata or file name)")
    _limit_options(check, cell_timeout=120, timeout=900)
    check.set_defaults(func=_check)


def _limits(args):
    from medfusion_lib.errors import UserError
    from medfusion_lib.grading.limits import Limits

    try:
        return Limits(cell_timeout=args.cell_timeout, timeout=args.timeout, memory_mb=args.memory_mb,
                      cpu_seconds=args.cpu_seconds, seed=args.seed, quick=not args.full)
    except ValueError as exc:
        raise UserError(f"{exc} (see --help)") from None


def _assignment(name: str, solutions: str | None):
    from medfusion_lib.errors import UserError
    from medfusion_lib.grading.assignment import load_assignment

    try:
        return load_assignment(name, solutions)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _writable(out: Path) -> None:
    from medfusion_lib.errors import UserError

    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".medfusion-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to --out {out}: {exc.strerror or exc}; choose a writable folder") from None


def _class_secret(args) -> str | None:
    import os

    from medfusion_lib.errors import UserError

    if args.class_secret_file:
        try:
            secret = Path(args.class_secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(f"cannot read --class-secret-file {args.class_secret_file}: {exc.strerror or exc}") from None
        if len(secret) < 8:
            raise UserError("the class secret must be at least 8 characters; e.g. `openssl rand -hex 16 > secret`")
        return secret
    return os.environ.get("MEDFUSION_CLASS_SECRET") or None


def _out_outside(out: Path, submissions: list[str]) -> None:
    from medfusion_lib.errors import UserError

    resolved = out.resolve()
    for raw in submissions:
        folder = Path(raw).resolve()
        if folder.is_dir() and (resolved == folder or folder in resolved.parents):
            raise UserError(f"--out {out} is inside the submissions folder {raw}: a re-run would grade the "
                            "grader's own files; choose a folder outside it")


def _grade(args) -> int:
    from medfusion_lib.errors import UserError
    from medfusion_lib.grading.batch import default_workers, discover, grade_batch
    from medfusion_lib.grading.bwrap import SandboxUnavailable
    from medfusion_lib.grading.feedback import terminal_table

    limits = _limits(args)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1; got {args.workers}")
    assignment = _assignment(args.assignment, args.solutions)
    for released in args.released:
        from medfusion_lib.grading.assignment import accept_released

        try:
            accept_released(assignment, released)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    out = Path(args.out)
    _out_outside(out, args.submissions)
    skipped: list = []
    submissions = discover(args.submissions, assignment.name, skipped)
    _writable(out)
    workers = args.workers or default_workers()
    try:
        report = grade_batch(assignment, submissions, out, limits, workers=workers, force=args.force,
                             dask_address=args.dask, progress=not args.no_progress, trusted=args.trusted_class,
                             class_secret=_class_secret(args))
    except SandboxUnavailable as exc:
        raise UserError(str(exc)) from None
    except ValueError as exc:   # the solution's own run failed: the instructor must fix the source
        raise UserError(str(exc)) from None
    print(terminal_table(report.results))
    for path, reason in skipped:
        print(f"medfusion grade: skipped {path}: {reason}", file=sys.stderr)
    for warning in report.warnings:
        print(f"medfusion grade: warning: {warning}", file=sys.stderr)
    if args.trusted_class:
        print("medfusion grade: graded WITHOUT a sandbox (--trusted-class); the results say so", file=sys.stderr)
    print(f"\ngraded {len(report.graded)}, skipped {len(report.skipped)} already graded (use --force to redo); "
          f"wrote {out / 'grades.csv'}, {out / 'summary.csv'}, {out / 'histograms.png'}, feedback in {out / 'feedback'}")
    return 130 if report.interrupted else 0


def _check(args) -> int:
    import json

    from medfusion_lib.errors import UserError
    from medfusion_lib.grading.feedback import exercise_table
    from medfusion_lib.grading.grade import grade_submission

    path = Path(args.notebook)
    if not path.is_file():
        raise UserError(f"no notebook at {path}")
    name = args.assignment
    if name is None:
        try:
            name = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("medfusion", {}).get(
                "assignment")
        except (OSError, ValueError, AttributeError):
            name = None
        name = name or path.stem
    limits = _limits(args)
    assignment = _assignment(name, args.solutions)
    from medfusion_lib.grading.batch import prepare

    prepare(assignment)
    print(f"checking {path} against {assignment.name} (this runs the solution, then your notebook; a minute or "
          "so)...")
    # A self-check grades your own code on your own machine: no sandbox, one kernel at a time.
    result = grade_submission(path.stem, path.read_bytes(), assignment, limits, sandboxed=False)
    print(exercise_table(result))
    for note in result.notes:
        print(f"note: {note}")
    print(f"\ntotal: {result.points:g}/{result.max_points:g}. Hidden tests are named, not shown: passing the "
          "visible checks is not enough on its own.")
    return 0
