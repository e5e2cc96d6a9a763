"""``medfusion site build [--quick]``: the course website in build/site/ (what `make site` does)."""
from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    site = subparsers.add_parser("site", help="the course website: executed lessons, exercises, solutions")
    actions = site.add_subparsers(dest="site_command", metavar="ACTION")
    actions.required = True
    build = actions.add_parser("build", help="build build/site/ from the executed lessons (runs those missing)")
    build.add_argument("--quick", action="store_true", help="from quick-mode runs (what CI uses)")
    build.add_argument("--out", type=Path, default=None, help="output folder (default: build/site)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--lessons", default=None, metavar="NN,NN",
                       help="only these lessons' pages (numbers or names, comma-separated): a quick preview")
    build.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    build.set_defaults(func=_build)


def _build(args) -> int:
    from medfusion_lib.site import build_site

    lessons = [name.strip() for name in args.lessons.split(",") if name.strip()] if args.lessons else None
    result = build_site(quick=args.quick, out=args.out, seed=args.seed, force=args.force, lessons=lessons)
    verb = "reused (nothing changed)" if result.reused else "built"
    ran = f"; ran {len(result.ran_lessons)} lesson(s) first" if result.ran_lessons else ""
    print(f"site {verb}: {result.site}  ({result.mode} mode, {result.pages} pages, "
          f"{result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s{ran})")
    if result.warnings:
        print(f"{result.warnings} Sphinx warning(s): see {result.log}")
    print(f"open {result.site / 'index.html'}  or serve it: python -m http.server -d {result.site}")
    return 0
