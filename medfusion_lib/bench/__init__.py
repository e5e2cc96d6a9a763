"""``medfusion bench NAME``: each benchmark prints a table and writes ``build/bench/NAME.json``.

A benchmark is a module ``medfusion_lib/bench/NAME.py`` with a function ``run(quick: bool) -> (rows, payload)``:
``rows`` is a list of dicts printed as a table, ``payload`` a JSON-able dict written to the file. Adding the
module adds the benchmark.
"""
from __future__ import annotations

import importlib
import json
import platform
import time
from pathlib import Path

from medfusion_lib.atomic import atomic_write_text
from medfusion_lib.config import build_dir
from medfusion_lib.errors import UserError
from medfusion_lib.tables import format_table  # noqa: F401  (re-exported: bench prints tables)



def benchmark_names() -> list[str]:
    """Every module in this package (not starting with ``_``) is a benchmark."""
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def run_bench(name: str, quick: bool = False, out_dir: Path | None = None, **options) -> Path:
    """Run benchmark ``name``; print its table; write its JSON; return the JSON path.

    ``options`` (e.g. ``busy=True`` for ``course``) go to the benchmark's ``run``; one it does not take is an error.
    """
    import inspect

    if name not in benchmark_names():
        raise UserError(f"unknown benchmark {name!r}; choose one of: {', '.join(benchmark_names())}")
    func = importlib.import_module(f"medfusion_lib.bench.{name}").run
    unknown = set(options) - set(inspect.signature(func).parameters)
    if unknown:
        raise UserError(f"benchmark {name!r} takes no option {', '.join(sorted('--' + o for o in unknown))}")
    started = time.time()
    rows, payload = func(quick=quick, **options)
    payload = {
        "benchmark": name,
        "quick": quick,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpu_count": __import__("os").cpu_count()},
        "wall_seconds": round(time.time() - started, 3),
        **payload,
    }
    out = (out_dir or build_dir() / "bench") / f"{name}.json"
    atomic_write_text(out, json.dumps(payload, indent=2, sort_keys=True, default=float) + "\n")
    print(format_table(rows))
    print(f"\nwrote {out}")
    return out
