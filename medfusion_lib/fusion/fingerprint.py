"""Fingerprints of library code, so a cache made by old code is never mistaken for one made by new code.

``code_fingerprint("medfusion_lib.vision.train")`` hashes the source of that module and of every
``medfusion_lib`` module it imports (transitively, read from the source with :mod:`ast`, so nothing is
executed). The cohort does the same for its generator (``medfusion_lib.data.cohort.generator_fingerprint``).
"""
from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "medfusion_lib"
#: Where ``medfusion_lib``'s sources are read from (a test may point it at a copy).
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _source(name: str) -> Path | None:
    """The file of ``medfusion_lib`` module ``name`` found on disk (nothing is imported), or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_path(name: str) -> Path:
    """The source file of ``medfusion_lib`` module ``name`` (a package's ``__init__.py``)."""
    path = _source(name)
    if path is None:
        raise ValueError(f"no source file for module {name!r}; name a module of {PACKAGE}, "
                         "e.g. 'medfusion_lib.vision.train'")
    return path


def _imported(path: Path, name: str) -> set[str]:
    """The ``medfusion_lib`` modules that the source at ``path`` (module ``name``) imports, anywhere in it."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against this module's package
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != PACKAGE:
                continue
            found.add(base)
            for alias in node.names:  # `from medfusion_lib.vision import train` names a module too
                if _source(f"{base}.{alias.name}") is not None:
                    found.add(f"{base}.{alias.name}")
    return {m for m in found if _source(m) is not None}


def module_closure(*modules: str) -> tuple[str, ...]:
    """``modules`` and every ``medfusion_lib`` module they import, transitively, sorted."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_imported(module_path(name), name) - seen)
    return tuple(sorted(seen))


@lru_cache(maxsize=None)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def code_fingerprint(*modules: str, shallow: tuple[str, ...] = ()) -> str:
    """16 hex digits naming the exact source of ``modules`` and everything in ``medfusion_lib`` they import,
    plus the files of ``shallow`` modules alone (a module that imports many producers lazily, such as
    ``fusion.features``, names its own producers per cache instead of bringing in all of them).

    Any edit to any of those files gives another fingerprint; an unrelated module does not.
    """
    if not modules and not shallow:
        raise ValueError("name at least one module, e.g. code_fingerprint('medfusion_lib.vision.train')")
    digest = hashlib.sha256()
    for name in sorted(set(module_closure(*modules)) | set(shallow)):
        path = module_path(name)
        stat = path.stat()
        digest.update(name.encode() + b"\0" + _file_digest(str(path), stat.st_mtime_ns, stat.st_size).encode())
    return digest.hexdigest()[:16]
