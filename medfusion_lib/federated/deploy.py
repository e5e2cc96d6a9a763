"""A real Flower deployment on one machine: one SuperLink and one SuperNode per hospital, each its own
process, talking over 127.0.0.1 only; then ``flwr run`` submits the app; then everything is shut down.

The documented command (lesson 15)::

    python -m medfusion_lib.federated.deploy --rounds 3 --kind hybrid [--strategy fedprox] [--quick]

does on one machine what three hospitals and a coordinator would do on their own machines:

    flower-superlink --insecure --host 127.0.0.1 --port 9093 --disable-runtime-dependency-installation
    flower-supernode --insecure --superlink 127.0.0.1:9093 --port 9101 \
        --node-config 'data-path="/data/Northgate.npz" site-index=0'          # one per hospital
    flwr run medfusion_lib/federated/app deploy --run-config 'data-dir="…" num-rounds=3' --stream

(``--insecure`` only because everything stays on 127.0.0.1; across real machines use TLS certificates and
SuperNode authentication.) :func:`deploy` always stops every process it started — on success, on a timeout,
on a client error — and raises with the tail of the logs when something fails, so a crashed ClientApp is
reported rather than hanging.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from medfusion_lib.federated.data import Federation

APP_DIR = Path(__file__).resolve().parent / "app"


def write_partitions(federation: Federation, folder: str | Path) -> Path:
    """Write each hospital's train/test data (``client-<k>.npz``, ``client-<k>-test.npz``, sites sorted by
    name), the server's evaluation set ``test.npz`` and ``meta.json``; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for k, (train, test) in enumerate(zip(federation.train, federation.test)):
        train.save(folder / f"client-{k}.npz")
        test.save(folder / f"client-{k}-test.npz")
    federation.pooled_test.save(folder / "test.npz")
    meta = {"widths": federation.train[0].widths, "n_classes": federation.n_classes, "sites": federation.names,
            "sizes": federation.sizes}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    return folder


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin(name: str) -> str:
    """The console script ``name`` next to this interpreter (the venv's), else on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


@dataclass
class Deployment:
    """Processes of one deployment and their log files; :meth:`stop` ends them all (and their children)."""

    workdir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def start(self, name: str, args: list[str], env: Mapping[str, str]) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        handle = open(log, "wb")
        # a new session: the process and every child it spawns (ServerApp, ClientApps) share one group id
        proc = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=dict(env),
                                start_new_session=True, cwd=self.workdir)
        handle.close()
        self.processes[name], self.logs[name] = proc, log
        return proc

    def tail(self, name: str, lines: int = 25) -> str:
        try:
            return "\n".join(self.logs[name].read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if name != "flwr-run" and proc.poll() is not None:
                raise RuntimeError(f"{name} exited early (code {proc.returncode}):\n{self.tail(name)}")

    def family(self) -> list:
        """Every live process this deployment started and all their descendants (psutil.Process objects).
        Flower starts some helpers (SuperExec) in sessions of their own, so process groups are not enough."""
        import psutil

        found = {}
        for proc in self.processes.values():
            try:
                leader = psutil.Process(proc.pid)
                for p in [leader, *leader.children(recursive=True)]:
                    found[p.pid] = p
            except psutil.NoSuchProcess:
                continue
        return list(found.values())

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM every process and descendant (and their groups), wait up to ``grace`` seconds, then
        SIGKILL whatever is left."""
        family = self.family()
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGTERM)
        stop_processes(family, grace)
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGKILL)  # anything of theirs started after family() was read
        for proc in self.processes.values():
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values()]


def stop_processes(processes: list, grace: float = 5.0) -> None:
    """SIGTERM each ``psutil.Process``, wait up to ``grace`` seconds, then SIGKILL the ones still alive.
    Processes already gone are skipped."""
    import psutil

    for p in processes:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _gone, alive = psutil.wait_procs(processes, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=2)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the group id is the leader's pid (start_new_session=True)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_for_port(port: int, deployment: Deployment, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployment.check_alive()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} after {timeout:.0f} s")


def deploy(data_dir: str | Path, settings: Mapping[str, object] | None = None, timeout: float = 120.0,
           workdir: str | Path | None = None, on_start=None) -> dict:
    """Run the app on a SuperLink + one SuperNode per site (separate processes on 127.0.0.1); return the
    server's ``history.json`` (final weights in ``<out-dir>/final.npz``).

    ``settings`` override the app's run config (``num-rounds``, ``kind``, ``strategy``, ...). ``timeout``
    bounds the whole run. ``workdir`` receives the logs, the SuperLink's state and ``out/``; by default a new
    folder in the system's temporary directory, which is kept (it is the run's record): pass one you remove.
    ``on_start(deployment)`` is called once every process is up (tests record pids).
    Every started process group is stopped before this returns or raises.
    """
    from medfusion_lib.federated.server_app import read_meta

    data_dir = Path(data_dir).resolve()
    n_sites = len(read_meta(data_dir)["sites"])
    workdir = Path(workdir or tempfile.mkdtemp(prefix="medfusion-flower-"))
    out_dir = workdir / "out"
    flwr_home = workdir / "flwr-home"
    flwr_home.mkdir(parents=True, exist_ok=True)
    link_port = free_port()
    # $FLWR_HOME/config.toml: where `flwr run` finds the SuperLink called "deploy"
    (flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "deploy"\n\n[superlink.deploy]\naddress = "127.0.0.1:{link_port}"\n'
        "insecure = true\n")
    # the venv's scripts first: the SuperLink and SuperNodes start Flower's helpers by name
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "FLWR_HOME": str(flwr_home), "PYTHONUNBUFFERED": "1",
           "FLWR_DISABLE_UPDATE_CHECK": "1"}
    run_config = {**{"data-dir": str(data_dir), "out-dir": str(out_dir)}, **dict(settings or {})}
    overrides = " ".join(f"{k}={json.dumps(v)}" for k, v in run_config.items())
    deployment = Deployment(workdir)
    started = time.monotonic()
    try:
        deployment.start("superlink", [_bin("flower-superlink"), "--insecure", "--host", "127.0.0.1",
                                       "--port", str(link_port), "--disable-runtime-dependency-installation",
                                       "--database", str(workdir / "state.db")], env)
        _wait_for_port(link_port, deployment, timeout=min(60.0, timeout))
        for k in range(n_sites):
            node_config = f'data-path="{data_dir / f"client-{k}.npz"}" site-index={k}'
            deployment.start(f"supernode-{k}", [_bin("flower-supernode"), "--insecure", "--superlink",
                                                f"127.0.0.1:{link_port}", "--host", "127.0.0.1", "--port",
                                                str(free_port()), "--node-config", node_config], env)
        if on_start is not None:
            on_start(deployment)
        deployment.start("flwr-run", [_bin("flwr"), "run", str(APP_DIR), "deploy", "--run-config", overrides,
                                      "--stream"], env)
        history_path = out_dir / "history.json"
        while not history_path.exists():
            deployment.check_alive()
            run = deployment.processes["flwr-run"]
            if run.poll() is not None and run.returncode != 0:
                raise RuntimeError(f"`flwr run` failed (code {run.returncode}):\n{deployment.tail('flwr-run')}")
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"the federated run did not finish in {timeout:.0f} s; last lines of the "
                                   f"run:\n{deployment.tail('flwr-run')}\nSuperNode 0:\n"
                                   f"{deployment.tail('supernode-0')}")
            time.sleep(0.3)
        time.sleep(0.2)  # the file is written in one call; give the writer a moment to close it
        history = json.loads(history_path.read_text())
        history["out_dir"] = str(out_dir)
        history["deploy_seconds"] = time.monotonic() - started
        return history
    finally:
        deployment.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m medfusion_lib.federated.deploy``: build the cohort's federation, deploy, print scores."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kind", choices=("linear", "hybrid"), default="hybrid")
    parser.add_argument("--strategy", choices=("fedavg", "fedprox"), default="fedavg")
    parser.add_argument("--quick", action="store_true", help="the quick-mode subsample of the cohort")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    from medfusion_lib.federated.cohort import cohort_federation

    federation = cohort_federation(quick=args.quick)
    with tempfile.TemporaryDirectory(prefix="medfusion-federation-") as folder:  # nothing is left in /tmp
        data_dir = write_partitions(federation, Path(folder) / "data")
        history = deploy(data_dir, {"num-rounds": args.rounds, "kind": args.kind, "strategy": args.strategy,
                                    "lr": 0.003 if args.kind == "hybrid" else 0.01}, timeout=args.timeout,
                         workdir=Path(folder) / "deployment")
    for r, metrics in sorted(history["central"].items(), key=lambda kv: int(kv[0])):
        print(f"round {r}: macro-F1 {metrics['macro-f1']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
