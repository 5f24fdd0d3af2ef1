"""``ipay-links export``: every link to stdout, or to a file that is complete, or visibly not.

A file export (``-o FILE``, ``_target.py``) is checked and locked before the first
request, writes ``FILE.partial`` and renames it to ``FILE`` at the end. After every
whole page it saves ``FILE.checkpoint`` (``_saved.py``), so that on a failure, a
Ctrl-C or a crash ``--resume`` cuts the partial file back to the last whole page and
goes on from there: no link lost, none repeated. A leftover that cannot be resumed,
or that the command does not ask to resume, is refused with the command that
discards it (``--restart``). A run that fails before its first whole page leaves
nothing behind.
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import attrs

from .._io.client import Client
from .._io.pagination import Checkpoint, PageWalk
from ._formats import Output, Writer, make_writer
from ._options import query_of, walk_options
from ._progress import Progress
from ._saved import (
    CHECKPOINT_VERSION,
    REGULAR,
    SavedExport,
    check_partial,
    file_kind,
    read_saved,
)
from ._target import ExportLock, FileTarget, check_output, discard, leftovers_of
from ._usage import Unresumable, UsageError

__all__ = ["export", "file_target"]

_REPLACED_FLAGS = ("--resume", "--restart")


@contextmanager
def file_target(args: argparse.Namespace) -> Iterator[FileTarget]:
    """The ``-o FILE`` of the command line: checked, locked, resumed or new; nothing sent yet."""
    path: Path = args.output
    check_output(path, force=args.force)
    with ExportLock(path):
        base, digest = _prepare(args, path)
        resume = _again(args.argv, "--resume")
        yield FileTarget(path, base, digest, force=args.force, resume_command=resume)


def _prepare(args: argparse.Namespace, path: Path) -> tuple[SavedExport, hashlib._Hash]:
    """What the export goes on from: a checked leftover with ``--resume``, else nothing."""
    partial, saved_path = leftovers_of(path)
    for leftover in (partial, saved_path):
        if (kind := file_kind(leftover)) not in (None, REGULAR):
            raise UsageError(f"{leftover} is {kind}, not a leftover of ipay-links: move it away")
    if args.restart:
        discard(path)
    elif args.resume:
        return _resumable(args, partial, saved_path)
    elif file_kind(partial) or file_kind(saved_path):
        _refuse_leftover(args, partial, saved_path)
    fresh = SavedExport(
        version=CHECKPOINT_VERSION,
        format=args.format,
        csv_raw=args.csv_raw,
        offset=0,
        sha256=hashlib.sha256().hexdigest(),
        links_written=0,
        checkpoint=Checkpoint(next_page=1, query=query_of(args)),
    )
    return fresh, hashlib.sha256()


def _resumable(
    args: argparse.Namespace, partial: Path, saved_path: Path
) -> tuple[SavedExport, hashlib._Hash]:
    """The leftover's checkpoint and digest, once it is shown to be this command's, intact."""
    if not file_kind(partial) and not file_kind(saved_path):
        raise UsageError(
            f"--resume: there is no {saved_path} to resume from: run the command without --resume"
        )
    try:
        saved = read_saved(saved_path)
        _check_command(args, saved)
        return saved, check_partial(partial, saved)
    except UsageError as exc:
        restart = _again(args.argv, "--restart")
        raise Unresumable(
            f"--resume: {exc}; to discard {partial.name} and start again: {restart}"
        ) from None


def _check_command(args: argparse.Namespace, saved: SavedExport) -> None:
    """Refuse a command line that would go on differently from the interrupted export."""
    if saved.format != args.format:
        raise UsageError(
            f"the partial export is {saved.format}, not {args.format}: add --format {saved.format}"
        )
    if saved.csv_raw != args.csv_raw:
        change = "add" if saved.csv_raw else "leave out"
        cells = "raw" if saved.csv_raw else "neutralised"
        raise UsageError(f"the partial export's CSV cells are {cells}: {change} --csv-raw")
    query, kept = attrs.asdict(query_of(args)), attrs.asdict(saved.checkpoint.query)
    differ = [name for name, value in query.items() if kept[name] != value]
    if differ:
        raise UsageError(
            f"this command asks for other links than the interrupted export ({', '.join(differ)}"
            " differ): give the same filters and --per-page"
        )


def _refuse_leftover(args: argparse.Namespace, partial: Path, saved_path: Path) -> None:
    """A leftover the command does not mention: say how to go on with it, or drop it."""
    restart = _again(args.argv, "--restart")
    leftover = partial if file_kind(partial) else saved_path
    try:
        saved = read_saved(saved_path)
        check_partial(partial, saved)
    except Unresumable as exc:
        raise UsageError(
            f"{leftover} is left from an interrupted export and cannot be resumed ({exc}); to "
            f"discard it and start again: {restart}"
        ) from None
    raise UsageError(
        f"{leftover} is left from an interrupted export ({saved.links_written} links of whole "
        f"pages): add --resume to go on with it, or discard it and start again: {restart}"
    )


def _again(argv: Sequence[str], flag: str) -> str:
    """The command line ``argv`` to run again with ``flag`` (``--resume`` or ``--restart``)."""
    kept = [arg for arg in argv if not _is_flag(arg, _REPLACED_FLAGS)]
    return shlex.join(["ipay-links", *kept, flag])


def _is_flag(arg: str, flags: Sequence[str]) -> bool:
    """Whether argparse reads ``arg`` as one of ``flags`` (it takes unique prefixes)."""
    return arg.startswith("--") and len(arg) > 2 and any(flag.startswith(arg) for flag in flags)


def _walk(client: Client, args: argparse.Namespace, target: FileTarget | None) -> PageWalk:
    """The walk of the command line (checked up front), or of the saved checkpoint."""
    if args.resume and target is not None:
        try:
            return client.iter_pages(**walk_options(args, resume=target.saved.checkpoint))
        except (ValueError, TypeError) as exc:  # the library refuses what the file holds
            raise UsageError(f"--resume: the saved checkpoint cannot be resumed ({exc})") from None
    return client.iter_pages(**walk_options(args))


async def export(
    client: Client, args: argparse.Namespace, target: FileTarget | None, stdout: Output
) -> None:
    """Write every link of the query to ``target`` (see :func:`file_target`) or ``stdout``."""
    walk = _walk(client, args, target)
    written = 0 if target is None else target.links_written
    writer = make_writer(args.format, target or stdout, written, csv_raw=args.csv_raw)
    if target is None or target.saved.offset == 0:
        writer.begin()  # nothing of the file is whole yet, not even its header
    progress = Progress(enabled=not args.quiet and sys.stderr.isatty(), already=written)
    try:
        await _pump(walk, writer, args.max_items, target, progress)
        writer.end()
        progress.close()
        if target is not None:
            target.commit()
    except BaseException:
        progress.close()
        if target is not None:
            target.abandon()
        raise


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
            # After the last page the export ends: no checkpoint says "done" but the rename.
            if target is not None and walk.checkpoint.next_page is not None:
                target.save(walk.checkpoint, writer.written)
