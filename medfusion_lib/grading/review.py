"""Flag student code worth a human look: reading files, leaving the kernel, touching the environment.

A note, never a penalty: plenty of honest code opens a file. The sandbox stops such code reaching anything
outside it; these notes point the instructor at code that tried, in ``executed/<student>.ipynb``.
"""
from __future__ import annotations

import re

PATTERNS = {
    "reads or writes files": r"\bopen\(|\.read_text\(|\.read_bytes\(|\.write_text\(|\.write_bytes\(",
    "walks the file system": r"\bos\.walk\(|\bglob\(|\.rglob\(|\bos\.listdir\(|\bos\.scandir\(",
    "deletes files": r"\bshutil\.rmtree\(|\bos\.remove\(|\bos\.unlink\(|\.unlink\(",
    "mentions the solutions": r"solutions|BEGIN SOLUTION|HIDDEN TESTS|nbgrader",
    "ends the process": r"\bos\._exit\(|\bsys\.exit\(|\bos\.kill\(",
    "runs other programs": r"\bsubprocess\b|\bos\.system\(|\bos\.popen\(|\bpty\b",
    "changes signal handling": r"\bsignal\.signal\(",
    "reads the environment": r"\bos\.environ\b|\bos\.getenv\(",
    "loads native code": r"\bctypes\b|\bcffi\b",
}
_COMPILED = {reason: re.compile(pattern) for reason, pattern in PATTERNS.items()}


def review_notes(cells) -> list[str]:
    """One note per student cell that matches a pattern: ``review: cell <id> reads or writes files, ...``."""
    notes = []
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        reasons = [reason for reason, pattern in _COMPILED.items() if pattern.search(cell.source)]
        if reasons:
            notes.append(f"review: cell {cell.get('id') or index} {', '.join(reasons)}")
    return notes
