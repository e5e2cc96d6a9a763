"""Kernel launcher that applies resource limits, then becomes the kernel.

The grader starts each kernel as ``python -m medfusion_lib.grading.sandbox --memory-mb M --cpu-seconds C
--file-mb F -- <the kernel's own command>``. This sets POSIX resource limits on its own process and
``exec``s the kernel command, so the kernel (and anything it forks) inherits them:

- RLIMIT_DATA on Linux (heap and private writable mappings: what a process allocates, not the code and
  address-space reservations of libraries like PyTorch, which reserve gigabytes they never use), RLIMIT_AS
  elsewhere: a cell that allocates beyond it gets MemoryError (or the kernel dies);
- RLIMIT_CPU: CPU seconds; past the soft limit the kernel gets SIGXCPU and stops, past the hard limit SIGKILL;
- RLIMIT_FSIZE: the largest file the kernel may write;
- RLIMIT_CORE: no core dumps.

These are limits, not isolation: the isolation is the bubblewrap sandbox this launcher runs inside
(``medfusion_lib.grading.bwrap``; docs/instructors.md, section 7).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys


def _set(limit: int, soft: int, hard: int | None = None) -> None:
    _, current_hard = resource.getrlimit(limit)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:  # never ask for more than we are allowed
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(limit, (soft, hard))


def apply_limits(memory_mb: int, cpu_seconds: int, file_mb: int) -> None:
    mb = 1024 * 1024
    memory = resource.RLIMIT_DATA if sys.platform.startswith("linux") else resource.RLIMIT_AS
    _set(memory, memory_mb * mb)
    _set(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 5)
    _set(resource.RLIMIT_FSIZE, file_mb * mb)
    _set(resource.RLIMIT_CORE, 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--cpu-seconds", type=int, required=True)
    parser.add_argument("--file-mb", type=int, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the kernel command after --")
    apply_limits(args.memory_mb, args.cpu_seconds, args.file_mb)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
