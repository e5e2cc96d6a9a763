"""Notebook checks that nbval itself does not make.

nbval (``--nbval-lax``) fails a cell only when it raises. A cell that calls ``plt.show()`` but displays no
image raises nothing — yet the lesson is broken (this is how the whole executed course once had no figures).
This hook fails such a cell in every notebook nbval runs.

The caches the fusion lessons share (the quick-mode fusion features of the default cohort) are built by the first
notebook that needs them; a second one that starts meanwhile waits on the cache file's lock
(``medfusion_lib.atomic.building``) and reads it, so no worker builds them twice and a warm run pays nothing.

Test files run slowest first (``tests/file_costs.json``, written by ``medfusion bench tests --save-costs``), so
with ``--no-loadscope-reorder`` no worker is left alone at the end with a long notebook.

A run that executes notebooks with nbval starts them in preloaded kernels: one zygote process (started here,
before the xdist workers) imports torch, scikit-learn, seaborn and IPython once and forks each kernel
(``tools/kernel_zygote.py``; ``MEDFUSION_PRELOADED_KERNELS=0`` turns it off). The ``notebook_kernel`` fixture names
that kernel for tests that run notebooks themselves.
"""
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

import pytest

from medfusion_lib.figures import image_count, shows_figure


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    cell = getattr(item, "cell", None)
    if call.when != "call" or not report.passed or cell is None or not hasattr(item, "test_outputs"):
        return
    source = cell.get("source", "") if isinstance(cell, dict) else getattr(cell, "source", "")
    if shows_figure(source) and image_count(item.test_outputs) == 0:
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid}: this cell calls show() but displayed no figure "
                           "(a non-interactive matplotlib backend such as MPLBACKEND=Agg?)")


COSTS = Path(__file__).parent / "tests" / "file_costs.json"
PRELOADED_ENV = "MEDFUSION_PRELOADED_KERNELS"


def _zygote_module():
    from medfusion_lib.config import repo_root  # not __file__: a test copies this conftest into a temporary folder

    spec = importlib.util.spec_from_file_location("kernel_zygote", repo_root() / "tools" / "kernel_zygote.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


zygote = _zygote_module()


def pytest_configure(config):
    """Start the kernel zygote when this run executes notebooks (controller only: workers inherit its socket)."""
    if os.environ.get(zygote.ZYGOTE_ENV):  # an xdist worker: the controller started it
        _use_preloaded(config)
        return
    wants = config.getoption("nbval_lax", False) or config.getoption("nbval", False)
    if not wants or os.environ.get(PRELOADED_ENV, "1").lower() in {"0", "false", "no", "off"}:
        return
    for name, value in zygote.ONE_THREAD.items():  # what `make test` sets; without it the zygote could not fork
        os.environ.setdefault(name, value)
    folder = Path(tempfile.mkdtemp(prefix="medfusion-zygote-"))  # 0700, and short enough for a socket path
    zygote.install_kernelspec(folder)
    config._medfusion_zygote = (zygote.start(folder / "zygote.sock"), folder)
    os.environ[zygote.ZYGOTE_ENV] = str(folder / "zygote.sock")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(folder), os.environ.get("JUPYTER_PATH")) if p)
    _use_preloaded(config)


def _use_preloaded(config):
    if not config.getoption("nbval_kernel_name", None) and not config.getoption("nbval_current_env", False):
        config.option.nbval_kernel_name = zygote.KERNEL_NAME


def pytest_unconfigure(config):
    process, folder = getattr(config, "_medfusion_zygote", (None, None))
    if process is not None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # never let a stuck zygote outlive the run
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _environment_restored():
    """Every test leaves ``os.environ`` as it found it. A change would reach every later test of its worker and every
    kernel they start: Dask's LocalCluster sets PYTHONHASHSEED, and from then on that worker's kernels no longer
    matched the zygote's import-time environment and started fresh (8 kernels, ≈ 40 CPU-s of imports a run)."""
    before = dict(os.environ)
    yield
    if os.environ != before:
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture(scope="session")
def notebook_kernel() -> str:
    """The kernel for tests that execute notebooks themselves: the preloaded one when this run has a zygote."""
    return zygote.KERNEL_NAME if os.environ.get(zygote.ZYGOTE_ENV) else "python3"


def pytest_collection_modifyitems(config, items):
    """Order test files by their measured cost, slowest first (a stable sort: cells of a notebook keep their order).

    A file the costs do not name yet gets the median cost. Every xdist worker sorts the same way, so they still
    agree on the collection."""
    try:
        costs = json.loads(COSTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    default = statistics.median(costs.values()) if costs else 0.0
    items.sort(key=lambda item: -costs.get(item.nodeid.split("::")[0], default))
