"""The course as a student meets it: JupyterLab in headless Chromium, notebooks run with the lab's "Run All".

A JupyterLab server starts on 127.0.0.1 (a free port, a random token) over copies of the notebooks, so the
lab's autosave never writes outputs into the checkout. The server and every kernel it started are stopped when
the module ends, even after a failure.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from medfusion_lib.notebook_schema import cell_role
from medfusion_lib.config import build_dir

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
LESSON = "notebooks/00_welcome_and_cohort.ipynb"
EXERCISE = "exercises/00_warmup.ipynb"
RUN_TIMEOUT_S = 300
# Lab settings for a quiet, deterministic session: no news or update checks (no network), every cell kept in
# the page (windowing would drop off-screen outputs from the DOM), no autosave.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"checkForUpdates": False, "fetchNews": "false"},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Every process below ``pid`` (kernels start in sessions of their own, so a process group misses them)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


def _stop(server: subprocess.Popen, lab: Lab) -> list[int]:
    """Ask the server to shut down (it stops its kernels), then kill whatever is left; returns the stragglers."""
    family = _children(server.pid)
    try:
        request = urllib.request.Request(f"{lab.url}api/shutdown", method="POST",
                                         headers={"Authorization": f"token {lab.token}"})
        urllib.request.urlopen(request, timeout=10).close()
        server.wait(timeout=20)
    except (OSError, urllib.error.URLError, subprocess.TimeoutExpired):
        pass
    stragglers = [pid for pid in family if _alive(pid)]
    for pid in [server.pid, *stragglers]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.wait(timeout=10)
    return stragglers


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1:<free port> with a token, over copies of the lesson and exercise notebooks."""
    if shutil.which("jupyter", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("jupyterlab is not installed: run `make venv` (it is in the dev extra)")
    root = tmp_path_factory.mktemp("lab")
    for rel in (LESSON, EXERCISE):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    settings = root / ".jupyter" / "lab" / "user-settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    lab = Lab(f"http://127.0.0.1:{port}/", token, root, root / ".jupyter" / "server.log")
    env = {**os.environ, "MEDFUSION_QUICK": "1", "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / ".jupyter" / "workspaces"),
           "JUPYTER_RUNTIME_DIR": str(root / ".jupyter" / "runtime"), "JUPYTER_CONFIG_DIR": str(root / ".jupyter" / "config")}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
               *(["--allow-root"] if os.geteuid() == 0 else [])]
    with open(lab.log, "w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited ({server.returncode}): {lab.log.read_text()[-800:]}", pytrace=False)
            try:
                urllib.request.urlopen(f"{lab.url}api/status?token={token}", timeout=5).close()
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in 90 s: {lab.log.read_text()[-800:]}", pytrace=False)
                time.sleep(0.5)
        yield lab
    finally:
        stragglers = _stop(server, lab)
        assert not [pid for pid in stragglers if _alive(pid)], "processes outlived the lab server"


@pytest.fixture()
def tab(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


# What the lab shows, read from its own notebook model (the page exposes the app: expose_app_in_browser).
_CELLS_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.map(cell => ({
    type: cell.model.type,
    count: cell.model.type === 'code' ? cell.model.executionCount : null,
    nbgrader: (cell.model.getMetadata && cell.model.getMetadata('nbgrader')) || null,
    outputs: cell.model.type === 'code' ? cell.model.outputs.toJSON() : [],
  }));
}"""
_BUSY_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  const pending = [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')].some(p => p.textContent.includes('*'));
  return !kernel || kernel.status !== 'idle' || pending;
}"""


def _open(tab, lab: Lab, rel: str) -> None:
    tab.goto(f"{lab.url}lab/tree/{rel}?token={lab.token}")
    tab.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    tab.wait_for_function("""() => { const p = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        return p && p.sessionContext && p.sessionContext.session && p.sessionContext.session.kernel
               && p.sessionContext.session.kernel.status === 'idle'; }""", timeout=90_000)


def _menu(tab, menu: str, item: str) -> None:
    """Click ``menu`` in the lab's menu bar, then ``item``: the student's way to run cells."""
    tab.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    tab.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def _wait_idle(tab) -> None:
    tab.wait_for_timeout(500)  # the kernel goes busy only after the request reaches it
    tab.wait_for_function(f"() => !({_BUSY_JS})()", timeout=RUN_TIMEOUT_S * 1000, polling=500)


def _errors(cells) -> list[tuple[int, dict]]:
    return [(i, o) for i, c in enumerate(cells) for o in c["outputs"] if o.get("output_type") == "error"]


def _images_loaded(tab) -> tuple[int, int]:
    """(images in output areas, of which loaded with a natural width)."""
    return tab.evaluate("""() => { const imgs = [...document.querySelectorAll('.jp-OutputArea img')];
        return [imgs.length, imgs.filter(i => i.complete && i.naturalWidth > 0).length]; }""")


def _screenshot(tab, locator, name: str) -> Path:
    shots = build_dir() / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    if locator.count():
        locator.first.scroll_into_view_if_needed()
    tab.screenshot(path=str(shots / name))
    return shots / name


def test_lesson_00_runs_all_in_jupyterlab(lab, tab):
    _open(tab, lab, LESSON)
    _menu(tab, "Run", "Run All Cells")
    _wait_idle(tab)
    cells = tab.evaluate(_CELLS_JS)
    code = [c for c in cells if c["type"] == "code"]
    assert code and all(c["count"] for c in code), "Run All left cells unexecuted"
    assert not _errors(cells), [(i, o["ename"], o["evalue"]) for i, o in _errors(cells)]
    pictures = sum("image/png" in o.get("data", {}) for c in cells for o in c["outputs"])
    assert pictures >= 3, f"the cohort lesson drew {pictures} figures (expected its plots)"
    tab.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea img')].every(i => i.complete)")
    shown, loaded = _images_loaded(tab)
    assert shown == pictures and loaded == shown, f"{pictures} figures, {shown} <img> in the page, {loaded} loaded"
    assert tab.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                       has_text="Traceback").count() == 0
    assert _screenshot(tab, tab.locator(".jp-OutputArea img"), "lab-00-welcome.png").stat().st_size > 10_000


def test_exercise_fails_only_in_stubs_in_jupyterlab(lab, tab):
    """Run All stops at the first error, as it does for a student; run on below each error until the end."""
    _open(tab, lab, EXERCISE)
    _menu(tab, "Run", "Run All Cells")
    _wait_idle(tab)
    for _ in range(50):
        cells = tab.evaluate(_CELLS_JS)
        pending = [i for i, c in enumerate(cells) if c["type"] == "code" and not c["count"]]
        if not pending:
            break
        tab.evaluate(f"() => {{ window.jupyterapp.shell.currentWidget.content.activeCellIndex = {pending[0]}; }}")
        _menu(tab, "Run", "Run Selected Cell and All Below")
        _wait_idle(tab)
    else:
        pytest.fail("cells never finished running")
    errors = _errors(cells)
    assert errors, "an untouched exercise notebook must fail in its stubs"
    for index, output in errors:
        assert output["ename"] == "NotImplementedError", f"cell {index} failed with {output['ename']}: {output['evalue']}"
        assert output["evalue"].endswith(": write your answer here"), f"cell {index}: {output['evalue']}"
    failed = {i for i, _ in errors}
    tests = [i for i, c in enumerate(cells) if c["nbgrader"] and cell_role({"metadata": {"nbgrader": c["nbgrader"]}}) == "test"]
    assert tests and set(tests) <= failed, f"test cells {sorted(set(tests) - failed)} did not hit a stub"
    shown = tab.locator(".jp-OutputArea-output", has_text="NotImplementedError")
    assert shown.count() >= len(tests), "the page does not show the NotImplementedError tracebacks"
    assert _screenshot(tab, shown, "lab-exercise-00.png").stat().st_size > 10_000
