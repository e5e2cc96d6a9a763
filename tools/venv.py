#!/usr/bin/env python3
"""Create or update the checkout's ``.venv`` from a dependency-only virtualenv cached on this machine.

``make venv`` runs this with the system Python (standard library only: nothing is installed yet).

* **Key.** The cache key hashes the exact dependency list read from ``pyproject.toml`` (``dependencies``,
  every optional extra, ``build-system.requires``, ``requires-python``) together with the Python version and
  platform. Editing anything else in ``pyproject.toml`` (pytest settings, say) keeps the key; changing one
  dependency makes a new one.
* **Cache.** ``$MEDFUSION_VENV_CACHE`` or ``${XDG_CACHE_HOME:-~/.cache}/medfusion/venvs/<key>`` holds a venv
  with the dependencies only (never this package: an editable install there would point at one checkout).
  A machine that never built it builds it from nothing: uv (fetched from the package index for the build,
  then deleted) resolves and installs from the sources pip is configured with, in about a third of pip's time;
  if uv cannot be had or fails, pip resolves once (``--dry-run --report``), then installs exactly the resolved
  files with ``--no-deps``. Builds are serialised by a lock; only the newest ``KEEP`` complete caches are kept.
* **Checkout.** ``.venv`` is a hard-linked copy of the cache (same disk: no extra space, a few seconds) whose
  scripts are rewritten to name ``.venv``, then ``pip install --no-deps -e .`` makes *this* checkout the one
  that is imported, and the ``python3`` kernel is registered inside ``.venv``. It is a complete venv of its
  own: nothing outside the checkout is needed at run time (the grader's sandbox binds ``sys.prefix``), and a
  later ``pip install`` in it unlinks files rather than writing through to the cache.

``MEDFUSION_VENV_CACHE=off`` skips the cache: a plain ``pip install -e ".[dev]"`` into ``.venv``.
Timings of each step are printed and written to ``.venv/.medfusion-venv.json``.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: no TOML reader in the standard library, so no cache (plain install)
    tomllib = None

KEEP = 2            # complete caches kept per machine (the newest by last use)
FORMAT = 1          # bump when the cache layout or the way it is built changes
EXTRAS = ("dev",)   # what `make venv` installs besides the runtime dependencies
KERNEL = ("python3", "Python 3 (MedFusion)")
MARK = ".complete"  # written last: a cache folder without it is unfinished and rebuilt
UV = "uv>=0.9,<1"   # the installer for a cold build (MEDFUSION_VENV_INSTALLER=pip: pip alone)


def log(message: str) -> None:
    print(f"venv: {message}", flush=True)


def requirements(pyproject: Path, extras: tuple[str, ...] = EXTRAS) -> tuple[list[str], dict]:
    """The requirement strings to install (self-references such as ``medfusion_lib[site]`` expanded to that
    extra's list) and the dependency tables the cache key is made of."""
    if tomllib is None:
        return [], {"pyproject.toml": pyproject.read_text(encoding="utf-8")}
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data["project"]
    name = re.sub(r"[-_.]+", "-", project["name"]).lower()
    optional = project.get("optional-dependencies", {})
    reqs, seen = list(project.get("dependencies", [])), set()
    todo = list(extras)
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        if extra not in optional:
            raise SystemExit(f"venv: pyproject.toml has no optional extra {extra!r}")
        seen.add(extra)
        for req in optional[extra]:
            match = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*\[([^\]]*)\]\s*$", req)
            if match and re.sub(r"[-_.]+", "-", match.group(1)).lower() == name:
                todo += [e.strip() for e in match.group(2).split(",") if e.strip()]
            else:
                reqs.append(req)
    build = data.get("build-system", {}).get("requires", [])
    tables = {"dependencies": project.get("dependencies", []), "optional": optional, "build": build,
              "requires-python": project.get("requires-python"), "extras": list(extras)}
    return list(dict.fromkeys([*build, *reqs])), tables


def cache_key(tables: dict) -> str:
    """16 hex digits: the dependency tables, this Python and this platform."""
    blob = json.dumps({"tables": tables, "python": sys.version, "implementation": sys.implementation.name,
                       "machine": platform.machine(), "system": platform.system(), "format": FORMAT},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_root() -> Path | None:
    setting = os.environ.get("MEDFUSION_VENV_CACHE", "").strip()
    if setting.lower() in {"off", "0", "no", "false"}:
        return None
    if setting:
        return Path(setting).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "medfusion" / "venvs"


def run(cmd: list[str], **kwargs) -> None:
    subprocess.run(cmd, check=True, **kwargs)


def pip(python: Path, *args: str) -> None:
    run([str(python), "-m", "pip", "--disable-pip-version-check", *args])


class Timer:
    """Named wall-clock steps, printed as they end."""

    def __init__(self):
        self.steps: dict[str, float] = {}

    def __call__(self, name: str):
        timer = self

        class _Step:
            def __enter__(self):
                self.started = time.perf_counter()

            def __exit__(self, *exc):
                timer.steps[name] = round(time.perf_counter() - self.started, 2)
                if exc[0] is None:
                    log(f"{name}: {timer.steps[name]:.1f} s")

        return _Step()


def build_cache(target: Path, reqs: list[str], timer: Timer) -> None:
    """A venv at ``target`` with ``reqs`` installed: by uv when it can be had, else by pip (resolved once, then
    installed without re-resolving)."""
    def create() -> Path:
        shutil.rmtree(target, ignore_errors=True)
        with timer("create venv"):
            run([sys.executable, "-m", "venv", str(target)])
        return target / "bin" / "python"

    python = create()
    if not install_with_uv(python, reqs, timer):
        python = create()  # nothing uv may have left half-done
        report = target / "resolved.json"
        with timer("resolve (pip --dry-run: index lookups + metadata)"):
            pip(python, "install", "--quiet", "--dry-run", "--ignore-installed", "--report", str(report), *reqs)
        resolved = json.loads(report.read_text())["install"]
        urls = [item["download_info"]["url"] for item in resolved]
        log(f"{len(urls)} distributions resolved")
        with timer("install with pip (copy/download + unpack + compile)"):
            pip(python, "install", "--quiet", "--no-deps", *urls)
    with timer("pip check"):
        pip(python, "check")


# pip settings uv is told about (``uv_options``), and those that change nothing about what gets installed.
_TRANSLATED = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links",
               "constraint": "--constraint"}
_HARMLESS = {"cert", "client-cert", "default-timeout", "timeout", "retries", "disable-pip-version-check",
             "progress-bar", "no-cache-dir", "cache-dir", "root-user-action", "no-warn-script-location", "quiet",
             "verbose", "no-color", "require-virtualenv", "break-system-packages", "trusted-host", "no-input"}
_SCOPES = (":env:", "site", "user", "global")  # pip's precedence, highest first


def pip_settings(listing: str) -> dict[str, str]:
    """``{key: value}`` from ``pip config list`` output, each key from the scope pip would use (env over files)."""
    settings: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        match = re.match(r"^(.+?)\.([\w-]+)='(.*)'$", line.strip())
        if not match:
            continue
        scope, key, value = match.groups()
        rank = _SCOPES.index(scope) if scope in _SCOPES else len(_SCOPES)
        if key not in settings or rank < settings[key][0]:
            settings[key] = (rank, value)
    return {key: value for key, (_rank, value) in settings.items()}


def uv_options(settings: dict[str, str]) -> list[str] | None:
    """pip's package sources (index URLs, find-links, constraints) as uv options; None when pip is configured with
    something this does not translate, so that pip, which reads its own configuration, installs instead."""
    unknown = sorted(set(settings) - set(_TRANSLATED) - _HARMLESS)
    if unknown:
        log(f"pip is configured with {', '.join(unknown)}, which uv would not honour: pip installs")
        return None
    return [arg for key, flag in _TRANSLATED.items() if key in settings
            for value in settings[key].split() for arg in (flag, value)]


def install_with_uv(python: Path, reqs: list[str], timer: Timer) -> bool:
    """Resolve and install ``reqs`` with uv, from the sources pip is configured with. uv resolves with parallel
    index lookups (pip: 40-50 s here, one request at a time) and unpacks and compiles on every core (pip: about two
    minutes for PyTorch's 3 GB CUDA build, single-threaded). uv itself is fetched into a temporary folder and gone
    afterwards. False when uv cannot be had or fails (``MEDFUSION_VENV_INSTALLER=pip`` asks for pip): the caller
    starts again with pip."""
    if os.environ.get("MEDFUSION_VENV_INSTALLER", "uv") != "uv":
        return False
    tools = Path(tempfile.mkdtemp(prefix="medfusion-uv-"))
    try:
        listing = subprocess.run([str(python), "-m", "pip", "config", "list"], capture_output=True, text=True,
                                 check=True).stdout
        settings = pip_settings(listing)
        options = uv_options(settings)
        if options is None:
            return False
        env = dict(os.environ)
        if "cert" in settings:  # uv reads the certificate bundle from the environment
            env.setdefault("SSL_CERT_FILE", settings["cert"])
        with timer("fetch uv"):
            pip(python, "install", "--quiet", "--target", str(tools), UV)
        # unsafe-best-match: the newest version across every index, as pip picks (uv's default stops at the first
        # index that has the package)
        with timer("resolve and install with uv (parallel lookups, unpack and compile)"):
            run([str(tools / "bin" / "uv"), "pip", "install", "--quiet", "--python", str(python), "--no-cache",
                 "--index-strategy", "unsafe-best-match", "--compile-bytecode", *options, *reqs], env=env)
        return True
    except (subprocess.CalledProcessError, OSError) as error:
        log(f"uv could not install ({error}); installing with pip instead")
        return False
    finally:
        shutil.rmtree(tools, ignore_errors=True)


def acquire(lock_path: Path, blocking: bool = True):
    handle = open(lock_path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        handle.close()
        return None
    return handle


def evict(root: Path, keep_key: str) -> None:
    """Delete all but the ``KEEP`` most recently used complete caches (never ``keep_key``, never one in use)."""
    complete = sorted((p for p in root.iterdir() if (p / MARK).is_file()),
                      key=lambda p: (p / MARK).stat().st_mtime, reverse=True)
    kept = [p for p in complete if p.name == keep_key]
    for path in complete:
        if path.name == keep_key:
            continue
        if len(kept) < KEEP:
            kept.append(path)
            continue
        handle = acquire(root / f"{path.name}.lock", blocking=False)
        if handle is None:
            continue  # being built or cloned right now
        try:
            log(f"removing the older cached venv {path}")
            shutil.rmtree(path, ignore_errors=True)
            (root / f"{path.name}.lock").unlink(missing_ok=True)
        finally:
            handle.close()


def rewrite_paths(venv: Path, old: Path) -> int:
    """Point the copied scripts and activation files at ``venv`` instead of ``old``. Each changed file is
    written anew (unlink + write), so the hard-linked original in the cache stays as it was."""
    changed = 0
    candidates = [venv / "pyvenv.cfg", *(p for p in (venv / "bin").iterdir() if p.is_file() and not p.is_symlink())]
    for path in candidates:
        data = path.read_bytes()
        if str(old).encode() not in data:
            continue
        mode = path.stat().st_mode
        path.unlink()
        path.write_bytes(data.replace(str(old).encode(), str(venv).encode()))
        os.chmod(path, mode)
        changed += 1
    return changed


def clone(cache: Path, venv: Path, timer: Timer) -> bool:
    """Hard-link ``cache`` to ``venv``; False when that is impossible (another file system)."""
    with timer("hard-link copy of the cached venv"):
        done = subprocess.run(["cp", "-al", str(cache), str(venv)], capture_output=True, text=True)
    if done.returncode != 0:
        log(f"cannot hard-link the cache here ({done.stderr.strip()[:200]}); installing into .venv instead")
        shutil.rmtree(venv, ignore_errors=True)
        return False
    for name in (MARK, "resolved.json"):
        (venv / name).unlink(missing_ok=True)
    rewrite_paths(venv, cache)
    return True


def finish(venv: Path, checkout: Path, timer: Timer) -> None:
    """This checkout, editable, and the notebook kernel, inside ``venv``."""
    python = venv / "bin" / "python"
    with timer("editable install of this checkout (--no-deps)"):
        pip(python, "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(checkout))
    with timer("register the python3 kernel"):
        run([str(python), "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL[0],
             "--display-name", KERNEL[1]], stdout=subprocess.DEVNULL)


def plain_install(venv: Path, checkout: Path, timer: Timer) -> None:
    with timer("create venv"):
        if not (venv / "bin" / "python").exists():
            run([sys.executable, "-m", "venv", str(venv)])
    with timer("pip install -e .[dev]"):
        pip(venv / "bin" / "python", "install", "--quiet", "-e", f"{checkout}[{','.join(EXTRAS)}]")
    with timer("register the python3 kernel"):
        run([str(venv / "bin" / "python"), "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL[0],
             "--display-name", KERNEL[1]], stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=".venv", help="the checkout's virtualenv (default .venv)")
    parser.add_argument("--checkout", default=".", help="the checkout to install editable (default .)")
    parser.add_argument("--print-key", action="store_true", help="print the cache key and exit")
    args = parser.parse_args(argv)
    checkout = Path(args.checkout).resolve()
    venv = Path(os.path.abspath(args.venv))
    reqs, tables = requirements(checkout / "pyproject.toml")
    key = cache_key(tables)
    if args.print_key:
        print(key)
        return 0
    timer, started = Timer(), time.perf_counter()
    root = cache_root() if tomllib is not None else None
    record = {"key": key, "cache": None, "cache_hit": None}
    key_file = venv / ".medfusion-venv.json"
    previous = json.loads(key_file.read_text()) if key_file.is_file() else None
    current = previous.get("key") if previous else None
    # A .venv this script did not clone (made by hand, e.g. with the CPU-only PyTorch wheel the README describes,
    # or installed with the cache off) is the user's: install into it, never replace it.
    own = (venv / "bin" / "python").exists() and (previous is None or previous.get("cache") is None)
    if current == key and (venv / "bin" / "python").exists():
        log(f"dependencies unchanged (key {key}); refreshing the editable install only")
        finish(venv, checkout, timer)
        record.update(json.loads(key_file.read_text()), refreshed=True)
    elif root is None or own:
        why = ("a .venv not made from the cache is kept" if own and root is not None else
               "no cache (MEDFUSION_VENV_CACHE=off, or Python < 3.11 cannot read pyproject.toml)")
        log(f"{why}: plain install into {venv}")
        plain_install(venv, checkout, timer)
    else:
        root.mkdir(parents=True, exist_ok=True)
        cache = root / key
        handle = acquire(root / f"{key}.lock")
        try:
            hit = (cache / MARK).is_file()
            log(f"cache {'hit' if hit else 'miss'}: {cache}")
            if not hit:
                build_cache(cache, reqs, timer)
                (cache / MARK).write_text(json.dumps({"key": key, "built_s": timer.steps}, indent=1) + "\n")
            os.utime(cache / MARK)  # last use, for eviction
            if venv.is_symlink() or venv.is_file():
                venv.unlink()
            with timer("remove the old .venv"):
                shutil.rmtree(venv, ignore_errors=True)
            record.update(cache=str(cache), cache_hit=hit)
            cloned = clone(cache, venv, timer)
        finally:
            handle.close()
        if cloned:
            finish(venv, checkout, timer)
        else:
            plain_install(venv, checkout, timer)
        evict(root, key)
    record.update(steps=timer.steps, total_s=round(time.perf_counter() - started, 2))
    key_file.write_text(json.dumps(record, indent=1) + "\n")
    log(f"ready in {record['total_s']:.1f} s ({venv})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
