"""``ipay-links export``: every link to a file that is complete, or visibly not.

A file export writes ``FILE.partial`` and renames it to ``FILE`` at the end. After
every page it saves ``FILE.checkpoint`` (JSON: the walk's checkpoint, the format,
the byte offset of the partial file and the counts), so that on a failure, a
Ctrl-C or a crash, ``--resume`` cuts the partial file back to the last whole page
and goes on from there: no link lost, none repeated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TextIO

import attrs

from .._plain import from_plain, refuse_unknown_keys, to_plain
from ..client import Client
from ..pagination import Checkpoint, PageWalk
from ..protocol import make_query
from ._formats import Writer, make_writer
from ._progress import Progress

__all__ = ["UsageError", "export"]

CHECKPOINT_VERSION = 1


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit code 2)."""


@refuse_unknown_keys  # a file of our own: a key it does not know means it is not one
@attrs.frozen
class SavedExport:
    """What ``FILE.checkpoint`` holds, as plain data (``_plain``): the walk's checkpoint nested."""

    format: str
    offset: int
    links_written: int
    checkpoint: Checkpoint
    version: int = CHECKPOINT_VERSION


class FileTarget:
    """``FILE`` written through ``FILE.partial``, with ``FILE.checkpoint`` after each page."""

    def __init__(self, path: Path, format_name: str, resume: bool) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.saved_path = path.with_name(path.name + ".checkpoint")
        self.format = format_name
        self.resumed: SavedExport | None = self._load() if resume else None
        self.kept = 0
        if not resume and self.partial.exists():
            raise UsageError(
                f"{self.partial} is left from an interrupted export: add --resume to go on "
                "with it, or delete it to start again"
            )

    def _load(self) -> SavedExport:
        try:
            data = json.loads(self.saved_path.read_text(encoding="utf-8"))
            saved = from_plain(data, SavedExport)
        except FileNotFoundError:
            raise UsageError(f"--resume: there is no {self.saved_path} to resume from") from None
        except ValueError as exc:  # not UTF-8, not JSON, or not a saved export
            raise UsageError(f"--resume: {self.saved_path} is not a checkpoint ({exc})") from None
        if saved.format != self.format:
            raise UsageError(
                f"--resume: the partial export is {saved.format}, not {self.format}: "
                f"add --format {saved.format}"
            )
        if not self.partial.exists():
            raise UsageError(f"--resume: {self.partial} is missing")
        return saved

    def open(self) -> TextIO:
        """Open ``FILE.partial``, cut back to the last whole page when resuming."""
        if self.resumed is None:
            self.stream = self.partial.open("w", encoding="utf-8", newline="")
            return self.stream
        # Links written after the last whole page are cut off: they come again.
        with self.partial.open("r+b") as raw:
            if raw.seek(0, os.SEEK_END) < self.resumed.offset:
                raise UsageError(
                    f"--resume: {self.partial} is shorter than its checkpoint says: it was "
                    "changed since; delete it and the checkpoint to start again"
                )
            raw.truncate(self.resumed.offset)
        self.stream = self.partial.open("a", encoding="utf-8", newline="")
        return self.stream

    def save(self, checkpoint: Checkpoint, written: int) -> None:
        """Record that everything up to here is whole, as of ``checkpoint``."""
        self.stream.flush()
        saved = SavedExport(self.format, self.stream.tell(), written, checkpoint)
        self.kept = written
        temporary = self.saved_path.with_name(self.saved_path.name + ".tmp")
        temporary.write_text(json.dumps(to_plain(saved)), encoding="utf-8")
        os.replace(temporary, self.saved_path)

    def commit(self) -> None:
        self.stream.close()
        os.replace(self.partial, self.path)
        self.saved_path.unlink(missing_ok=True)

    def abandon(self) -> None:
        self.stream.close()
        print(
            f"ipay-links: {self.kept} links of whole pages are kept in {self.partial}; run "
            "the same command with --resume to go on from there",
            file=sys.stderr,
        )


def _walk(client: Client, args: argparse.Namespace, resumed: SavedExport | None) -> PageWalk:
    """The walk of the command line (checked up front), or of the saved checkpoint."""
    if resumed is not None:
        try:
            return _resumed_walk(client, args, resumed.checkpoint)
        except (ValueError, TypeError) as exc:  # the library refuses what the file holds
            raise UsageError(f"--resume: the saved checkpoint cannot be resumed ({exc})") from None
    return client.iter_pages(
        per_page=args.per_page,
        status=args.status,
        contact=args.contact,
        link_id=args.link_id,
        concurrency=args.concurrency,
        consistency=args.consistency,
    )


def _resumed_walk(client: Client, args: argparse.Namespace, checkpoint: Checkpoint) -> PageWalk:
    given = (args.status, args.contact, args.link_id, args.per_page)
    if any(value is not None for value in given):
        query = make_query(
            per_page=args.per_page or checkpoint.query.per_page,
            status=args.status,
            contact=args.contact,
            link_id=args.link_id,
        )
        if query != checkpoint.query:
            raise UsageError(
                "--resume goes on with the saved query: give the same filters as the "
                "interrupted export, or none"
            )
    return client.iter_pages(
        resume=checkpoint, concurrency=args.concurrency, consistency=args.consistency
    )


async def export(client: Client, args: argparse.Namespace, stdout: TextIO) -> None:
    """Write every link of the query; see the module's docstring for files."""
    if args.resume and args.output is None:
        raise UsageError("--resume needs -o FILE: only a file export can be resumed")
    target = None if args.output is None else FileTarget(args.output, args.format, args.resume)
    resumed = target.resumed if target else None
    walk = _walk(client, args, resumed)  # checks the checkpoint before any file is touched
    written = 0 if resumed is None else resumed.links_written
    writer = make_writer(args.format, target.open() if target else stdout, written)
    if resumed is None:
        writer.begin()
    progress = Progress(enabled=not args.quiet and sys.stderr.isatty(), already=writer.written)
    try:
        if target is not None:
            target.save(walk.checkpoint, writer.written)
        await _pump(walk, writer, args.max_items, target, progress)
        writer.end()
    except BaseException:
        progress.close()
        if target is not None:
            target.abandon()
        raise
    progress.close()
    if target is not None:
        target.commit()


async def _pump(
    walk: PageWalk,
    writer: Writer,
    max_items: int | None,
    target: FileTarget | None,
    progress: Progress,
) -> None:
    async with walk:
        async for page in walk:
            links = page.records
            if max_items is not None:
                links = links[: max(0, max_items - writer.written)]
            writer.write(links)
            progress.update(walk.stats, len(links))
            if max_items is not None and writer.written >= max_items:
                return
            if target is not None:
                target.save(walk.checkpoint, writer.written)
