"""Run a restored submission with papermill so that one bad cell cannot stop the others.

A papermill engine of our own (``medfusion-grading``) drives nbclient with errors allowed, a per-cell
timeout (the kernel is interrupted, the cell marked ``timeout``, the run goes on), a whole-notebook deadline,
and output truncation. When a cell kills the kernel (``os._exit``, the CPU-time limit, a crash) or wedges it
(ignores the interrupt), the grader starts a fresh kernel and runs the notebook again without that cell —
up to ``Limits.max_restarts`` times — so the remaining exercises are still graded.

What happened to each cell is written to its metadata under ``medfusion_grading``: ``reply`` (the kernel's
execute reply: status, ename, evalue) and ``event`` (timeout / killed / not_run, with a reason).
"""
from __future__ import annotations

import copy
import logging
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

from medfusion_lib.grading.kernel import limited_kernel_manager
from medfusion_lib.grading.limits import Limits
from medfusion_lib.grading.restore import RUN_KEY

ENGINE = "medfusion-grading"
KERNEL_NAME = "python3"
TIMEOUT_ENAME = "CellTimeoutError"
MAX_TRACEBACK_LINES = 40

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
    if output.get("output_type") == "stream":
        return len(output.get("text", ""))
    return sum(len(v) if isinstance(v, str) else 200 for v in output.get("data", {}).values())


class GradingClient(PapermillNotebookClient):
    """papermill's client with per-cell bookkeeping, deadline, liveness checks and output caps."""

    def __init__(self, nb_man, *, limits: Limits, deadline: float, skip: dict, **kw):
        super().__init__(nb_man, **kw)
        self.limits, self.deadline, self.skip = limits, deadline, skip
        self._timed_out: set[int] = set()
        self._output_used: dict[int, int] = {}
        self._current = -1
        self.timeout_func = self._cell_timeout
        self.on_cell_executed = self._record_reply

    def _cell_timeout(self, cell) -> int:
        remaining = self.deadline - time.monotonic()
        return max(1, int(min(self.limits.cell_timeout, remaining) + 0.999))

    def _record_reply(self, cell, cell_index, execute_reply) -> None:
        content = (execute_reply or {}).get("content", {})
        reply = {"status": content.get("status", "ok")}
        if reply["status"] == "error":
            reply.update(ename=str(content.get("ename", "")), evalue=str(content.get("evalue", ""))[:2000])
        _run_meta(cell)["reply"] = reply

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
        """Keep at most ``max_output_chars`` of output per cell; errors are always kept (trimmed)."""
        limit = self.limits.max_output_chars
        used = self._output_used.get(cell_index, 0)
        if msg["msg_type"] == "error":
            out = super().output(outs, msg, display_id, cell_index)
            if out is not None and len(out.get("traceback", [])) > MAX_TRACEBACK_LINES:
                out["traceback"] = out["traceback"][:5] + ["..."] + out["traceback"][-MAX_TRACEBACK_LINES:]
            return out
        if used > limit:
            return None
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return None
        size = _size(out)
        if used + size > limit:
            if out.get("output_type") == "stream":
                out["text"] = out["text"][: max(0, limit - used)]
            elif outs and outs[-1] is out:
                outs.pop()
            outs.append(nbformat.v4.new_output(
                "stream", name="stderr", text=f"\n[grader] output truncated after {limit} characters\n"))
            self._output_used[cell_index] = limit + 1
            return None
        self._output_used[cell_index] = used + size
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
    def execute_managed_notebook(cls, nb_man, kernel_name, limits: Limits = Limits(), workdir: Path | None = None,
                                 **kwargs):
        workdir = Path(workdir or tempfile.mkdtemp(prefix="medfusion-grade-"))
        original = copy.deepcopy(nb_man.nb)
        deadline = time.monotonic() + limits.timeout
        skip: dict[int, tuple[str, str, list]] = {}
        for attempt in range(limits.max_restarts + 1):
            workdir.mkdir(parents=True, exist_ok=True)  # a submission may have deleted it
            client = GradingClient(
                nb_man, limits=limits, deadline=deadline, skip=skip, kernel_name=kernel_name,
                kernel_manager_class=limited_kernel_manager(limits, workdir),
                resources={"metadata": {"path": str(workdir)}}, allow_errors=True, interrupt_on_timeout=True,
                error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "cell timed out", "traceback": []},
                timeout=int(limits.cell_timeout), startup_timeout=int(limits.start_timeout),
                shutdown_kernel="immediate", record_timing=True, log=_log)
            try:
                client.execute()
                return nb_man.nb
            except _KernelLost as lost:
                outputs = copy.deepcopy(nb_man.nb.cells[lost.index].outputs)
                skip[lost.index] = (lost.status, lost.detail, outputs)
                if attempt == limits.max_restarts or time.monotonic() >= deadline:
                    mark(nb_man.nb.cells[lost.index], lost.status, lost.detail)
                    for cell in nb_man.nb.cells[lost.index + 1:]:
                        if cell.cell_type == "code" and cell.source.strip():
                            mark(cell, "not_run", "not run: the kernel was lost too often "
                                                  f"({len(skip)} times) or time ran out")
                    return nb_man.nb
                nb_man.nb = copy.deepcopy(original)
        return nb_man.nb


papermill_engines.register(ENGINE, GradingEngine)


def execute_notebook(nb, limits: Limits):
    """Execute a restored notebook in a fresh temporary working folder; returns the executed copy.

    papermill injects ``QUICK``, ``GRADING=True`` and ``SEED`` after the ``parameters`` cell.
    """
    params = {"QUICK": bool(limits.quick), "GRADING": True, "SEED": int(limits.seed)}
    nb = copy.deepcopy(nb)
    # What papermill's own loader adds (a tags list per cell, papermill metadata), then its parameterizer.
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    nb.metadata.setdefault("papermill", {"default_parameters": {}, "parameters": {}, "environment_variables": {}})
    nb = parameterize_notebook(nb, params, kernel_name=KERNEL_NAME, language="python")
    with tempfile.TemporaryDirectory(prefix="medfusion-grade-", ignore_cleanup_errors=True) as tmp:
        # The kernel's working folder holds nothing of the grader's: the notebook stays in memory.
        workdir = Path(tmp) / "work"
        executed = papermill_engines.execute_notebook_with_engine(
            ENGINE, nb, kernel_name=KERNEL_NAME, output_path=None, progress_bar=False, log_output=False,
            limits=limits, workdir=workdir)
    executed.metadata[RUN_KEY] = {"limits": limits.as_dict()}
    return executed
