"""The package tree keeps its architecture: a lean ``import csq_hw``, imports that only run down the layers, no
import circles, ``cost_models`` free of our other packages, files under 400 lines."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("csq_hw", "cost_models", "hls")
SKIP_DIRS = {"build", "dist", "runs", "__pycache__", "venv", "node_modules"}
# csq_hw's parts, lowest first: a module may import its own part and the parts ranked at or below it
RANK = {"errors": 0, "option_fields": 0, "text_table": 0, "runtime": 1, "handoff": 2, "data": 2, "zoo": 3,
        "quant": 4, "train": 5, "sweep": 6, "api": 7, "plots": 7, "cli": 8, "__init__": 9}  # fmt: skip


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(module: str, path: Path) -> set[str]:
    """Every module named by an import statement (top level or inside functions), made absolute."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # "from pkg import module"
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_import_csq_hw_loads_neither_hls4ml_nor_pandas_nor_matplotlib_nor_pil():
    heavy = "('hls4ml', 'pandas', 'matplotlib', 'PIL')"
    code = f"import sys, csq_hw; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_cost_models_imports_nothing_of_ours():
    for module, path in _modules("cost_models").items():
        ours = {m for m in _imports(module, path) if m.split(".")[0] in ("csq_hw", "hls")}
        assert not ours, f"{module} imports {sorted(ours)}"


def test_csq_hw_never_imports_hls_outside_the_cli():
    for module, path in _modules("csq_hw").items():
        if _part(module) == "cli":
            continue
        assert not {m for m in _imports(module, path) if m.split(".")[0] == "hls"}, module


def test_csq_hw_imports_run_down_the_layers():
    known = _modules("csq_hw")
    bad = []
    for module, path in known.items():
        mine = _part(module)
        for target in _imports(module, path):
            if (
                target.split(".")[0] != "csq_hw"
                or target == "csq_hw"
                or (target not in known and "." in target and target.rpartition(".")[0] in known)
            ):
                continue  # "from csq_hw.x import name" also lists "csq_hw.x.name": judged by csq_hw.x
            theirs = _part(target)
            if theirs != mine and RANK[theirs] > RANK[mine]:
                bad.append(f"{module} ({mine}) -> {target} ({theirs})")
    assert not bad, "imports that run up the layers:\n" + "\n".join(bad)


def test_every_part_of_csq_hw_has_a_rank():
    parts = {_part(m) for m in _modules("csq_hw")}
    assert parts <= set(RANK), sorted(parts - set(RANK))


def test_no_import_circles():
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        mods = _modules(package)
        for module, path in mods.items():
            graph[module] = {t for t in _imports(module, path) if t in mods and t != module and not
                             (path.name != "__init__.py" and module.startswith(t + "."))}  # fmt: skip
    # a package __init__ that re-exports its modules is the package's face, not a circle partner: drop the
    # edges from a module up to its own package
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_no_python_file_over_400_lines():
    """Every Python file of the repository (packages, tests, benchmarks, docs scripts), not only the packages."""
    files = [
        p
        for p in ROOT.rglob("*.py")
        if not any(part.startswith(".") or part in SKIP_DIRS for part in p.relative_to(ROOT).parts)
    ]
    long = [f"{p.relative_to(ROOT)} ({n})" for p in files if (n := len(p.read_text().splitlines())) > 400]
    assert files and not long, long
