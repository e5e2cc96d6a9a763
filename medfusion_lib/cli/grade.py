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
    parser.add_argument("--solutions", default=None, metavar="DIR",
                        help="where the solution notebooks are (default: <repo>/solutions)")


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


def _grade(args) -> int:
    from medfusion_lib.errors import UserError
    from medfusion_lib.grading.batch import default_workers, discover, grade_batch
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
    submissions = discover(args.submissions, assignment.name)
    out = Path(args.out)
    _writable(out)
    workers = args.workers or default_workers()
    report = grade_batch(assignment, submissions, out, limits, workers=workers, force=args.force,
                         dask_address=args.dask, progress=not args.no_progress)
    print(terminal_table(report.results))
    for warning in report.warnings:
        print(f"medfusion grade: warning: {warning}", file=sys.stderr)
    print(f"\ngraded {len(report.graded)}, skipped {len(report.skipped)} already graded (use --force to redo); "
          f"wrote {out / 'grades.csv'}, {out / 'summary.csv'}, {out / 'histograms.png'}, feedback in {out / 'feedback'}")
    return 0


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
    print(f"checking {path} against {assignment.name} (this runs your notebook; a minute or so)...")
    result = grade_submission(path.stem, path.read_bytes(), assignment, limits)
    print(exercise_table(result))
    for note in result.notes:
        print(f"note: {note}")
    print(f"\ntotal: {result.points:g}/{result.max_points:g}. Hidden tests are named, not shown: passing the "
          "visible checks is not enough on its own.")
    return 0
