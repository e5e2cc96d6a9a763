"""Shared helpers for the grading tests (imported by tests/test_grading_*.py)."""
from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))

import hostile  # noqa: E402  (path set just above)
import pytest  # noqa: E402

from medfusion_lib.grading.bwrap import sandbox_available  # noqa: E402

#: Grading tests run kernels in bubblewrap; `make test` installs it (`make system-deps`) where it can.
needs_sandbox = pytest.mark.skipif(not sandbox_available(),
                                   reason="bubblewrap (bwrap) missing or not working: run `make system-deps`")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hashes(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.glob("*.ipynb"))}


def read_grades(out: Path) -> dict[str, dict[str, dict]]:
    """student -> exercise -> row of grades.csv."""
    table: dict[str, dict[str, dict]] = {}
    with open(out / "grades.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            table.setdefault(row["student"], {})[row["exercise"]] = row
    return table


def statuses(out: Path) -> dict[str, dict[str, str]]:
    return {s: {e: r["status"] for e, r in rows.items()} for s, rows in read_grades(out).items()}
