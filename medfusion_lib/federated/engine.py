"""Ray for Flower's simulation engine, started so that a busy machine does not end the lesson.

Ray gives a new node a fixed 30 s to register (``ray/_private/node.py``), and the raylet waits for Ray's own
Python agents, which import much of Ray. On a slow 2-core machine ``ray.init`` took 6 s with nothing else running
(15 s before pyproject.toml kept jsonschema below 4.25) and, before that pin, more than 30 s three times in a row
beside two pytest workers. ``ray.init`` then raises "The current node timed out during startup" and leaves the
half-started processes running. :func:`start_ray` stops those and tries again; Flower's backend finds Ray
running and uses it (and shuts it down when the simulation ends)::

    start_ray(num_cpus=1)
    run_simulation(server_app=..., client_app=..., num_supernodes=3, backend_config=...)
"""
from __future__ import annotations

import logging
import os
import sys

STARTUP_TIMEOUT_MESSAGE = "timed out during startup"  # Ray's words when the raylet misses its 30 s


def start_ray(num_cpus: int = 1, attempts: int = 3, **init_args) -> None:
    """``ray.init(num_cpus=..., include_dashboard=False, logging_level=WARNING, **init_args)``, with the workers
    given this process's ``sys.path`` as Flower's backend does; a start-up that times out is cleaned up and
    retried, up to ``attempts`` times in all. Does nothing when Ray is already running."""
    import psutil
    import ray

    if ray.is_initialized():
        return
    from medfusion_lib.federated.deploy import stop_processes

    # Flower's RayBackend does this when it starts Ray itself: workers do not see sys.path changes made in memory
    pythonpath = os.pathsep.join([*sys.path, *filter(None, [os.environ.get("PYTHONPATH")])])
    os.environ["PYTHONPATH"] = pythonpath
    init_args = {"include_dashboard": False, "logging_level": logging.WARNING,  # no "Started a local Ray instance"
                 "runtime_env": {"env_vars": {"PYTHONPATH": pythonpath}}, **init_args}
    me = psutil.Process()
    for attempt in range(1, attempts + 1):
        before = {p.pid for p in me.children(recursive=True)}
        try:
            ray.init(num_cpus=num_cpus, **init_args)
            return
        except Exception as exc:
            if STARTUP_TIMEOUT_MESSAGE not in str(exc):
                raise
            stop_processes([p for p in me.children(recursive=True) if p.pid not in before])
        if attempt < attempts:
            print(f"Ray did not start within its 30 s limit (attempt {attempt} of {attempts}; the machine is busy): "
                  "stopped what it had started, trying again", file=sys.stderr)
    raise RuntimeError(f"Ray (Flower's simulation engine) did not start within its 30 s limit in {attempts} "
                       "attempts: this machine is too busy. Close other heavy programs (or wait for them) and run the "
                       "cell again.")
