"""The library's keyword arguments of a command line: its query, and how to walk it.

Every command that asks for links builds them here, from the same options of the
parser (``_filters`` and ``_walk_options`` in ``_parser.py``), so that ``export``,
``page``, ``sync`` and the checks of ``check_arguments`` cannot read them differently.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._core.protocol import Query, make_query
from .._io.pagination import Checkpoint

__all__ = ["query_of", "query_options", "walk_options"]


def query_options(args: argparse.Namespace) -> dict[str, Any]:
    """The query's options of the command line, as keyword arguments of the library."""
    return {
        "per_page": args.per_page,
        "status": args.status,
        "contact": args.contact,
        "link_id": args.link_id,
    }


def query_of(args: argparse.Namespace) -> Query:
    """The query of the command line; raises ``ValueError`` or ``TypeError`` for a bad value."""
    return make_query(**query_options(args))


def walk_options(args: argparse.Namespace, *, resume: Checkpoint | None = None) -> dict[str, Any]:
    """The options of the command's walk: its query (or ``resume``), pages at once, consistency.

    ``resume`` is a saved :class:`Checkpoint` to go on from: it carries its own query,
    so the command line's filters are left out.
    """
    query = query_options(args) if resume is None else {"resume": resume}
    return {**query, "concurrency": args.concurrency, "consistency": args.consistency}
