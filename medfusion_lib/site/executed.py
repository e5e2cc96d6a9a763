"""Executed lesson copies (``build/notebooks/{full,quick}/``): reuse ``make run``'s when current, run the rest.

A copy is current when it ran in the wanted mode without an error, its cells are the lesson's cells (papermill's
injected parameters cell aside), and it is newer than the lesson and than every library module that can change
its outputs (``medfusion_lib`` without the site and CLI packages) — the make rule, applied per lesson.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from medfusion_lib.config import build_dir, repo_root
from medfusion_lib.errors import UserError

# Packages whose code never changes a lesson's outputs.
_NOT_PRODUCERS = ("site", "cli", "bench")


def mode_name(quick: bool) -> str:
    return "quick" if quick else "full"


def executed_dir(quick: bool, root: Path | None = None) -> Path:
    """Where ``medfusion course run`` writes executed lessons for this mode."""
    return (root or build_dir()) / "notebooks" / mode_name(quick)


def library_mtime() -> float:
    """Newest modification time of the library modules that produce lesson outputs."""
    package = repo_root() / "medfusion_lib"
    times = [p.stat().st_mtime for p in package.rglob("*.py")
             if p.relative_to(package).parts[0] not in _NOT_PRODUCERS]
    return max(times, default=0.0)


def _sources(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]


def stale_reason(source: Path, executed: Path, quick: bool, newer_than: float | None = None) -> str | None:
    """Why ``executed`` cannot stand for ``source`` in this mode, or None when it is current."""
    if not executed.exists():
        return "not executed yet"
    mtime = executed.stat().st_mtime
    if mtime < max(source.stat().st_mtime, library_mtime() if newer_than is None else newer_than):
        return "older than the lesson or the library"
    try:
        run = nbformat.read(str(executed), as_version=4)
    except Exception:  # noqa: BLE001 - a half-written or corrupt copy is simply stale
        return "unreadable"
    meta = run.metadata.get("papermill", {})
    if bool(meta.get("parameters", {}).get("QUICK")) != quick:
        return f"ran in the other mode (QUICK={meta.get('parameters', {}).get('QUICK')})"
    if meta.get("exception") or any(o.get("output_type") == "error"
                                     for c in run.cells if c.cell_type == "code" for o in c.get("outputs", [])):
        return "ran with an error"
    if _sources(run) != _sources(nbformat.read(str(source), as_version=4)):
        return "the lesson changed since it ran"
    return None


@dataclass(frozen=True)
class Executed:
    """One lesson's executed copy and whether this build had to run it."""

    path: Path
    ran: bool
    seconds: float = 0.0


def ensure_executed(sources: list[Path], quick: bool, seed: int = 0, root: Path | None = None,
                    log=print, kernel_name: str = "python3") -> dict[str, Executed]:
    """``{stem: Executed}`` for every lesson, running (papermill, like ``make run``, on ``kernel_name``) those not
    current.

    Raises UserError naming each lesson that fails, with the executed copy to read its traceback in.
    """
    from medfusion_lib.course import run_lesson

    out = executed_dir(quick, root)
    newer_than = library_mtime()
    result: dict[str, Executed] = {}
    failed: list[str] = []
    cohort_ready = False
    for source in sources:
        target = out / source.name
        reason = stale_reason(source, target, quick, newer_than)
        if reason is None:
            result[source.stem] = Executed(target, ran=False)
            continue
        if not cohort_ready:  # build the cohort once here, not in every notebook (as make run does)
            from medfusion_lib.data import load_cohort

            load_cohort()
            cohort_ready = True
        log(f"running {source.name} ({mode_name(quick)} mode: {reason}) ...")
        seconds, error = run_lesson(source, target, quick=quick, seed=seed, kernel_name=kernel_name)
        if error:
            failed.append(f"{source.stem}: {error} (see {target})")
        result[source.stem] = Executed(target, ran=True, seconds=seconds)
    if failed:
        raise UserError("the site needs every lesson to run; failed: " + "; ".join(failed))
    return result
