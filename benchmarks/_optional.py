"""The comparison libraries are a ``bench`` extra: each one may be missing."""

from __future__ import annotations

import importlib
from importlib import metadata
from types import ModuleType

__all__ = ["INSTALL_HINT", "load", "missing_note", "version"]

INSTALL_HINT = "pip install -e '.[bench]'"


def load(module: str) -> ModuleType | None:
    """Import ``module`` (one of ours that needs an extra, or the library itself), or ``None``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def missing_note(library: str) -> str:
    return f"{library} not installed: {INSTALL_HINT}"
