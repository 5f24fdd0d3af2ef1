"""The duplicate-key check of the msgspec routes: the strings read against the body's ``"``.

msgspec keeps the last of two equal keys, where other parsers keep the first: a
body with a key twice means two things, and must be refused. Rather than parse
again with a parser that sees every pair, both msgspec routes count the JSON
strings (keys and string values) they read and compare that count with the
body's (:func:`every_string_read`). Only when the counts differ is the body parsed
again, by :func:`.parsers.decode_json`, which refuses duplicate keys.
"""

from __future__ import annotations

__all__ = ["count_strings", "every_string_read"]


def count_strings(value: object, skip: object = None) -> int:
    """The JSON strings ``value`` was written with: its keys and string values, nested.

    Values that are ``skip`` count for nothing. A loop, not recursion: any depth the
    parser accepted is counted without a ``RecursionError``.
    """
    count, pending = 0, [value]
    while pending:
        item = pending.pop()
        if item is skip:
            continue
        if isinstance(item, str):
            count += 1
        elif isinstance(item, dict):
            count += len(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return count


def every_string_read(body: bytes, strings: int) -> bool:
    """Whether the ``strings`` read from ``body`` are every string written in it, once.

    Every ``"`` of a body delimits a string (a key or a value) or is escaped inside
    one: a body has at least twice as many ``"`` as the strings read from it, and
    exactly twice as many when nothing is escaped and no key went unread. A
    duplicate key (msgspec keeps the last value) or a key the wire structs skip is a
    string not read; white space and escapes cannot hide one, they only make the
    count of ``"`` larger. On ``False`` the body goes on to a parser that reads more:
    from the typed route to the dict route, from the dict route to
    :func:`.parsers.decode_json`, which refuses duplicate keys.
    """
    return 2 * strings == body.count(b'"')
