"""``medfusion course run [--quick]``: execute every lesson into build/ and write the report."""
from __future__ import annotations


def register(subparsers) -> None:
    course = subparsers.add_parser("course", help="run the whole course (what `make run` does)")
    actions = course.add_subparsers(dest="course_command", metavar="ACTION")
    actions.required = True
    run = actions.add_parser("run", help="build the cohort, execute every lesson with papermill, write build/report.md")
    run.add_argument("--quick", action="store_true", help="quick mode: smaller data, fewer epochs")
    run.add_argument("--seed", type=int, default=0)
    run.set_defaults(func=_run)


def _run(args) -> int:
    from medfusion_lib.course import run_course

    report, results = run_course(quick=args.quick, seed=args.seed)
    failed = [name for name, _path, _seconds, error in results if error]
    for name, _path, seconds, error in results:
        print(f"{name:45s} {seconds:7.1f} s  {'FAILED: ' + error if error else 'ok'}")
    print(f"\nreport: {report}")
    if failed:
        print(f"{len(failed)} lesson(s) failed: {', '.join(failed)}")
        return 1
    return 0
