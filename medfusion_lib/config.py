"""Course-wide settings: quick mode, seeding, the device, and where files live."""
from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path

import numpy as np

QUICK_ENV = "MEDFUSION_QUICK"
PROGRESS_ENV = "MEDFUSION_PROGRESS"
DATA_ENV = "MEDFUSION_DATA_DIR"
BUILD_ENV = "MEDFUSION_BUILD_DIR"


def env_quick() -> bool:
    """True when ``MEDFUSION_QUICK`` is set to a true value (1, true, yes)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_quick(quick: bool = False) -> bool:
    """Quick mode is on when the notebook parameter says so (papermill) or the environment does (nbval, lab)."""
    return bool(quick) or env_quick()


def progress_bar(iterable=None, **kwargs):
    """``tqdm.auto.tqdm`` that stays silent when :func:`show_progress` says no (extra ``disable`` still wins)."""
    from tqdm.auto import tqdm

    kwargs["disable"] = kwargs.get("disable", False) or not show_progress()
    return tqdm(iterable, **kwargs)


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and (when installed) PyTorch so a run repeats exactly; returns the seed."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # the text-only lessons work without torch
        return seed
    torch.manual_seed(seed)
    deterministic_torch()
    return seed


#: CPU threads that training uses unless a ``TrainConfig`` says otherwise (``vision.train.fit``; the fusion, text
#: and federated loops use one thread too). A fixed count makes a seed give the same numbers on every machine with
#: the same kind of CPU (a different thread count splits reductions differently and changes the last bits, which
#: grow over epochs), and the course's small CNNs gain nothing from a second thread: on a busy 2-core laptop two
#: threads spun for 12x the CPU time of one (lesson 14's shortcut CNNs: 77 s vs 6.5 s CPU, 207 s vs 17 s wall).
TRAIN_THREADS = 1


def deterministic_torch() -> None:
    """Switch on PyTorch's deterministic algorithms (a warning, not an error, for an op that has none), and the
    cuDNN settings that make GPU convolutions repeat; on CPU, with a fixed thread count, runs repeat exactly."""
    import torch

    # cuBLAS needs this before its first use to be deterministic on a GPU; it changes nothing on a CPU
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # = use_deterministic_algorithms(True, warn_only=True) without its torch.compile setting, whose import of
    # torch._inductor costs ~1.2 CPU-s in every kernel that seeds (the course never compiles)
    torch.set_deterministic_debug_mode("warn")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def pick_device(prefer: str | None = None) -> str:
    """``"cuda"`` when a GPU is present (or ``prefer`` names a device), else ``"cpu"``."""
    if prefer:
        return prefer
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def torch_threads(n: int = 1):
    """Run torch on ``n`` CPU threads inside the block, then restore the caller's setting.

    Tiny networks (the text encoder, the hybrid fusion model) run faster on one thread: starting threads
    costs more than their matrices, and on a shared 2-core laptop extra threads only fight each other.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def repo_root() -> Path:
    """The course checkout this library lives in (the folder holding ``medfusion_lib/``)."""
    return Path(__file__).resolve().parents[1]


def _from_env_or(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


def datasets_dir() -> Path:
    """Where cohorts are built: ``$MEDFUSION_DATA_DIR`` or ``<repo>/datasets``."""
    return _from_env_or(DATA_ENV, repo_root() / "datasets")


def build_dir() -> Path:
    """Where executed notebooks, reports and benchmark JSON go: ``$MEDFUSION_BUILD_DIR`` or ``<repo>/build``."""
    return _from_env_or(BUILD_ENV, repo_root() / "build")


_LIVE_FRONT_ENDS = ("jupyter-lab", "jupyterlab", "jupyter lab", "jupyter-notebook", "jupyter notebook",
                    "jupyter-server", "jupyter_server", "notebook.app")


def show_progress() -> bool:
    """Whether progress bars should be drawn, i.e. whether a person is watching and nothing stores them.

    ``MEDFUSION_PROGRESS=0`` switches them off and ``=1`` on (``medfusion course run``, ``make test`` and the
    grader set 0: a bar drawn while papermill or nbval executes a lesson is saved as dead output). Unset: outside
    a notebook kernel, True only on a terminal (stderr is
    a TTY). Inside a kernel: True only when the kernel was started by a live Jupyter server (JupyterLab,
    Notebook); kernels that papermill, nbval or ``medfusion course run`` start would store every bar in the
    executed notebook, so they get none. (A kernel cannot ask its front-end; the parent process's command line,
    read from Linux ``/proc``, is the honest proxy — elsewhere the answer is False.)
    """
    import sys

    setting = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if setting in {"0", "false", "no", "off"}:
        return False
    if setting in {"1", "true", "yes", "on"}:
        return True
    if "ipykernel" not in sys.modules:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    try:
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
    except OSError:
        return False
    return any(front_end in parent for front_end in _LIVE_FRONT_ENDS)
