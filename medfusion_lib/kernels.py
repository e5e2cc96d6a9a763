"""Kernels for notebooks that the course itself executes (``medfusion course run``, benchmarks, tests).

- They talk to their kernel over IPC (Unix sockets in a private temporary folder) instead of TCP on
  localhost: nothing on the machine's network can reach them, and ipykernel no longer prints its
  "Kernel is running over TCP without encryption" warning into every run.
- The kernel draws figures inline: an ``MPLBACKEND=Agg`` inherited from a Makefile or a shell would make
  every ``plt.show()`` draw nothing, and an executed lesson without its figures teaches half as much.
- Progress bars are switched off (``MEDFUSION_PROGRESS=0``): nobody watches them, and a saved bar is noise.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from medfusion_lib.config import PROGRESS_ENV


def executed_kernel_env(base: dict | None = None) -> dict:
    """The environment for a kernel whose notebook is stored after it runs (see module docstring)."""
    env = dict(os.environ if base is None else base)
    if env.get("MPLBACKEND", "").lower() == "agg":
        del env["MPLBACKEND"]
    env[PROGRESS_ENV] = "0"
    return env


class IPCKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel listens on Unix sockets in a private folder (0700), draws
    figures inline and shows no progress bars. Pass it to papermill as ``kernel_manager_class``."""

    def __init__(self, **kwargs):
        self._socket_dir = tempfile.mkdtemp(prefix="medfusion-kernel-")
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", str(Path(self._socket_dir) / "kernel"))
        super().__init__(**kwargs)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        kw["env"] = executed_kernel_env(kw.get("env"))
        return await super()._async_launch_kernel(kernel_cmd, **kw)

    _launch_kernel = _async_launch_kernel

    async def cleanup_resources(self, restart: bool = False) -> None:
        await super().cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
