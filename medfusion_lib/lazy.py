"""Package namespaces that import a submodule only when one of its names is first used (PEP 562).

A package ``__init__`` that imports all its submodules makes ``from package import one_name`` pay for every one
of them: ``from medfusion_lib.calibration import top_label_ece`` used to import the fusion track, torch and
scikit-learn's estimators, and the grader's judge runs such imports in a fresh process for every submission.
With :func:`lazy_exports` the package still offers the same names (``__all__``, ``dir()``, ``from ... import``),
and each is imported from its submodule when first read::

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {
        "metrics": ["brier_score", "nll", "top_label_ece"],
        "temperature": ["TemperatureScaled", "fit_temperature"],
    })
"""
from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_exports(package: str, exports: dict[str, list[str]]) -> tuple[Callable, Callable, list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``; ``exports`` maps a submodule to the names it provides."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # later reads are plain attribute look-ups
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__, sorted(where)
