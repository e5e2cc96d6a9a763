"""How much a submission may use: time per cell and in all, memory, CPU time, output."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Limits:
    """Resource limits for one graded run.

    cell_timeout / timeout: wall-clock seconds per cell and for the whole notebook.
    memory_mb: memory the kernel may allocate (RLIMIT_DATA on Linux, RLIMIT_AS elsewhere); PyTorch alone
        takes about 1 GB of it.
    cpu_seconds: CPU-time limit of the kernel (RLIMIT_CPU); None means ``timeout``.
    file_mb: largest file the kernel may write (RLIMIT_FSIZE).
    max_output_chars: output kept per cell; the rest is dropped with a note.
    max_restarts: fresh kernels started after a cell kills or wedges one.
    """

    cell_timeout: float = 60.0
    timeout: float = 600.0
    memory_mb: int = 3072
    cpu_seconds: int | None = None
    file_mb: int = 200
    max_output_chars: int = 20_000
    max_restarts: int = 3
    start_timeout: float = 60.0
    seed: int = 0
    quick: bool = True

    def __post_init__(self):
        for name in ("cell_timeout", "timeout", "memory_mb", "file_mb", "max_output_chars", "start_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number; got {value!r}")
        if self.cpu_seconds is not None and self.cpu_seconds <= 0:
            raise ValueError(f"cpu_seconds must be positive or None; got {self.cpu_seconds!r}")

    @property
    def cpu_limit(self) -> int:
        return int(self.cpu_seconds if self.cpu_seconds is not None else max(self.timeout, 1))

    def as_dict(self) -> dict:
        return asdict(self)
