"""The command line's own errors: a command that cannot be carried out as given (exit 2)."""

from __future__ import annotations

__all__ = ["Unresumable", "UsageError"]


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit code 2)."""


class Unresumable(UsageError):
    """A leftover export that ``--resume`` cannot go on with; its text says why."""
