"""How much a submission may use: time per cell and in all, memory, CPU time, output."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Limits:
    """Resource limits for one graded run.

    cell_timeout / timeout: wall-clock seconds per cell and for the whole notebook.
    memory_mb: memory the kernel may allocate (RLIMIT_DATA on Linux, RLIMIT_AS elsewhere); PyTorch alone
        takes about 1 GB of it.
    cpu_seconds: CPU-time limit of the kernel (RLIMIT_CPU); None means ``timeout``.
    file_mb: largest file the kernel may write (RLIMIT_FSIZE).
    max_output_bytes: output kept per cell, in bytes of the stored notebook (every output type); the rest is
        dropped with a note.
    max_notebook_bytes: all outputs of the executed notebook together.
    max_evidence_bytes: the plain data one probe may send to the judge.
    max_restarts: fresh kernels started after a cell kills or wedges one.
    """

    cell_timeout: float = 60.0
    timeout: float = 600.0
    memory_mb: int = 3072
    cpu_seconds: int | None = None
    file_mb: int = 200
    max_output_bytes: int = 20_000
    max_notebook_bytes: int = 2_000_000
    max_evidence_bytes: int = 64_000_000
    max_restarts: int = 3
    start_timeout: float = 60.0
    seed: int = 0
    quick: bool = True

    def __post_init__(self):
        for name in ("cell_timeout", "timeout", "memory_mb", "file_mb", "max_output_bytes", "max_notebook_bytes",
                     "max_evidence_bytes", "start_timeout", "cpu_seconds"):
            value = getattr(self, name)
            if value is None and name == "cpu_seconds":
                continue
            # nan compares false with everything and inf never ends: both would silently give the class 0
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ValueError(f"{name} must be a finite positive number; got {value!r}")
        if not isinstance(self.max_restarts, int) or self.max_restarts < 0:
            raise ValueError(f"max_restarts must be a whole number >= 0; got {self.max_restarts!r}")

    @property
    def cpu_limit(self) -> int:
        return int(self.cpu_seconds if self.cpu_seconds is not None else max(self.timeout, 1))

    def as_dict(self) -> dict:
        return asdict(self)
