"""Prose the notebook checks: a lesson's sentence about its own output, verified by the cell that made it.

A lesson that writes "the validation loss turns up before the last epoch" backs it with::

    claim(best_epoch < num_epochs, "the validation loss turns up before the last epoch")

When the run agrees, the cell prints a one-line tick so a reader sees the sentence was checked. When it
does not, ``ClaimError`` stops the notebook (and fails it under nbval and ``make run``), naming the sentence,
so prose can never silently drift away from the numbers printed beside it.
"""
from __future__ import annotations

import numbers


class ClaimError(AssertionError):
    """A sentence in the lesson's prose is false for this run."""


def claim(condition, statement: str, detail: str | None = None) -> None:
    """Check one sentence of the prose against this run's numbers; raises ``ClaimError`` when it is false.

    Returns None, so a claim on a cell's last line echoes nothing but its tick.

    ``condition``: a bool (or numpy bool) computed from the outputs; ``statement``: the sentence as the prose
    says it; ``detail``: the numbers behind it, shown either way (e.g. ``f"{a:.3f} vs {b:.3f}"``).
    """
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("claim needs the sentence it checks, e.g. claim(a > b, 'fusion beats text alone')")
    if not isinstance(condition, (bool, numbers.Integral)) and not hasattr(condition, "__bool__"):
        raise TypeError(f"claim's condition must be a bool; got {type(condition).__name__}")
    try:
        holds = bool(condition)
    except ValueError as exc:  # an array of booleans: say which reduction was meant
        raise TypeError("claim's condition must be one bool; for arrays use .all() or .any()") from exc
    suffix = f" ({detail})" if detail else ""
    if not holds:
        raise ClaimError(f"The lesson says: \u201c{statement}\u201d \u2014 but this run shows otherwise{suffix}. "
                         "Fix the prose or the analysis, not the check.")
    print(f"\u2713 checked: {statement}{suffix}")
