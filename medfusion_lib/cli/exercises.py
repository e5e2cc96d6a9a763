"""``medfusion exercises build|check``: generate the student copies in exercises/ from solutions/."""
from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("exercises", help="build or check exercises/ (student copies of solutions/)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    for action, help_text in (("build", "write exercises/ from solutions/ (answers stubbed, hidden tests removed)"),
                              ("check", "fail when exercises/ is stale, metadata is missing or anything leaks")):
        p = sub.add_parser(action, help=help_text)
        p.add_argument("--source", "--solutions", dest="solutions", default=None, metavar="DIR",
                       help="source folder in the one-source format, e.g. your private copy (default: <repo>/solutions)")
        p.add_argument("--exercises", default=None, help="output folder (default: <repo>/exercises)")
        p.set_defaults(func=_build if action == "build" else _check)


def _folders(args) -> tuple[Path, Path]:
    from medfusion_lib.config import repo_root
    from medfusion_lib.errors import UserError

    solutions = Path(args.solutions) if args.solutions else repo_root() / "solutions"
    exercises = Path(args.exercises) if args.exercises else repo_root() / "exercises"
    if not solutions.is_dir():
        raise UserError(f"no solutions folder at {solutions}; pass --solutions DIR")
    return solutions, exercises


def _build(args) -> int:
    from medfusion_lib.authoring import AuthoringError, build_exercises
    from medfusion_lib.errors import UserError

    solutions, exercises = _folders(args)
    try:
        written = build_exercises(solutions, exercises)
    except AuthoringError as exc:
        for problem in exc.problems:
            print(f"problem: {problem}", file=sys.stderr)
        raise UserError(f"{len(exc.problems)} problem(s) in {solutions}; fix them, nothing was written") from None
    except OSError as exc:
        raise UserError(f"cannot write {exercises}: {exc.strerror or exc}") from None
    for path in written:
        print(f"wrote {path}")
    print(f"exercises up to date in {exercises} ({len(written)} file(s) changed)")
    return 0


def _check(args) -> int:
    from medfusion_lib.authoring import check_exercises

    solutions, exercises = _folders(args)
    problems = check_exercises(solutions, exercises)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if problems:
        print(f"medfusion exercises check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"exercises check: {exercises} matches {solutions}, no leaks")
    return 0
