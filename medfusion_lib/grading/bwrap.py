"""The sandbox each submission's kernel runs in: bubblewrap (``bwrap``, Debian package ``bubblewrap``).

One sandbox per kernel: its own user, PID, network, IPC, UTS and cgroup namespaces (no network at all, only a
loopback), a private ``/proc`` (it sees its own processes only) and ``/tmp``, a new session (no terminal to
write to), and read-only binds of exactly what a notebook needs: the system's ``/usr``, the Python
installation and virtual environment, the ``medfusion_lib`` package and the built cohorts. Writable: its own
job folder only (working folder and the IPC sockets the grader talks to it through). Not visible: the rest of
the checkout (``solutions/``, other submissions), ``--out``, other kernels' job folders, the grader's
processes and environment. ``--die-with-parent``: the sandbox and everything in it is killed when the grader
goes; when the sandbox's first process ends, the kernel kills every process in its PID namespace.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "bubblewrap"
#: Files under /etc that Python, NumPy and matplotlib read (nothing else of /etc is visible).
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts", "/etc/mime.types", "/etc/nsswitch.conf")
SANDBOX_UID = 1000


class SandboxUnavailable(RuntimeError):
    """No sandbox engine on this machine; the message names the package to install."""


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=None)
def _self_test(path: str) -> str | None:
    """None when ``bwrap`` can make the namespaces we use here; else its first line of complaint."""
    try:
        done = subprocess.run([path, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                               "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
    return None


def require_bwrap() -> str:
    path = bwrap_path()
    if path is None:
        raise SandboxUnavailable(
            f"no sandbox engine: install bubblewrap (Debian/Ubuntu: `apt-get install {PACKAGE}`, Fedora: "
            f"`dnf install {PACKAGE}`), or pass --trusted-class to grade without a sandbox (only for code you trust)")
    problem = _self_test(path)
    if problem:
        raise SandboxUnavailable(
            f"bwrap cannot create its namespaces on this machine ({problem}); allow unprivileged user namespaces "
            "(e.g. `sysctl kernel.unprivileged_userns_clone=1`, or a container started with a seccomp profile "
            "that allows them), or pass --trusted-class to grade without a sandbox")
    return path


def sandbox_available() -> bool:
    """True when grading can sandbox its kernels here (bwrap present and working)."""
    try:
        require_bwrap()
    except SandboxUnavailable:
        return False
    return True


def _python_roots() -> list[Path]:
    """The interpreter's installation and the virtual environment (both read-only in the sandbox)."""
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent.parent}
    return sorted(roots)


def _library_roots() -> list[Path]:
    """The ``medfusion_lib`` package folder (not the checkout around it: that holds solutions/)."""
    import medfusion_lib

    return [Path(medfusion_lib.__file__).resolve().parent]


def read_only_paths(extra: list[Path] = ()) -> list[Path]:
    """Every host path bound read-only into a sandbox, outermost first, without duplicates or nesting."""
    from medfusion_lib.config import datasets_dir

    candidates = [*_python_roots(), *_library_roots(), *extra]
    data = datasets_dir()
    if data.is_dir():
        candidates.append(data.resolve())
    kept: list[Path] = []
    for path in sorted(set(candidates), key=lambda p: len(p.parts)):
        if path == Path("/usr") or Path("/usr") in path.parents:
            continue  # /usr is bound whole
        if not any(parent == path or parent in path.parents for parent in kept):
            kept.append(path)
    return kept


def bwrap_command(job: Path, command: list[str], extra_read_only: list[Path] = ()) -> list[str]:
    """``bwrap … -- command`` for a kernel whose job folder (working folder + sockets) is ``job``."""
    args = [require_bwrap(), "--die-with-parent", "--new-session",
            "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--hostname", "sandbox",
            # ipykernel would watch pid 1 (the sandbox's init) as its "parent" and exit; --die-with-parent
            # already ends the kernel with the grader.
            "--unsetenv", "JPY_PARENT_PID",
            "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", str(host.readlink()), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    for path in ETC_FILES:
        args += ["--ro-bind-try", path, path]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in read_only_paths(list(extra_read_only)):
        args += ["--ro-bind", str(path), str(path)]
    job = job.resolve()
    args += ["--bind", str(job), str(job), "--chdir", str(job / "work"), "--", *command]
    return args
