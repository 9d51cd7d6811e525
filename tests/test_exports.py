"""Every public module declares __all__, and every name in it exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import conformance

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(conformance.__path__, "conformance.")
    if not info.name.rsplit(".", 1)[-1].startswith("_") and not info.ispkg
)


@pytest.mark.parametrize("name", MODULES)
def test_module_exports_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    for attribute in exported:
        assert hasattr(module, attribute), f"{name}.__all__ names missing {attribute!r}"
