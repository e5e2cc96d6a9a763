"""The anatomy of a graded test cell: probe (runs in the student's kernel) and checks (run in the judge).

Layout (markers are whole lines at column 0; hidden regions optional; /work/notes/grading-contract.md)::

    <visible probe>
    ### BEGIN HIDDEN PROBE
    <hidden probe>
    ### END HIDDEN PROBE
    ### CHECKS
    <visible checks>
    ### BEGIN HIDDEN TESTS
    <hidden checks>
    ### END HIDDEN TESTS

Evidence names are found statically here, in the trusted process: the names the checks read that the probes
assign. Only those values leave the kernel, as plain data.
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

PROBE_BEGIN = "### BEGIN HIDDEN PROBE"
PROBE_END = "### END HIDDEN PROBE"
CHECKS = "### CHECKS"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
TEST_MARKERS = (PROBE_BEGIN, PROBE_END, CHECKS, HIDDEN_BEGIN, HIDDEN_END)
#: Names every check may read besides its evidence: the judge binds them.
JUDGE_GLOBALS = frozenset({"np", "pd", "math", "expected", "raises"})
BUILTINS = frozenset(dir(builtins))


@dataclass
class TestParts:
    """The four parts of a test cell's source (each possibly empty)."""

    probe: str = ""
    hidden_probe: str = ""
    checks: str = ""
    hidden_checks: str = ""
    problems: list[str] = field(default_factory=list)


def _marker(line: str) -> str | None:
    stripped = line.strip()
    return next((m for m in TEST_MARKERS if stripped == m or stripped.startswith(m + " ")), None)


def parse_test_cell(source: str) -> TestParts:
    """Split a test cell; structural problems (order, nesting, indentation) go to ``parts.problems``."""
    parts = TestParts()
    buckets = {"probe": [], "hidden_probe": [], "checks": [], "hidden_checks": []}
    where, seen_checks, seen_probe = "probe", False, False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = _marker(line)
        if marker is None:
            buckets[where].append(line)
            continue
        if line[:1].isspace():
            parts.problems.append(f"line {number}: {marker!r} must start at column 0")
        expected_where = {PROBE_BEGIN: "probe", PROBE_END: "hidden_probe", CHECKS: "probe",
                          HIDDEN_BEGIN: "checks", HIDDEN_END: "hidden_checks"}[marker]
        if where != expected_where or (marker == PROBE_BEGIN and seen_probe) or (marker == CHECKS and seen_checks):
            parts.problems.append(f"line {number}: {marker!r} is out of place (order: probe, optional hidden probe, "
                                  f"{CHECKS!r}, visible checks, optional hidden tests)")
            continue
        if marker == PROBE_BEGIN:
            where, seen_probe = "hidden_probe", True
        elif marker in (PROBE_END,):
            where = "probe"
        elif marker == CHECKS:
            where, seen_checks = "checks", True
        elif marker == HIDDEN_BEGIN:
            where = "hidden_checks"
        elif marker == HIDDEN_END:
            where = "checks"
    if where in ("hidden_probe", "hidden_checks"):
        parts.problems.append(f"a hidden region is never closed")
    if not seen_checks:
        parts.problems.append(f"no {CHECKS!r} line: the probe (above it) and the checks (below it) must be separated")
    for name, lines in buckets.items():
        setattr(parts, name, "\n".join(lines).strip("\n"))
    return parts


def visible_source(source: str) -> str:
    """The student copy of a test cell: visible probe, the CHECKS line, visible checks."""
    parts = parse_test_cell(source)
    return "\n".join(p for p in (parts.probe, CHECKS, parts.checks) if p).rstrip()


# --------------------------------------------------------------------------- names

def _tree(code: str) -> ast.Module:
    return ast.parse(code or "", mode="exec")


def assigned_names(code: str) -> set[str]:
    """Names bound at the top level of ``code`` by assignment (``x = ``, ``a, b = ``, ``x += ``, for/with targets)."""
    names: set[str] = set()

    def targets(node) -> None:
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    def visit(body) -> None:
        for node in body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    targets(target)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets(node.target)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets(node.target)
                visit(node.body + node.orelse)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
                visit(node.body)
            elif isinstance(node, (ast.If, ast.While)):
                visit(node.body + node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body + node.orelse + node.finalbody + [h for x in node.handlers for h in x.body])
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.NamedExpr):
                targets(node.value.target)
    visit(_tree(code).body)
    return names


def bound_names(code: str) -> set[str]:
    """Every name ``code`` binds anywhere (stores, imports, defs, arguments, except-as)."""
    names: set[str] = set()
    for node in ast.walk(_tree(code)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def read_names(code: str) -> set[str]:
    """Names ``code`` reads that it does not bind itself (its free names, roughly)."""
    loads = {n.id for n in ast.walk(_tree(code)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return loads - bound_names(code)


def free_check_names(code: str) -> set[str]:
    """What a check reads from outside: evidence names (and mistakes), not builtins or judge globals."""
    return read_names(code) - BUILTINS - JUDGE_GLOBALS


def expected_names(code: str) -> set[str]:
    """Names a check reads from the reference: ``expected.NAME`` and ``expected["NAME"]``."""
    names = set()
    for node in ast.walk(_tree(code)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "expected":
            names.add(node.attr)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "expected" \
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            names.add(node.slice.value)
    return names


@dataclass(frozen=True)
class Evidence:
    """The names captured after the visible probe and after the hidden probe."""

    visible: tuple[str, ...]
    hidden: tuple[str, ...]


def evidence_names(parts: TestParts) -> Evidence:
    wanted_hidden = free_check_names(parts.hidden_checks) | expected_names(parts.hidden_checks)
    wanted = free_check_names(parts.checks) | wanted_hidden
    visible = sorted(wanted & assigned_names(parts.probe))
    hidden = sorted(wanted_hidden & assigned_names(parts.hidden_probe))
    return Evidence(tuple(visible), tuple(hidden))


def lint_test_cell(source: str, visible_probe_names: set[str]) -> list[str]:
    """Problems with one test cell; ``visible_probe_names``: names any visible probe of the notebook assigns."""
    parts = parse_test_cell(source)
    problems = list(parts.problems)
    if problems:
        return problems
    for label, code in (("probe", parts.probe), ("hidden probe", parts.hidden_probe), ("checks", parts.checks),
                        ("hidden checks", parts.hidden_checks)):
        try:
            compile(code or "", f"<{label}>", "exec")
        except SyntaxError as exc:
            problems.append(f"the {label} is not valid Python on its own: {exc.msg} (line {exc.lineno})")
    if problems:
        return problems
    probe, hidden = assigned_names(parts.probe), assigned_names(parts.hidden_probe)
    if not parts.probe.strip() and not parts.hidden_probe.strip():
        problems.append("has no probe: call the student's code above the CHECKS line")
    if not parts.checks.strip() and not parts.hidden_checks.strip():
        problems.append("has no checks below the CHECKS line")
    if "expected" in read_names(parts.checks):
        problems.append("a visible check reads `expected`: learners have no reference; use it in hidden tests only")
    for name in sorted(free_check_names(parts.checks) - probe):
        problems.append(f"a visible check reads `{name}`, which the visible probe does not assign (checks run in "
                        "the judge and see only probed values; import it in the check or probe it)")
    for name in sorted(free_check_names(parts.hidden_checks) - probe - hidden):
        problems.append(f"a hidden check reads `{name}`, which no probe of this cell assigns (checks run in the "
                        "judge and see only probed values; import it in the check or probe it)")
    for name in sorted(expected_names(parts.hidden_checks) - probe - hidden):
        problems.append(f"a hidden check reads `expected.{name}`, which no probe of this cell assigns")
    reused = (read_names(parts.hidden_probe) & visible_probe_names) - hidden
    for name in sorted(reused):
        problems.append(f"the hidden probe reads `{name}` from a visible probe; hidden probes run at the end of "
                        "the notebook in grading, so rebuild it inside the hidden probe")
    return problems
