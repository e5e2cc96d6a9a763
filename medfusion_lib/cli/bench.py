"""``medfusion bench NAME [--quick] [--busy] [--cold] [--lessons 06,07] [--full-only] [--save-costs]``."""
from __future__ import annotations


def register(subparsers) -> None:
    from medfusion_lib.bench import benchmark_names

    parser = subparsers.add_parser("bench", help="run a benchmark: print a table, write build/bench/NAME.json")
    parser.add_argument("name", choices=benchmark_names(), help="which benchmark")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run (for CI smoke tests)")
    parser.add_argument("--out", default=None, help="folder for the JSON (default build/bench)")
    parser.add_argument("--busy", action="store_true", default=None,
                        help="course: run beside one CPU-bound process (a busy laptop)")
    parser.add_argument("--cold", action="store_true", default=None,
                        help="course: start from an empty build folder (no cached features or models: a first run)")
    parser.add_argument("--lessons", default=None, help="course: only these lessons, e.g. 06,07")
    parser.add_argument("--full-only", dest="full_only", action="store_true", default=None,
                        help="course: full mode only (make test already times quick mode)")
    parser.add_argument("--save-costs", dest="save_costs", action="store_true", default=None,
                        help="tests: write each file's seconds to tests/file_costs.json (orders later runs)")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    from pathlib import Path

    from medfusion_lib.bench import run_bench

    options = {k: v for k, v in (("busy", args.busy), ("cold", args.cold), ("lessons", args.lessons),
                                 ("full_only", args.full_only), ("save_costs", args.save_costs)) if v is not None}
    run_bench(args.name, quick=args.quick, out_dir=Path(args.out) if args.out else None, **options)
    return 0
