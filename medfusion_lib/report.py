"""Key figures: a lesson shows the numbers it is about, and ``make run`` gathers them into build/report.md.

``show_key_figures`` displays a small table and tags the output with a MIME type of its own, so the
report builder can read the figures back out of the executed notebooks without any side files.
"""
from __future__ import annotations

import json
import math
from pathlib import Path


FIGURES_MIME = "application/vnd.medfusion.key-figures+json"


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def clean_figures(figures: dict) -> dict:
    """``figures`` with string names and plain values (NumPy scalars unwrapped, nan/inf as ``None``)."""
    return {str(k): _clean(v) for k, v in figures.items()}


def show_key_figures(figures: dict, title: str = "Key figures") -> None:
    """Display ``figures`` (name -> number or short text) as a table.

    Returns nothing, so a Summary cell that ends with this call shows the table once (a returned dict would be
    echoed again below it as plain text).
    """
    clean = clean_figures(figures)
    lines = [f"**{title}**", "", "| figure | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in clean.items()]
    markdown = "\n".join(lines)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is None or get_ipython() is None:  # plain Python (a script, the CLI): print the table
        print(markdown)
        return
    # a list of pairs, not a dict: notebook JSON is written with sorted keys, which would reorder figures
    display({FIGURES_MIME: {"title": title, "figures": [[k, v] for k, v in clean.items()]},
             "text/markdown": markdown,
             "text/plain": "\n".join(f"{k}: {_fmt(v)}" for k, v in clean.items())}, raw=True)


def read_key_figures(notebook_path: str | Path) -> list[dict]:
    """The key-figure blocks an executed notebook displayed, in order."""
    import nbformat  # here, not at the top: it pulls in jsonschema, seconds of start-up for every notebook

    nb = nbformat.read(str(notebook_path), as_version=4)
    blocks = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if FIGURES_MIME in data:
                payload = data[FIGURES_MIME]
                blocks.append(json.loads(payload) if isinstance(payload, str) else payload)
    return blocks


def _image_count(path) -> int | None:
    """Images stored in an executed notebook (None when it was not written)."""
    from medfusion_lib.figures import figure_summary

    try:
        return figure_summary(json.loads(Path(path).read_text(encoding="utf-8")))["images"]
    except (OSError, ValueError):
        return None


def build_report(executed: list[tuple[str, Path, float | None, str | None]], out: Path, mode: str) -> Path:
    """Write ``out`` (markdown): one section per executed notebook with its key figures.

    ``executed``: (notebook name, executed path, seconds, error message or None) per notebook.
    """
    from medfusion_lib.atomic import atomic_write_text

    lines = [f"# MedFusion course run ({mode} mode)", "",
             "Semi-synthetic data, educational use only: these figures say nothing about real patients.", "",
             "| notebook | status | seconds | figures |", "|---|---|---|---|"]
    for name, path, seconds, error in executed:
        status = "ok" if error is None else "FAILED"
        images = _image_count(path)
        lines.append(f"| {name} | {status} | {'' if seconds is None else f'{seconds:.1f}'} | "
                     f"{'' if images is None else images} |")
    for name, path, _seconds, error in executed:
        lines += ["", f"## {name}", ""]
        if error is not None:
            lines += [f"Execution failed: `{error}`", ""]
        blocks = read_key_figures(path) if Path(path).exists() else []
        if not blocks and error is None:
            lines.append("(this notebook reports no key figures)")
        for block in blocks:
            lines += [f"**{block.get('title', 'Key figures')}**", "", "| figure | value |", "|---|---|"]
            figures = block.get("figures", [])
            pairs = figures.items() if isinstance(figures, dict) else figures
            lines += [f"| {k} | {_fmt(v)} |" for k, v in pairs]
            lines.append("")
    return atomic_write_text(out, "\n".join(lines) + "\n")
