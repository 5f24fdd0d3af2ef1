"""``FILE.checkpoint``: what an interrupted export saved, written atomically, read back checked.

The file is JSON (``_plain``): the format, whether CSV cells were written raw, how
many bytes of ``FILE.partial`` are whole pages (``offset``) and their SHA-256, the
links in them, and the walk's :class:`~ipay_links.Checkpoint`. It is written to a
temporary file (mode 0600) renamed over the last one, so it is always one whole save.

:func:`read_saved` believes nothing it reads: every field's type and range is
checked, and :func:`check_partial` holds the partial file against the length,
digest and count recorded. Any mismatch is an :class:`Unresumable` naming it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import attrs

from .._core.checks import check_number
from .._core.plain import from_plain, refuse_unknown_keys, to_plain
from .._io.pagination import Checkpoint
from ._formats import FORMATS, RECORD_ENDS, count_exported_links
from ._usage import Unresumable

__all__ = [
    "CHECKPOINT_VERSION",
    "REGULAR",
    "SavedExport",
    "check_partial",
    "file_kind",
    "read_saved",
    "temporary_of",
    "write_saved",
]

CHECKPOINT_VERSION = 2
MAX_CHECKPOINT_SIZE = 1 << 20  # a page's ids and a query: a few kB
_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)
REGULAR = "a regular file"
# Fields whose JSON type is checked before conversion (which would turn "4" into 4,
# 4.7 into 4 and "false" into True): path, type, least value, may be null.
_TYPED: tuple[tuple[tuple[str, ...], type, int | None, bool], ...] = (
    (("version",), int, 1, False),
    (("format",), str, None, False),
    (("csv_raw",), bool, None, False),
    (("offset",), int, 0, False),
    (("sha256",), str, None, False),
    (("links_written",), int, 0, False),
    # Never saved once a walk is over: a null next_page would end the export early.
    (("checkpoint", "next_page"), int, 1, False),
    (("checkpoint", "page_size"), int, 1, True),
    (("checkpoint", "total_records"), int, 0, True),
    (("checkpoint", "seen"), list, None, False),
    (("checkpoint", "query", "per_page"), int, 1, False),
)


@refuse_unknown_keys  # a file of our own: a key it does not know means it is not one
@attrs.frozen
class SavedExport:
    """What ``FILE.checkpoint`` holds, as plain data (``_plain``): the walk's checkpoint nested."""

    version: int
    format: str
    csv_raw: bool
    offset: int
    sha256: str
    links_written: int
    checkpoint: Checkpoint


def file_kind(path: Path) -> str | None:
    """What ``path`` itself is (``"a directory"``, ...; a link is not followed); None if absent."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def temporary_of(path: Path) -> Path:
    """Where :func:`write_saved` writes ``path``'s next content before the rename."""
    return path.with_name(path.name + ".tmp")


def write_saved(path: Path, saved: SavedExport) -> None:
    """Replace ``path`` with ``saved`` in one step: a reader sees the last save or this one."""
    temporary = temporary_of(path)
    temporary.unlink(missing_ok=True)  # a save killed half-way
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with open(fd, "w", encoding="utf-8") as stream:
            json.dump(to_plain(saved), stream)
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # a full disk: say where
            raise OSError(exc.errno, exc.strerror, str(temporary)) from None
        raise


def read_saved(path: Path) -> SavedExport:
    """The export saved in ``path``, every field checked; :class:`Unresumable` if not one."""
    data = _load(path)
    if data.get("version", CHECKPOINT_VERSION) != CHECKPOINT_VERSION:
        raise Unresumable(
            f"{path} was saved by another version of ipay-links (checkpoint version "
            f"{data['version']!r}; this one reads {CHECKPOINT_VERSION})"
        )
    try:
        _check_types(data)
    except TypeError as exc:
        raise Unresumable(f"{path} is not a checkpoint ({exc})") from None
    except ValueError as exc:  # a number out of its range
        raise Unresumable(f"{path} cannot be resumed ({exc})") from None
    return _check_ranges(path, data)


def _load(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, a regular file of at most :data:`MAX_CHECKPOINT_SIZE`."""
    if (kind := file_kind(path)) != REGULAR:
        raise Unresumable(f"{path} is {kind or 'missing'}")
    with path.open("rb") as stream:
        raw = stream.read(MAX_CHECKPOINT_SIZE + 1)
    try:
        if len(raw) > MAX_CHECKPOINT_SIZE:
            raise ValueError(f"larger than {MAX_CHECKPOINT_SIZE} bytes")
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # not UTF-8, not JSON
        raise Unresumable(f"{path} is not a checkpoint ({exc})") from None
    if not isinstance(data, dict):
        raise Unresumable(f"{path} is not a checkpoint (not a JSON object)")
    return data


def _check_types(data: Mapping[str, Any]) -> None:
    """Raise ``TypeError`` or ``ValueError`` (a range) for the first wrong field of _TYPED."""
    for where, kind, least, nullable in _TYPED:
        value: Any = data
        for key in where:
            value = value.get(key, ...) if isinstance(value, Mapping) else ...
        name = where[-1]  # each name is the only one of its kind in the file
        if value is ... or (value is None and nullable):
            continue  # missing: conversion names it, or takes the default
        if value is None:
            raise TypeError(f"{name} is null")
        if kind is int:
            check_number(name, value, least or 0, whole=True)
        elif not isinstance(value, kind) or not all(map(_is_str, _items(value))):
            expected = {str: "a string", bool: "true or false", list: "a list of strings"}
            raise TypeError(f"{name} must be {expected[kind]}, not {json.dumps(value)[:40]}")


def _items(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _check_ranges(path: Path, data: dict[str, Any]) -> SavedExport:
    try:
        saved = from_plain(data, SavedExport)
    except ValueError as exc:
        raise Unresumable(f"{path} is not a checkpoint ({exc})") from None
    page_size, per_page = saved.checkpoint.page_size, saved.checkpoint.query.per_page
    problems = {
        f"format {saved.format!r} is none of {', '.join(FORMATS)}": saved.format not in FORMATS,
        "sha256 is not 64 hexadecimal digits": not _SHA256.fullmatch(saved.sha256),
        f"page_size {page_size} is more than per_page {per_page}": (page_size or 0) > per_page,
        "links_written is not 0 at offset 0": saved.offset == 0 and saved.links_written != 0,
    }
    for problem, found in problems.items():
        if found:
            raise Unresumable(f"{path} cannot be resumed ({problem})")
    return saved


def check_partial(partial: Path, saved: SavedExport) -> hashlib._Hash:
    """Hold ``partial`` against ``saved``; the SHA-256 of its whole pages, to go on with.

    Its first ``offset`` bytes must be there, hash to ``sha256``, end a record and
    hold ``links_written`` links. Bytes after them (a page cut short) are allowed.
    """
    kind = file_kind(partial)
    if kind is None and saved.offset == 0:
        return hashlib.sha256()  # killed between the first checkpoint and the file
    if kind != REGULAR:
        raise Unresumable(f"{partial} is {kind or 'missing'}")
    with partial.open("rb") as stream:
        digest, last = _digest(partial, stream, saved.offset)
        if digest.hexdigest() != saved.sha256:
            raise Unresumable(
                f"the first {saved.offset} bytes of {partial} are not those its checkpoint "
                "recorded: one of the two was changed since"
            )
        if saved.offset and last not in RECORD_ENDS[saved.format]:
            raise Unresumable(f"the checkpoint's offset {saved.offset} does not end a line")
        stream.seek(0)
        _check_count(partial, saved, _lines(stream, saved.offset))
    return digest


def _digest(partial: Path, stream: IO[bytes], size: int) -> tuple[hashlib._Hash, bytes]:
    """The SHA-256 of the first ``size`` bytes of ``stream``, and the last of them."""
    digest, last, left = hashlib.sha256(), b"", size
    while left:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            raise Unresumable(
                f"{partial} has {size - left} bytes, fewer than the {size} its checkpoint "
                "says are whole: it was changed since"
            )
        digest.update(chunk)
        last, left = chunk[-1:], left - len(chunk)
    return digest, last


def _lines(stream: IO[bytes], size: int) -> Iterator[bytes]:
    while size > 0:
        line = stream.readline(min(size, _CHUNK))
        size -= len(line)
        yield line


def _check_count(partial: Path, saved: SavedExport, lines: Iterator[bytes]) -> None:
    try:
        count = count_exported_links(saved.format, lines)
    except (ValueError, csv.Error) as exc:
        raise Unresumable(f"{partial} is not a {saved.format} export ({exc})") from None
    if count != saved.links_written:
        raise Unresumable(
            f"{partial} holds {count} links in its whole pages, its checkpoint says "
            f"{saved.links_written}"
        )
