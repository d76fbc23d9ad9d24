"""The layout stays readable: imports run one way, no module over 700 lines, no function over 80.

Layers, lowest first: core (pure rules) < inputs, ledger (read and store) < render (documents)
< the orchestration of a year and of an issue (billing/*.py) < cli. A module may import its
own layer or a lower one, never a higher one; render never reads the configuration files or
the register (it receives values); the ledger imports only the core.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "billing"
LAYER = {"core": 0, "inputs": 1, "ledger": 1, "render": 2, "top": 3, "cli": 4}
FORBIDDEN = {
    "render": ("billing.inputs.config", "billing.inputs.register", "billing.inputs.tariffs",
               "billing.inputs.syndicat", "billing.ledger"),
    "ledger": ("billing.inputs", "billing.render"),
    "inputs": ("billing.ledger", "billing.render"),
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "schemas":
        return "inputs"
    if len(parts) >= 2 and parts[1] in ("core", "inputs", "ledger", "render"):
        return parts[1]
    if module == "billing.cli":
        return "cli"
    return "top"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted([*PACKAGE.rglob("*.py"), *(ROOT / "schemas").rglob("*.py")]):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports_of(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith(("billing", "schemas")):
                out.add(node.module)
                out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith(("billing", "schemas")))
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {i for i in imports_of(path) if i in known and i != name} for name, path in known.items()}


def test_imports_never_go_up_a_layer():
    upward = []
    for module, targets in graph().items():
        for target in targets:
            if target in ("billing", "schemas"):
                continue
            if LAYER[layer_of(target)] > LAYER[layer_of(module)]:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_forbidden_imports():
    bad = [f"{m} -> {t}" for m, targets in graph().items() for t in targets
           for prefix in FORBIDDEN.get(layer_of(m), ()) if t == prefix or t.startswith(prefix + ".")]
    assert bad == []


def test_no_import_circle():
    g = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_module_over_700_lines():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 700}
    assert long == {}


def _functions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = path.read_text(encoding="utf-8").splitlines()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            head = "\n".join(lines[node.lineno - 1: node.lineno + 12])
            yield node.name, length, "Long because" in head or "long because" in head


def test_no_function_over_80_lines_and_a_reason_past_60():
    too_long, unexplained = [], []
    for name, path in modules().items():
        for function, length, explained in _functions(path):
            if length > 80:
                too_long.append(f"{name}.{function} ({length})")
            elif length > 60 and not explained:
                unexplained.append(f"{name}.{function} ({length})")
    assert too_long == [] and unexplained == []
