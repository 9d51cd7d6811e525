"""Locate the data shipped with the package: schemas, scenarios, audio, rules catalog.

An installed wheel carries them under ``conformance/_data`` (see pyproject's force-include);
a source checkout keeps them at the repository root. Both layouts resolve to the same names.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

__all__ = ["data_path", "package_version"]

_PACKAGED = Path(__file__).resolve().parent / "_data"
_CHECKOUT = Path(__file__).resolve().parent.parent


def data_path(*parts: str) -> Path:
    """Return the path of a bundled data file or folder, e.g. ``data_path("schemas")``."""
    root = _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT
    return root.joinpath(*parts)


def package_version() -> str:
    """The installed package's version (reports and --version name it)."""
    try:
        return importlib.metadata.version("stt-conformance")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"
