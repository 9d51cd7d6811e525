"""Every public module declares __all__, and every name in it exists."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import conformance

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(conformance.__path__, "conformance.")
    if not info.name.rsplit(".", 1)[-1].startswith("_") and not info.ispkg
)
# Importing the load layer imports locust, which monkey-patches this process with gevent: its
# modules are read, not imported.
LOAD_LAYER = "conformance.load."


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _declared(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
            return list(ast.literal_eval(node.value))
    return None


@pytest.mark.parametrize("name", MODULES)
def test_module_exports_exist(name: str) -> None:
    if name.startswith(LOAD_LAYER):
        path = Path(conformance.__file__).parent.joinpath(*name.split(".")[1:]).with_suffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        exported, defined = _declared(tree), _top_level_names(tree)
    else:
        module = importlib.import_module(name)
        exported, defined = getattr(module, "__all__", None), set(dir(module))
    assert exported is not None, f"{name} has no __all__"
    for attribute in exported:
        assert attribute in defined, f"{name}.__all__ names missing {attribute!r}"
