"""The trusted judge: runs every test cell's checks on plain data, in a fresh process, never in the kernel.

Input (JSON on stdin): the checks of each test cell (from the instructor's source), the evidence the
student's kernel sent (plain data, ``plaindata``), and the reference evidence the solution's run sent for the
same probes. Output (JSON on stdout): for each test cell, whether its visible and hidden checks pass and the
message of the first failing visible check. Nothing here imports or runs student code: values are rebuilt from
JSON as plain types, so an answer object cannot take part in a comparison.

``judge_submission`` starts the process (with a memory limit and a timeout) and reads its answer.
"""
from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from typing import Any

CHECK_SECONDS = 60
MESSAGE_CHARS = 300


class _Reference:
    """``expected.NAME`` in the judge: the solution's value of a probed name."""

    def __init__(self, values: dict[str, Any]):
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            if name in self.__dict__.get("_values", {}):
                return self._values[name]
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"the solution's run produced no value named {name!r}") from None

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)


class _Unreadable:
    def __init__(self, why: str):
        self.why = why

    def __getattr__(self, name):
        raise ValueError(self.why)

    def __bool__(self):
        raise ValueError(self.why)

    def __eq__(self, other):
        return False

    __hash__ = None


def _values(payload: dict | None) -> tuple[dict[str, Any], dict[str, str]]:
    """(name -> decoded value, name -> why it is unusable) from one capture's evidence."""
    from medfusion_lib.grading.plaindata import PlainDataError, decode

    values, problems = {}, {}
    if not isinstance(payload, dict):
        return values, problems
    raw = payload.get("values")
    for name, obj in (raw.items() if isinstance(raw, dict) else []):
        try:
            values[str(name)] = decode(obj)
        except (PlainDataError, ValueError, TypeError, RecursionError) as exc:
            problems[str(name)] = f"`{name}` could not be read as plain data ({exc})"
    for name, why in (payload.get("failed") or {}).items() if isinstance(payload.get("failed"), dict) else []:
        problems[str(name)] = f"`{name}` could not be sent: {str(why)[:200]}"
    return values, problems


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _run(code: str, namespace: dict, label: str) -> tuple[bool, str]:
    """(passed, message) of one block of checks."""
    if not code.strip():
        return True, ""
    try:
        exec(compile(code, f"<{label}>", "exec"), namespace)
    except AssertionError as exc:
        return False, _short(str(exc) or f"a check failed ({label})")
    except NameError as exc:
        name = getattr(exc, "name", None) or str(exc)
        return False, _short(f"`{name}` was not produced: the code above the checks failed before assigning it")
    except _Timeout:
        return False, f"the checks took longer than {CHECK_SECONDS} s"
    except Exception as exc:  # a check on a wrong-typed answer raises; that is a failed check
        return False, _short(f"{type(exc).__name__}: {exc}")
    return True, ""


def _imported_on_first_use(name: str):
    """The module ``name``, executed only when one of its attributes is first read (``importlib.util.LazyLoader``)."""
    import importlib.util

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def judge(job: dict) -> dict:
    """Outcome per test cell: {"visible": bool, "hidden": bool | None, "message": str}."""
    import numpy as np

    from medfusion_lib.grading.checks import raises

    pd = _imported_on_first_use("pandas")  # most checks never touch it, and importing it is most of a judge's time

    evidence, reference = job.get("evidence") or {}, job.get("reference") or {}
    outcomes = {}
    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, _alarm)
    for test in job["tests"]:
        gid = test["grade_id"]
        student_visible, broken_visible = _values(evidence.get(gid))
        student_hidden, broken_hidden = _values(evidence.get(f"{gid}#hidden"))
        ref_visible, _ = _values(reference.get(gid))
        ref_hidden, _ = _values(reference.get(f"{gid}#hidden"))
        namespace = {"np": np, "pd": pd, "math": math, "raises": raises, "__name__": "__judge__",
                     "expected": _Reference({**ref_visible, **ref_hidden})}
        for name, why in broken_visible.items():
            namespace[name] = _Unreadable(why)
        namespace.update({k: v for k, v in student_visible.items() if k in test["visible"]})
        if hasattr(signal, "SIGALRM"):
            signal.alarm(CHECK_SECONDS)
        try:
            visible_ok, message = _run(test["checks"], namespace, f"{gid} checks")
            for name, why in broken_hidden.items():
                namespace[name] = _Unreadable(why)
            namespace.update({k: v for k, v in student_hidden.items() if k in test["hidden"]})
            hidden_ok = None
            if test["hidden_checks"].strip():
                hidden_ok, _ = _run(test["hidden_checks"], namespace, f"{gid} hidden tests")
        finally:
            if hasattr(signal, "SIGALRM"):
                signal.alarm(0)
        if not visible_ok and broken_visible:
            message = _short(next(iter(broken_visible.values())))
        outcomes[gid] = {"visible": visible_ok, "hidden": hidden_ok, "message": message}
    return outcomes


def judge_submission(tests: list[dict], evidence: dict, reference: dict, memory_mb: int = 4096,
                     timeout: float = 600.0) -> dict:
    """Run ``judge`` in a fresh Python process (memory-limited); {} and a reason on failure."""
    from medfusion_lib.grading.sandbox import apply_limits

    payload = json.dumps({"tests": tests, "evidence": evidence, "reference": reference}).encode()
    try:
        done = subprocess.run([sys.executable, "-m", "medfusion_lib.grading.judge"], input=payload,
                              capture_output=True, timeout=timeout, check=False,
                              preexec_fn=lambda: apply_limits(memory_mb, int(timeout), 64))
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the judge took longer than {timeout:g} s") from None
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(f"the judge failed (exit {done.returncode}): {tail[0][:300]}")
    return json.loads(done.stdout)


def main() -> None:
    job = json.loads(sys.stdin.buffer.read())
    sys.stdout.write(json.dumps(judge(job)))


if __name__ == "__main__":
    main()
