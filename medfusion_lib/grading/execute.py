"""Run a restored submission with papermill so that one bad cell cannot stop the others.

A papermill engine of our own (``medfusion-grading``) drives nbclient with errors allowed, a per-cell
timeout (the kernel is interrupted, the cell marked ``timeout``, the run goes on), a whole-notebook deadline,
and output truncation. When a cell kills the kernel (``os._exit``, the CPU-time limit, a crash) or wedges it
(ignores the interrupt), the grader starts a fresh kernel and runs the notebook again without that cell —
up to ``Limits.max_restarts`` times — so the remaining exercises are still graded.

What happened to each cell is written to its metadata under ``medfusion_grading``: ``reply`` (the kernel's
execute reply: status, ename, evalue) and ``event`` (timeout / killed / not_run, with a reason).

This executor runs in the grader (trusted); only the kernel is in the sandbox. It takes evidence (the plain
data a capture cell displays) only from capture cells, as it arrives, and keeps it out of the stored notebook.
Every output type is capped in bytes of its stored JSON (streams, MIME bundles of any type, display updates,
errors); widget comm state is never stored; the whole notebook has a byte cap too.
"""
from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from queue import Empty

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.parameterize import parameterize_notebook

from medfusion_lib.atomic import staged_dir
from medfusion_lib.grading.checks import EVIDENCE_MIME
from medfusion_lib.grading.kernel import limited_kernel_manager, seed_matplotlib_cache
from medfusion_lib.grading.limits import Limits
from medfusion_lib.grading.restore import RUN_KEY

ENGINE = "medfusion-grading"
KERNEL_NAME = "python3"
TIMEOUT_ENAME = "CellTimeoutError"
MAX_TRACEBACK_LINES = 40
MAX_EVALUE_CHARS = 2000

_log = logging.getLogger("medfusion.grading")
_log.addHandler(logging.NullHandler())
_log.propagate = False


class _KernelLost(Exception):
    """A cell killed or wedged the kernel; the engine restarts without it."""

    def __init__(self, index: int, status: str, detail: str):
        super().__init__(detail)
        self.index, self.status, self.detail = index, status, detail


def _run_meta(cell) -> dict:
    return cell.metadata.setdefault(RUN_KEY, {})


def mark(cell, status: str, detail: str) -> None:
    """Record what the grader did to a cell (timeout, killed, not_run) and say so in its output."""
    _run_meta(cell)["event"] = {"status": status, "detail": detail}
    if cell.cell_type == "code":
        cell.outputs.append(nbformat.v4.new_output("stream", name="stderr", text=f"\n[grader] {detail}\n"))


def _size(output) -> int:
    """Bytes the output takes in the stored notebook (all MIME types, streams, errors)."""
    return len(json.dumps(output, default=str).encode("utf-8", "replace"))


def _trim_error(out) -> None:
    out["evalue"] = str(out.get("evalue", ""))[:MAX_EVALUE_CHARS]
    out["ename"] = str(out.get("ename", ""))[:200]
    lines = [str(line)[:MAX_EVALUE_CHARS] for line in out.get("traceback", [])]
    if len(lines) > MAX_TRACEBACK_LINES:
        lines = lines[:5] + ["..."] + lines[-MAX_TRACEBACK_LINES:]
    out["traceback"] = lines


class GradingClient(PapermillNotebookClient):
    """papermill's client with per-cell bookkeeping, deadline, liveness checks, evidence and output caps."""

    def __init__(self, nb_man, *, limits: Limits, deadline: float, skip: dict, **kw):
        super().__init__(nb_man, **kw)
        self.limits, self.deadline, self.skip = limits, deadline, skip
        self._timed_out: set[int] = set()
        self._output_used: dict[int, int] = {}
        self._total_used = 0
        self._current = -1
        self.evidence: dict[str, dict] = {}
        self.timeout_func = self._cell_timeout
        self.on_cell_executed = self._record_reply
        self.store_widget_state = False

    def _cell_timeout(self, cell) -> int:
        remaining = self.deadline - time.monotonic()
        return max(1, int(min(self.limits.cell_timeout, remaining) + 0.999))

    def _record_reply(self, cell, cell_index, execute_reply) -> None:
        content = (execute_reply or {}).get("content", {})
        reply = {"status": str(content.get("status", "ok"))[:20]}
        if reply["status"] == "error":
            reply.update(ename=str(content.get("ename", ""))[:200], evalue=str(content.get("evalue", ""))[:2000])
        _run_meta(cell)["reply"] = reply

    def handle_comm_msg(self, outs, msg, cell_index) -> None:
        """Widgets are not graded: their comm state is never stored (it has no size a cap could follow)."""
        return None

    def _update_display_id(self, display_id, msg) -> None:
        size = _size(msg.get("content", {}).get("data", {}))
        if self._total_used + size > self.limits.max_notebook_bytes or size > self.limits.max_output_bytes:
            return None  # an update larger than the caps is dropped; the earlier display stays
        self._total_used += size
        return super()._update_display_id(display_id, msg)

    def _take_evidence(self, msg, cell_index) -> bool:
        """True when ``msg`` is an evidence display: kept (from a capture cell only), never stored."""
        data = msg.get("content", {}).get("data") or {}
        if msg["msg_type"] not in ("display_data", "execute_result") or EVIDENCE_MIME not in data:
            return False
        meta = self.nb.cells[cell_index].metadata.get(RUN_KEY, {})
        payload = data[EVIDENCE_MIME]
        if meta.get("role") == "capture" and isinstance(payload, dict) and meta.get("key") not in self.evidence:
            size = _size(payload)
            if size > self.limits.max_evidence_bytes:
                payload = {"key": meta["key"], "values": {}, "missing": [], "failed": {
                    "*": f"the probed values take {size} bytes, more than the {self.limits.max_evidence_bytes} allowed"}}
            self.evidence[meta["key"]] = payload
        return True

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out.add(self._current)
        return await super()._async_handle_timeout(timeout, cell)

    async def _async_responsive(self, seconds: float = 5.0) -> bool:
        """True when the kernel answers a kernel_info request (it is idle again after an interrupt)."""
        msg_id = self.kc.kernel_info()
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=remaining))
            except Empty:
                return False
            if msg["parent_header"].get("msg_id") == msg_id:
                return True
        return False

    responsive = run_sync(_async_responsive)

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most ``max_output_bytes`` per cell and ``max_notebook_bytes`` in all; errors are trimmed."""
        if self._take_evidence(msg, cell_index):
            return None
        limit = self.limits.max_output_bytes
        used = self._output_used.get(cell_index, 0)
        if msg["msg_type"] == "error":
            out = super().output(outs, msg, display_id, cell_index)
            if out is not None:
                _trim_error(out)
                self._total_used += _size(out)
            return out
        if used > limit or self._total_used > self.limits.max_notebook_bytes:
            return None
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return None
        size = _size(out)
        room = min(limit - used, self.limits.max_notebook_bytes - self._total_used)
        if size > room:
            if out.get("output_type") == "stream" and room > 0:
                out["text"] = out["text"].encode("utf-8", "replace")[: max(0, room - 200)].decode("utf-8", "ignore")
                size = _size(out)
            elif outs and outs[-1] is out:
                outs.pop()
                size = 0
            note = "cell" if limit - used <= self.limits.max_notebook_bytes - self._total_used else "notebook"
            cap = limit if note == "cell" else self.limits.max_notebook_bytes
            outs.append(nbformat.v4.new_output(
                "stream", name="stderr", text=f"\n[grader] output truncated: the {note} reached its cap of {cap} bytes\n"))
            self._output_used[cell_index] = limit + 1
            self._total_used += size + 100
            return None
        self._output_used[cell_index] = used + size
        self._total_used += size
        return out

    def papermill_execute_cells(self):
        for index, cell in enumerate(self.nb.cells):
            self._current = index
            runnable = cell.cell_type == "code" and cell.source.strip()
            if index in self.skip:
                status, detail, outputs = self.skip[index]
                cell.outputs = copy.deepcopy(outputs)
                mark(cell, status, f"{detail}; not run again")
                continue
            if runnable and time.monotonic() >= self.deadline:
                mark(cell, "timeout", f"not run: the whole-notebook time limit ({self.limits.timeout:g} s) was reached")
                continue
            limit = self._cell_timeout(cell)
            try:
                self.nb_man.cell_start(cell, index)
                self.execute_cell(cell, index)
            except DeadKernelError:
                raise _KernelLost(index, "killed", self.km.exit_description()) from None
            except CellTimeoutError:
                raise _KernelLost(index, "timeout", f"ran longer than {limit} s and ignored the interrupt") from None
            finally:
                self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)
            if index in self._timed_out:
                mark(self.nb.cells[index], "timeout", f"ran longer than {limit} s and was interrupted")
                if not self.responsive():
                    raise _KernelLost(index, "timeout", f"ran longer than {limit} s and ignored the interrupt")


class GradingEngine(NBClientEngine):
    """papermill engine: restart-and-skip around GradingClient."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, limits: Limits = Limits(), job: Path | None = None,
                                 sandboxed: bool = True, **kwargs):
        job = Path(job or tempfile.mkdtemp(prefix="medfusion-grade-"))
        original = copy.deepcopy(nb_man.nb)
        deadline = time.monotonic() + limits.timeout
        skip: dict[int, tuple[str, str, list]] = {}
        client = None
        for attempt in range(limits.max_restarts + 1):
            (job / "work").mkdir(parents=True, exist_ok=True)  # a submission may have deleted it
            seed_matplotlib_cache(job / "work")
            client = GradingClient(
                nb_man, limits=limits, deadline=deadline, skip=skip, kernel_name=kernel_name,
                kernel_manager_class=limited_kernel_manager(limits, job, sandboxed),
                resources={"metadata": {"path": str(job / "work")}}, allow_errors=True, interrupt_on_timeout=True,
                error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "cell timed out", "traceback": []},
                timeout=int(limits.cell_timeout), startup_timeout=int(limits.start_timeout),
                shutdown_kernel="immediate", record_timing=True, log=_log)
            try:
                client.execute()
                break
            except _KernelLost as lost:
                outputs = copy.deepcopy(nb_man.nb.cells[lost.index].outputs)
                skip[lost.index] = (lost.status, lost.detail, outputs)
                if attempt == limits.max_restarts or time.monotonic() >= deadline:
                    mark(nb_man.nb.cells[lost.index], lost.status, lost.detail)
                    for cell in nb_man.nb.cells[lost.index + 1:]:
                        if cell.cell_type == "code" and cell.source.strip():
                            mark(cell, "not_run", "not run: the kernel was lost too often "
                                                  f"({len(skip)} times) or time ran out")
                    break
                nb_man.nb = copy.deepcopy(original)
        nb_man.nb.metadata.setdefault(RUN_KEY, {})["evidence"] = dict(client.evidence) if client else {}
        return nb_man.nb


papermill_engines.register(ENGINE, GradingEngine)


#: Where a kernel's course caches live inside its job folder (its ``MEDFUSION_BUILD_DIR`` is ``work/build``).
KERNEL_CACHE = Path("work") / "build" / "cache"


def execute_submission(nb, limits: Limits, sandboxed: bool = True, variant: int = 0,
                       warm_cache: Path | None = None, keep_cache: Path | None = None):
    """Execute a restored notebook in a fresh private job folder; returns the executed copy.

    papermill injects ``QUICK``, ``GRADING=True``, ``SEED`` and ``VARIANT`` after the ``parameters`` cell. The
    evidence the capture cells sent is in ``executed.metadata["medfusion_grading"]["evidence"]``.

    ``keep_cache``: after the run, the kernel's course caches (cached features, keyed on the code and the cohort
    that made them) are copied there — the grader does this for the solution's run. ``warm_cache``: such a folder
    is copied into the job folder before the kernel starts, so a student's kernel finds the features the solution
    already built instead of retraining them. The kernel only ever gets its own copy; a folder that does not
    exist (e.g. on another Dask machine) is skipped.
    """
    params = {"QUICK": bool(limits.quick), "GRADING": True, "SEED": int(limits.seed), "VARIANT": int(variant)}
    nb = copy.deepcopy(nb)
    # What papermill's own loader adds (a tags list per cell, papermill metadata), then its parameterizer.
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    nb.metadata.setdefault("papermill", {"default_parameters": {}, "parameters": {}, "environment_variables": {}})
    nb = parameterize_notebook(nb, params, kernel_name=KERNEL_NAME, language="python")
    with tempfile.TemporaryDirectory(prefix="medfusion-grade-", ignore_cleanup_errors=True) as tmp:
        # The job folder holds nothing of the grader's but a copy of the solution run's caches: the notebook
        # stays in memory.
        if warm_cache is not None and Path(warm_cache).is_dir():
            shutil.copytree(warm_cache, Path(tmp) / KERNEL_CACHE, symlinks=True)
        executed = papermill_engines.execute_notebook_with_engine(
            ENGINE, nb, kernel_name=KERNEL_NAME, output_path=None, progress_bar=False, log_output=False,
            limits=limits, job=Path(tmp), sandboxed=sandboxed)
        if keep_cache is not None and (Path(tmp) / KERNEL_CACHE).is_dir():
            with staged_dir(keep_cache) as stage:  # readers see the old copy or the whole new one
                shutil.copytree(Path(tmp) / KERNEL_CACHE, stage, dirs_exist_ok=True, symlinks=True,
                                ignore=lambda folder, names: [n for n in names if (Path(folder) / n).is_symlink()])
    evidence = executed.metadata.get(RUN_KEY, {}).get("evidence", {})
    executed.metadata[RUN_KEY] = {"limits": limits.as_dict(), "evidence": evidence}
    return executed
