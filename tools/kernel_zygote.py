"""Preloaded Jupyter kernels for the test suite: one server imports the heavy libraries once and forks each kernel.

Every notebook the tests run (lessons, solutions, exercise copies) starts a kernel, and before its first cell
computes anything it spends 2-5 CPU-seconds importing torch, scikit-learn, seaborn, pandas and IPython; 34 kernels
spend about two minutes of a two-core machine on the same imports. Here a *zygote* process imports them once,
and each kernel is a ``fork()`` of it: the imports are already in ``sys.modules``, the kernel's namespace is
empty, and everything else is an ordinary ipykernel (ZMQ, inline figures, interrupts, shutdown).

Pieces, all in this file (standard library only until the zygote preloads):

- ``serve``: the zygote. It listens on a Unix socket, imports ``PRELOAD`` and, per request, forks a child that
  takes the requester's stdin/stdout/stderr (passed as file descriptors), cwd, environment and argv, starts its
  own session and runs ``ipykernel``. It waits for each ended kernel (so kernels' CPU time counts as pytest's, and
  ``medfusion bench tests`` can charge it to the notebook: ``LEDGER_ENV``) and exits when its parent does.
- ``launch``: the kernel spec's command (``python tools/kernel_zygote.py launch -f {connection_file}``). It asks
  the zygote for a kernel, forwards the signals Jupyter sends it (interrupt, terminate) to the kernel's process
  group and exits when the kernel does; when the launcher is killed, the kernel kills its own process group.
  Without a zygote (``ZYGOTE_ENV`` unset or the server gone), or when the request's import-time environment
  differs from the zygote's (thread counts, matplotlib backend, ``PYTHON*``), it becomes a plain
  ``python -m ipykernel_launcher``: slower, never wrong.
- ``start`` / ``install_kernelspec``: what ``conftest.py`` calls once per test run.

What differs from a fresh kernel: the preloaded modules are imported before the first cell (a cell that uses
``sklearn.metrics`` after only ``import sklearn`` would pass here and fail in a fresh kernel; the site and
JupyterLab tests, ``make run`` and the grader still start fresh kernels), and NumPy's global random state is
re-seeded from the OS after the fork, as a new process would be.
"""
from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ZYGOTE_ENV = "MEDFUSION_KERNEL_ZYGOTE"  # the zygote's socket path, for the launchers
LEDGER_ENV = "MEDFUSION_KERNEL_LEDGER"  # medfusion_lib.bench.tests.KERNEL_LEDGER_ENV: a file for each kernel's CPU
KERNEL_NAME = "medfusion-preloaded"
INLINE = "module://matplotlib_inline.backend_inline"  # what ipykernel sets when MPLBACKEND is unset
# What the lessons, solutions and exercise copies import in their first cell (measured with -X importtime). Not
# matplotlib_inline.backend_inline: importing it inside a kernel is what hooks figures into cell outputs.
PRELOAD = ("numpy", "pandas", "scipy.stats", "sklearn.linear_model", "sklearn.metrics", "sklearn.ensemble",
           "sklearn.model_selection", "sklearn.calibration", "sklearn.preprocessing", "sklearn.pipeline",
           "torch", "torchvision", "matplotlib.pyplot", "seaborn", "IPython", "ipykernel.kernelapp",
           "ipykernel.ipkernel", "nltk", "pydicom", "captum.attr", "fairlearn.metrics")
# Variables read when a module is imported or the interpreter starts: a request must match the zygote on these.
_IMPORT_TIME = re.compile(r"^(PYTHON|OMP_|MKL_|OPENBLAS_|KMP_|GOTO|VECLIB_|NUMEXPR_|MPL|TORCH|CUDA|LD_)")
# A zygote must have one thread to fork safely, and OpenBLAS starts a pool of threads when numpy is imported unless
# told to use one: whoever starts a zygote sets these (`make test` does) for itself and the kernels it asks for.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def _import_env(env: dict) -> dict:
    picked = {k: v for k, v in env.items() if _IMPORT_TIME.match(k)}
    picked.setdefault("MPLBACKEND", INLINE)
    return picked


def _send(conn: socket.socket, message: dict, fds: list[int] = ()) -> None:
    data = json.dumps(message).encode()
    socket.send_fds(conn, [len(data).to_bytes(4, "big") + data], list(fds))


def _recv(conn: socket.socket, max_fds: int = 0) -> tuple[dict | None, list[int]]:
    """One message (and the file descriptors sent with it), or (None, []) when the peer closed."""
    head, fds, _, _ = socket.recv_fds(conn, 4, max_fds)
    if len(head) < 4:
        return None, fds
    size, data = int.from_bytes(head, "big"), b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None, fds
        data += chunk
    return json.loads(data), fds


# ---------------------------------------------------------------------------------------------------- the zygote

def serve(path: str, preload: tuple[str, ...] = PRELOAD) -> None:
    """Listen on ``path``, import ``preload``, then fork one kernel per request until the parent process ends."""
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)  # launchers may connect while the imports below still run; they wait in the backlog
    os.environ.setdefault("MPLBACKEND", INLINE)
    before = dict(os.environ)
    own_env = _import_env(before)
    import importlib

    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if threading.active_count() > 1 or len(os.listdir("/proc/self/task")) > 1:
        sys.exit("kernel zygote: the preloaded modules started threads, so forking is unsafe; stopping")
    # What the imports set for themselves (torch: KMP_*, TORCHINDUCTOR_CACHE_DIR): a kernel importing them has it too.
    set_by_imports = {k: v for k, v in os.environ.items() if before.get(k) != v}
    started: dict[int, str] = {}  # kernel pid -> the test that started it
    ledger = os.environ.get(LEDGER_ENV)

    def reap(*_):
        """Wait for ended kernels, so their CPU time counts in this process's children (and pytest's), and note
        each one's CPU seconds in the ledger when ``medfusion bench tests`` asked for one."""
        while True:
            try:
                pid, _status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            test = started.pop(pid, "")
            if ledger:
                with open(ledger, "a", encoding="utf-8") as out:
                    out.write(json.dumps({"nodeid": test, "cpu_s": round(usage.ru_utime + usage.ru_stime, 3)}) + "\n")

    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while os.getppid() == parent:
        if not select.select([listener], [], [], 1.0)[0]:
            continue
        conn, _ = listener.accept()
        fds: list[int] = []
        try:
            request, fds = _recv(conn, max_fds=3)
            if request is None or len(fds) != 3:
                continue
            # A requester that imported torch itself has torch's variables too: those are no difference.
            wanted = {k: v for k, v in _import_env(request["env"]).items() if set_by_imports.get(k) != v}
            differs = sorted(k for k in {*own_env, *wanted} if own_env.get(k) != wanted.get(k))
            if differs:
                _send(conn, {"ok": False, "why": f"import-time environment differs: {', '.join(differs)}"})
                continue
            pid = os.fork()
            if pid == 0:
                listener.close()
                _become_kernel(conn, request, fds, set_by_imports)  # never returns
            started[pid] = request["env"].get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
        except OSError:
            pass
        finally:
            conn.close()
            for fd in fds:
                os.close(fd)


def _become_kernel(conn: socket.socket, request: dict, fds: list[int], set_by_imports: dict) -> None:
    """In the forked child: take the launcher's stdio, cwd, environment and argv, and run ipykernel."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setsid()  # its own process group, as jupyter_client gives a kernel it starts
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({**set_by_imports, **request["env"]})
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()  # a fresh process would draw a fresh global state
        script_dir = str(Path(__file__).resolve().parent)
        sys.path[:] = [p for p in sys.path if p not in ("", script_dir)]  # ipykernel puts '' back
        # ipykernel read JPY_PARENT_PID when the zygote imported it, and would poll the wrong parent (the zygote);
        # 1 turns its poller off, as _die_with_launcher below does that job for the launcher.
        sys.argv = ["ipykernel_launcher", *request["argv"], "--IPKernelApp.parent_handle=1"]
        _send(conn, {"ok": True, "pid": os.getpid()})
        threading.Thread(target=_die_with_launcher, args=(conn,), daemon=True).start()
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # noqa: BLE001 - report it on the kernel's stderr, then leave like a crashed kernel
        import traceback

        traceback.print_exc()
    finally:
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def _die_with_launcher(conn: socket.socket) -> None:
    """The launcher holds the other end: when it is gone (killed by Jupyter), end this kernel's process group."""
    try:
        while conn.recv(64):
            pass
    except OSError:
        pass
    os.killpg(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------------------------------------------- the launcher

def launch(argv: list[str]) -> None:
    """The kernel spec's command: a kernel forked by the zygote, or a fresh ipykernel when that cannot be."""
    path = os.environ.get(ZYGOTE_ENV)
    if path:
        try:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.connect(path)
            _send(conn, {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}, [0, 1, 2])
            reply, _ = _recv(conn)
        except OSError:
            reply = None
        if reply and reply.get("ok"):
            _wait_for(conn, reply["pid"])
            return
        why = reply.get("why") if reply else "no zygote answers"
        print(f"kernel zygote: starting a fresh kernel ({why})", file=sys.stderr, flush=True)
        _note_fresh(why)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv])


def _note_fresh(why: str) -> None:
    """Tell ``medfusion bench tests`` (its ledger) that a kernel started fresh: nobody reads a kernel's stderr, and
    each fresh kernel costs seconds of imports."""
    ledger = os.environ.get(LEDGER_ENV)
    if ledger:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
        with open(ledger, "a", encoding="utf-8") as out:
            out.write(json.dumps({"nodeid": test, "fresh": why}) + "\n")


def _wait_for(conn: socket.socket, pid: int) -> None:
    def forward(signum, _frame):
        try:
            os.killpg(pid, signum)
        except OSError:
            pass

    for signum in _FORWARDED:
        signal.signal(signum, forward)
    while True:
        try:
            if not conn.recv(64):  # the kernel (and any child still holding the socket) is gone
                break
        except InterruptedError:
            continue
        except OSError:
            break


# ---------------------------------------------------------------------------------------------------- for conftest

def install_kernelspec(root: Path) -> Path:
    """Write the ``medfusion-preloaded`` kernel spec under ``root/kernels``; put ``root`` on JUPYTER_PATH to use it."""
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(Path(__file__).resolve()), "launch", "-f", "{connection_file}"],
        "display_name": "Python 3 (preloaded for tests)", "language": "python",
        "metadata": {"debugger": False}}, indent=1))
    return spec


def start(path: Path, preload: tuple[str, ...] = PRELOAD) -> subprocess.Popen:
    """Start a zygote listening on ``path`` (it preloads in the background; launchers wait for it)."""
    path.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "serve", str(path), ",".join(preload)],
                               stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not path.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # bind() comes before the imports: this waits milliseconds, not seconds
    return process


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], tuple(sys.argv[3].split(",")) if len(sys.argv) > 3 else PRELOAD)
    elif sys.argv[1:2] == ["launch"]:
        launch(sys.argv[2:])
    else:
        sys.exit("usage: kernel_zygote.py serve SOCKET [MODULE,...] | launch -f CONNECTION_FILE")
