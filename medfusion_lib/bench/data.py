"""``medfusion bench data``: cohort build time and size for 1,000 and 5,000 patients (target: 5,000 in ≤ 20 s)."""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from medfusion_lib.data import build_cohort

REPEATS = 3
#: Cohort sizes built in quick mode (a smoke run; the full run builds 1,000 and 5,000).
QUICK_SIZES = (300, 1000)


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def run(quick: bool = False):
    sizes = QUICK_SIZES if quick else (1000, 5000)
    repeats = 1 if quick else REPEATS
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            times = []
            for r in range(repeats):
                out = Path(tmp) / f"cohort_{n}_{r}"
                started = time.perf_counter()
                build_cohort(out, n_patients=n, seed=0)
                times.append(time.perf_counter() - started)
            size = _folder_bytes(out)
            median = statistics.median(times)
            results[str(n)] = {"seconds_median": median, "seconds": times, "bytes": size,
                               "patients_per_second": n / median}
            rows.append({"patients": n, "median s": median, "min s": min(times), "max s": max(times),
                         "MB on disk": size / 1e6, "patients/s": n / median})
    return rows, {"builds": results, "repeats": repeats}
