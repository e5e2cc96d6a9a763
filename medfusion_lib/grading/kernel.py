"""The kernel a submission runs in: sandboxed (``bwrap``), resource-limited, with a minimal environment.

The grader talks to it over ZMQ's IPC transport (Unix sockets in the kernel's private job folder), not TCP:
a sandbox has no network to share, and no other kernel can reach these sockets. Interrupts go as a message
on the control channel (the kernel interrupts itself), because signals to the sandbox's outer process do
not reach the kernel inside it.

``MPLBACKEND=Agg``: graded runs skip plots (``GRADING=True``), feedback is text only, and the executed
notebook is for the instructor's review; a figure a student's own cell still shows would only count
against the output cap. Agg draws nothing and never needs a display.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from medfusion_lib.grading.limits import Limits

#: Environment variables a kernel may inherit (nothing that could hold a credential).
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX",
              "MEDFUSION_DATA_DIR", "SYSTEMROOT")


def _matplotlib_cache() -> str | None:
    """The grader's matplotlib cache, so kernels reuse its font list instead of rebuilding it."""
    try:
        import matplotlib

        return matplotlib.get_cachedir()
    except Exception:  # matplotlib missing or no writable cache: kernels make their own
        return None


def kernel_env(workdir: Path, limits: Limits) -> dict[str, str]:
    """The kernel's environment: an allow-list of the grader's, plus the course switches."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update({
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "MEDFUSION_BUILD_DIR": str(workdir / "build"),
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "MPLBACKEND": "Agg",
        # One thread per kernel: graders run several kernels side by side, one per core.
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "MEDFUSION_GRADING": "1",
    })
    if limits.quick:
        env["MEDFUSION_QUICK"] = "1"
    env["MPLCONFIGDIR"] = str(workdir / ".matplotlib")
    return env


def seed_matplotlib_cache(workdir: Path) -> None:
    """Copy the grader's font list into the kernel's own matplotlib folder (saves a font scan per kernel)."""
    cache = _matplotlib_cache()
    target = workdir / ".matplotlib"
    target.mkdir(parents=True, exist_ok=True)
    if cache:
        for font_list in Path(cache).glob("fontlist-*.json"):
            shutil.copy2(font_list, target / font_list.name)


class LimitedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels start inside ``bwrap`` (unless ``sandboxed`` is False) through
    ``medfusion_lib.grading.sandbox`` (resource limits), reached over IPC sockets in ``job``.

    ``limits``, ``job``, ``env`` and ``sandboxed`` are class attributes: ``limited_kernel_manager`` makes a
    subclass per run (nbclient builds the manager from a class).
    """

    limits: Limits = Limits()
    job: str = "."
    env: dict = {}
    sandboxed: bool = True

    def __init__(self, **kw):
        run = Path(self.job) / "run"
        run.mkdir(parents=True, exist_ok=True)
        kw.setdefault("transport", "ipc")
        kw.setdefault("ip", str(run / "kernel"))
        kw.setdefault("connection_file", str(run / "kernel.json"))
        super().__init__(**kw)

    @property
    def workdir(self) -> str:
        return str(Path(self.job) / "work")

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        limited = [sys.executable, "-m", "medfusion_lib.grading.sandbox",
                   "--memory-mb", str(int(self.limits.memory_mb)), "--cpu-seconds", str(self.limits.cpu_limit),
                   "--file-mb", str(int(self.limits.file_mb)), "--", *command]
        if not self.sandboxed:
            return limited
        from medfusion_lib.grading.bwrap import bwrap_command

        return bwrap_command(Path(self.job), limited)

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"   # a signal to bwrap would not reach the kernel inside
        return spec

    async def _async_pre_start_kernel(self, **kw):
        kw["env"] = dict(self.env)
        kw["cwd"] = self.workdir
        # The kernel's own chatter (startup warnings) would flood the grader's terminal.
        if not os.environ.get("MEDFUSION_GRADING_DEBUG"):   # set it to see why a kernel will not start
            kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
        return await super()._async_pre_start_kernel(**kw)

    def exit_description(self) -> str:
        """Why the kernel process ended, for the feedback ("exit status 1", "SIGXCPU (CPU-time limit)")."""
        process = getattr(self.provisioner, "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "the kernel stopped responding"
        if code > 128 and self.sandboxed:   # bwrap reports a signalled child as 128 + signal
            code = -(code - 128)
        if code < 0:
            import signal

            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            why = {"SIGXCPU": f"CPU-time limit of {self.limits.cpu_limit} s", "SIGKILL": "killed, maybe out of memory",
                   "SIGSEGV": "crashed", "SIGABRT": "aborted"}.get(name, "signal")
            return f"the kernel was stopped by {name} ({why})"
        return f"the kernel exited with status {code}"


def limited_kernel_manager(limits: Limits, job: Path, sandboxed: bool = True) -> type[LimitedKernelManager]:
    """A LimitedKernelManager subclass bound to these limits and this job folder (``work/`` and ``run/``)."""
    workdir = Path(job) / "work"
    return type("BoundLimitedKernelManager", (LimitedKernelManager,),
                {"limits": limits, "job": str(job), "env": kernel_env(workdir, limits), "sandboxed": sandboxed})
