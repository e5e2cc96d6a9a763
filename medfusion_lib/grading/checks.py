"""What test cells use in one kernel (Jupyter, nbval, a learner's run) and how the grader captures evidence.

- ``expected.NAME``: the reference value of a probed name. In one kernel it is the notebook's own ``NAME``
  (so a value check on it passes trivially there); the grader's judge binds the value the *solution* produced
  for the same probe (docs: /work/notes/grading-contract.md, docs/instructors.md).
- ``raises(fn, *args, **kwargs)``: the name of the exception a call raises, or None — a plain fact a probe
  can record.
- ``capture(key, names)``: run by the grader after each probe, in the student's kernel: sends the named
  values as plain data (``plaindata.encode``) in one display output of type ``EVIDENCE_MIME``.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

EVIDENCE_MIME = "application/vnd.medfusion.evidence+json"


class _Expected:
    """``expected.NAME`` / ``expected["NAME"]``: the caller's own global ``NAME`` in one kernel."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        frame = sys._getframe(1)
        try:
            return frame.f_globals[name]
        except KeyError:
            raise AttributeError(f"expected.{name}: no probed value named {name!r}") from None

    def __getitem__(self, name: str) -> Any:
        frame = sys._getframe(1)
        return frame.f_globals[name]

    def __repr__(self) -> str:
        return "<expected: the reference values (this kernel's own in a notebook run)>"


expected = _Expected()


def raises(fn: Callable, *args, **kwargs) -> str | None:
    """The class name of the exception ``fn(*args, **kwargs)`` raises, or None when it returns."""
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # a probe records the fact; the judge decides
        return type(exc).__name__
    return None


def forget(names: list[str]) -> None:
    """Delete ``names`` from the caller's globals, so a failed probe cannot leave an older value behind."""
    namespace = sys._getframe(1).f_globals
    for name in names:
        namespace.pop(name, None)


def capture(key: str, names: list[str]) -> None:
    """Display the caller's values of ``names`` as plain data (missing names are reported as missing)."""
    from IPython.display import display

    from medfusion_lib.grading.plaindata import encode

    namespace = sys._getframe(1).f_globals
    values, missing, failed = {}, [], {}
    for name in names:
        if name not in namespace:
            missing.append(name)
            continue
        try:
            values[name] = encode(namespace[name])
        except Exception as exc:  # too large, too deep: the judge says so
            failed[name] = f"{type(exc).__name__}: {exc}"[:200]
    display({EVIDENCE_MIME: {"key": key, "values": values, "missing": missing, "failed": failed}}, raw=True)
