#!/usr/bin/env python3
"""Share the course's cached artefacts (``build/cache``: fusion features, the joint model, pre-trained encoders)
between the checkouts of one machine, as ``tools/venv.py`` shares the virtualenv.

``make test`` runs ``restore`` before pytest and ``save`` after it, so a fresh clone on a machine that has run the
tests before starts with the features and models an earlier run trained, instead of training them again.

* **Why this is safe.** Every file under ``build/cache`` is named by a hash of everything that made it: the
  fingerprint of the producing code (``medfusion_lib.fusion.fingerprint``), the cohort (whose build parameters
  carry the generator's fingerprint), the settings and the seed. The same relative path is therefore the same
  artefact whichever checkout wrote it, and changed code looks for a new name. A damaged file is recomputed by
  the loader, never trusted.
* **Where.** ``$MEDFUSION_ARTEFACT_CACHE`` or ``${XDG_CACHE_HOME:-~/.cache}/medfusion/artefacts``;
  ``MEDFUSION_ARTEFACT_CACHE=off`` turns sharing off. Files are copied both ways (never linked), so nothing a
  checkout does can change the machine's copy.
* **Size.** ``save`` drops files saved more than ``KEEP_DAYS`` days ago (the next run that needs one rebuilds and
  saves it again), then the oldest until the cache is at most ``KEEP_BYTES``. Age counts from saving, not from last
  use: ``restore`` copies every file, so it cannot tell which ones a run will read.

The default cohort (``datasets/default``, built by ``make test`` before pytest) is shared the same way, whole, in
``.cohorts/`` of the same folder: ``save`` keeps a copy named by its ``build.json``; ``restore`` (run before the
build) copies one into a checkout that has none when its ``build.json`` is exactly what ``medfusion data build``
would write today (the generator's code fingerprint included), so the build then finds it up to date. The newest
``KEEP_COHORTS`` are kept.

Neither command ever fails the test run: a problem with the machine's cache is reported in one line and skipped.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

KEEP_DAYS = 30
KEEP_BYTES = 2 * 2**30
KEEP_COHORTS = 2
COHORTS = ".cohorts"  # a dot: whole folders, kept out of the file-by-file artefacts (see ``artefacts``)
ENV = "MEDFUSION_ARTEFACT_CACHE"


def log(message: str) -> None:
    print(f"artefacts: {message}", flush=True)


def cache_root() -> Path | None:
    setting = os.environ.get(ENV, "").strip()
    if setting.lower() in {"off", "0", "no", "false"}:
        return None
    if setting:
        return Path(setting).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "medfusion" / "artefacts"


def artefacts(folder: Path) -> dict[str, Path]:
    """Relative path -> file, for the finished files under ``folder`` (an atomic write's ``.name.*.tmp`` is not
    finished; nor is anything else whose name starts with a dot)."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p for p in folder.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def copy_atomically(source: Path, target: Path) -> None:
    """Readers of ``target`` see no file or the whole file, never a part."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def copy_missing(source: Path, target: Path) -> tuple[int, int]:
    """Copy the artefacts of ``source`` that ``target`` lacks (a copy is dated now); returns (files, bytes)."""
    files = size = 0
    have = artefacts(target)
    for rel, path in artefacts(source).items():
        if rel not in have:
            copy_atomically(path, target / rel)
            files, size = files + 1, size + path.stat().st_size
    return files, size


def restore(checkout_cache: Path, root: Path) -> tuple[int, int]:
    """Copy the machine's artefacts that ``checkout_cache`` lacks into it; returns (files, bytes) copied."""
    return copy_missing(root, checkout_cache)


def prune(root: Path, keep_days: float = KEEP_DAYS, keep_bytes: int = KEEP_BYTES) -> list[str]:
    """Remove files saved more than ``keep_days`` ago, then the oldest until at most ``keep_bytes`` remain."""
    entries = sorted(((p.stat().st_mtime, p.stat().st_size, rel, p) for rel, p in artefacts(root).items()),
                     reverse=True)  # newest first
    removed, total, cutoff = [], 0, time.time() - keep_days * 86400
    for mtime, size, rel, path in entries:
        if mtime < cutoff or total + size > keep_bytes:
            path.unlink(missing_ok=True)
            removed.append(rel)
        else:
            total += size
    return removed


def save(checkout_cache: Path, root: Path) -> tuple[int, int, list[str]]:
    """Copy the checkout's artefacts the machine lacks into it, then prune; returns (files, bytes, removed)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as lock:  # two checkouts saving at once take turns
        fcntl.flock(lock, fcntl.LOCK_EX)
        files, size = copy_missing(checkout_cache, root)
        return files, size, prune(root)


def _copy_tree(source: Path, target: Path) -> None:
    """Readers of ``target`` see the old folder or the whole copy (``medfusion_lib.atomic.staged_dir``)."""
    from medfusion_lib.atomic import staged_dir

    with staged_dir(target) as stage:
        shutil.copytree(source, stage, dirs_exist_ok=True)


def save_cohort(cohort: Path, cohorts: Path, keep: int = KEEP_COHORTS) -> bool:
    """Keep a copy of the built cohort ``cohort`` in ``cohorts/<hash of its build.json>``; True when one was added."""
    try:
        params = json.loads((cohort / "build.json").read_text())
    except (OSError, ValueError):
        return False  # no finished build here
    target = cohorts / hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:20]
    if target.is_dir():
        return False
    _copy_tree(cohort, target)  # another checkout saving the same build at once replaces it with the same files
    for stale in sorted((p for p in cohorts.iterdir() if p.is_dir() and not p.name.startswith(".")),
                        key=lambda p: p.stat().st_mtime, reverse=True)[keep:]:
        shutil.rmtree(stale, ignore_errors=True)
    return True


def restore_cohort(cohort: Path, cohorts: Path, wanted: dict) -> bool:
    """Copy the saved cohort whose ``build.json`` equals ``wanted`` to ``cohort`` when that has no build yet."""
    if cohort.exists() or not cohorts.is_dir():
        return False
    for built in cohorts.glob("*/build.json"):
        try:
            if json.loads(built.read_text()) == wanted:
                _copy_tree(built.parent, cohort)
                return True
        except (OSError, ValueError):
            continue
    return False


def default_cohort() -> tuple[Path, dict]:
    """This checkout's default cohort folder and the ``build.json`` a plain ``medfusion data build`` writes today."""
    from medfusion_lib.config import datasets_dir
    from medfusion_lib.data.cohort import DEFAULT_IMAGE_SIZE, DEFAULT_N_PATIENTS, FORMAT_VERSION, generator_fingerprint

    wanted = {"n_patients": DEFAULT_N_PATIENTS, "seed": 0, "image_size": DEFAULT_IMAGE_SIZE, "source": "synthetic",
              "format_version": FORMAT_VERSION, "generator": generator_fingerprint()}
    return datasets_dir() / "default", wanted


def checkout_cache_dir() -> Path:
    """This checkout's ``build/cache`` (``$MEDFUSION_BUILD_DIR/cache`` when that is set)."""
    from medfusion_lib.config import build_dir

    return build_dir() / "cache"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("restore", "save"))
    parser.add_argument("--cache", type=Path, help="the checkout's cache folder (default: build/cache)")
    args = parser.parse_args(argv)
    root = cache_root()
    if root is None:
        log(f"sharing is off ({ENV}=off)")
        return 0
    checkout = args.cache or checkout_cache_dir()
    started = time.perf_counter()
    try:
        cohort, wanted = default_cohort()
        cohorts = root / COHORTS
        if args.command == "restore":
            files, size = restore(checkout, root)
            found = restore_cohort(cohort, cohorts, wanted)
            log(f"{files} files ({size / 2**20:.1f} MiB)" + (" and the default cohort" if found else "")
                + f" restored from {root} in {time.perf_counter() - started:.1f} s")
        else:
            files, size, removed = save(checkout, root)
            kept = save_cohort(cohort, cohorts)
            log(f"{files} new files ({size / 2**20:.1f} MiB)" + (" and the default cohort" if kept else "")
                + f" saved to {root}" + (f", {len(removed)} unused ones removed" if removed else ""))
    except OSError as error:  # the tests never depend on this cache: say what went wrong and go on
        log(f"{args.command} skipped: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
