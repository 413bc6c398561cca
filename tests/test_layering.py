"""The package's imports go one way: no module imports itself back through others, and no
package imports one above it (docs/architecture.md, "Layers"). Imports inside functions count:
a lazy import is still a dependency; ``if TYPE_CHECKING:`` imports do not (never run)."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "src" / "fingerspell"
# lowest first: a module may import its own layer's modules and the layers below it
LAYERS = ("(ground)", "data", "features", "head", "evaluation", "infer", "live", "training",
          "serve", "cli")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", getattr(block.test, "attr", "")) == "TYPE_CHECKING"
                   for statement in block.body for node in ast.walk(statement)}
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # "from . import x" may name a module
                full = f"{target}.{alias.name}"
                found.add(full if full in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, name, set(paths)) for name, path in paths.items()}


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) > 1 and (PACKAGE / parts[1]).is_dir():
        return LAYERS.index(parts[1])
    entry_points = ("fingerspell.cli", "fingerspell.__main__")
    return LAYERS.index("cli") if module in entry_points else 0


def test_no_import_cycle() -> None:
    graph = import_graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module):], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_no_import_goes_up_a_layer() -> None:
    graph = import_graph()
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                    if layer(b) > layer(a))
    assert not upward, f"imports up a layer ({' < '.join(LAYERS)}): {upward}"


def test_the_check_sees_a_lazy_import_and_skips_a_typing_one(tmp_path: Path) -> None:
    """The walker itself: a function-level import is a dependency, a TYPE_CHECKING one is not."""
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from fingerspell.infer.model import Model\n"
                      "def f():\n    from fingerspell.serve import app\n")
    found = _imports(module, "fingerspell.m", {"fingerspell.infer.model", "fingerspell.serve.app"})
    assert found == {"fingerspell.serve.app"}
