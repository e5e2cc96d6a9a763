"""The kernel a submission runs in: resource-limited, in its own working folder, with a minimal environment."""
from __future__ import annotations

import os
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
    cache = _matplotlib_cache()
    if cache:
        env["MPLCONFIGDIR"] = cache
    return env


class LimitedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels start through ``medfusion_lib.grading.sandbox``.

    ``limits``, ``workdir`` and ``env`` are class attributes: ``limited_kernel_manager`` makes a subclass per
    run (nbclient builds the manager from a class).
    """

    limits: Limits = Limits()
    workdir: str = "."
    env: dict = {}

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        return [sys.executable, "-m", "medfusion_lib.grading.sandbox",
                "--memory-mb", str(int(self.limits.memory_mb)), "--cpu-seconds", str(self.limits.cpu_limit),
                "--file-mb", str(int(self.limits.file_mb)), "--", *command]

    async def _async_pre_start_kernel(self, **kw):
        kw["env"] = dict(self.env)
        kw["cwd"] = self.workdir
        # The kernel's own chatter (startup warnings) would flood the grader's terminal.
        kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
        return await super()._async_pre_start_kernel(**kw)

    def exit_description(self) -> str:
        """Why the kernel process ended, for the feedback ("exit status 1", "SIGXCPU (CPU-time limit)")."""
        process = getattr(self.provisioner, "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "the kernel stopped responding"
        if code < 0:
            import signal

            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            why = {"SIGXCPU": f"CPU-time limit of {self.limits.cpu_limit} s", "SIGKILL": "killed, maybe out of memory",
                   "SIGSEGV": "crashed", "SIGABRT": "aborted"}.get(name, "signal")
            return f"the kernel was stopped by {name} ({why})"
        return f"the kernel exited with status {code}"


def limited_kernel_manager(limits: Limits, workdir: Path) -> type[LimitedKernelManager]:
    """A LimitedKernelManager subclass bound to these limits and this working folder."""
    return type("BoundLimitedKernelManager", (LimitedKernelManager,),
                {"limits": limits, "workdir": str(workdir), "env": kernel_env(workdir, limits)})
