"""``-o FILE``: checked before the first request, locked, written through FILE.partial.

- :func:`check_output`: ``FILE`` must be absent, or a regular file that ``--force``
  lets us replace, in a directory we can write; anything else (a directory, a
  device, a FIFO, a socket, a symbolic link) is a usage error.
- :class:`ExportLock`: one writer per target, an exclusive ``flock`` on ``FILE.lock``
  held from the checks to the rename.
- :class:`FileTarget`: nothing is created until the first page is written; then
  ``FILE.checkpoint`` first, ``FILE.partial`` next (both mode 0600: the data is
  personal). After every whole page the page's bytes are appended and flushed, then
  the checkpoint records their length and digest (``_saved.py``). At the end the
  partial file is synced, given the mode of the ``FILE`` it replaces, and renamed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import sys
from pathlib import Path
from types import TracebackType

import attrs

from .._io.pagination import Checkpoint
from ._saved import REGULAR, SavedExport, file_kind, temporary_of, write_saved
from ._usage import UsageError

__all__ = ["ExportLock", "FileTarget", "check_output", "discard", "leftovers_of"]

_LOCK_TRIES = 10


def leftovers_of(path: Path) -> tuple[Path, Path]:
    """``FILE.partial`` and ``FILE.checkpoint``, beside ``path``."""
    return path.with_name(path.name + ".partial"), path.with_name(path.name + ".checkpoint")


def discard(path: Path, *, quietly: bool = False) -> None:
    """Remove what an export of ``path`` leaves: FILE.partial, FILE.checkpoint (and its .tmp)."""
    partial, saved_path = leftovers_of(path)
    for leftover in (partial, saved_path, temporary_of(saved_path)):
        try:
            leftover.unlink(missing_ok=True)
        except OSError:
            if not quietly:
                raise


def check_output(path: Path, *, force: bool) -> None:
    """Refuse, as a :class:`UsageError`, an ``-o FILE`` that is not ours to write."""
    kind = file_kind(path)
    if kind not in (None, REGULAR):
        raise UsageError(f"-o {path} is {kind}: give the path of a regular file")
    folder = path.parent
    if file_kind(folder) != "a directory":
        raise UsageError(f"-o {path}: the directory {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"-o {path}: cannot create files in {folder}")
    if kind == REGULAR:
        _replaceable_mode(path, force=force)


def _replaceable_mode(path: Path, *, force: bool) -> int | None:
    """The permissions of the file at ``path``, if we may replace it; ``None`` if absent."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(status.st_mode):
        raise UsageError(f"{path} is {file_kind(path)} now: it is not replaced by the export")
    if not force:
        raise UsageError(f"{path} exists: add --force to replace it")
    mode = stat.S_IMODE(status.st_mode) & 0o777
    if not mode & 0o222 or not os.access(path, os.W_OK):
        raise UsageError(
            f"{path} is read-only (mode {mode:04o}): make it writable to let --force replace it"
        )
    return mode


class ExportLock:
    """An exclusive ``flock`` on ``FILE.lock`` for the life of one export of ``FILE``.

    The lock file is removed on release, while still held; a process that locked the
    removed file meanwhile sees it is gone and takes the new one.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.with_name(target.name + ".lock")
        self._fd: int | None = None

    def __enter__(self) -> ExportLock:
        for _ in range(_LOCK_TRIES):
            if (kind := file_kind(self.path)) not in (None, REGULAR):
                raise UsageError(f"{self.path} is {kind}: it is not a lock of ipay-links")
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise UsageError(f"another export is writing {self.target}") from None
            if _same_file(fd, self.path):
                self._fd = fd
                return self
            os.close(fd)  # locked a lock file its holder removed: take the new one
        raise UsageError(f"another export is writing {self.target}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (not one unlinked since it was opened)."""
    try:
        on_disk = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


class FileTarget:
    """``FILE`` written through ``FILE.partial``, with ``FILE.checkpoint`` after each page.

    A writer writes into it (:meth:`write`); :meth:`save` appends what it wrote as
    one whole page and records it; :meth:`commit` ends the export, :meth:`abandon`
    leaves it resumable, or leaves nothing when no page was whole.
    """

    def __init__(
        self,
        path: Path,
        base: SavedExport,
        digest: hashlib._Hash,
        *,
        force: bool,
        resume_command: str,
    ) -> None:
        self.path = path
        self.resume_command = resume_command  # said after a failure that kept whole pages
        self.partial, self.saved_path = leftovers_of(path)
        self.saved = base  # the last checkpoint saved, or to be saved first
        self._digest = digest
        self._size = base.offset
        self._force = force
        self._pending: list[str] = []
        self._file: _Appender | None = None

    @property
    def links_written(self) -> int:
        return self.saved.links_written

    def write(self, text: str) -> None:
        """Text of the page being written, kept until :meth:`save` or :meth:`commit`."""
        self._pending.append(text)

    def save(self, checkpoint: Checkpoint, written: int) -> None:
        """Append the page written since the last save; record that it is whole."""
        self._append()
        saved = attrs.evolve(
            self.saved,
            offset=self._size,
            sha256=self._digest.hexdigest(),
            links_written=written,
            checkpoint=checkpoint,
        )
        write_saved(self.saved_path, saved)
        self.saved = saved

    def commit(self) -> None:
        """Append the rest, and put the whole export in place of ``FILE``."""
        self._append().sync_and_close()
        mode = _replaceable_mode(self.path, force=self._force)
        if mode is not None:
            os.chmod(self.partial, mode)
        os.replace(self.partial, self.path)
        discard(self.path)

    def abandon(self) -> None:
        """After a failure: keep the whole pages and say how to go on, or remove it all.

        Never raises: the failure that brought us here is the one to report.
        """
        if self._file is not None:
            self._file.close_quietly()
        if self.saved.offset == 0:  # no whole page: nothing to go on with
            discard(self.path, quietly=True)
            return
        print(
            f"ipay-links: {self.saved.links_written} links of whole pages are kept in "
            f"{self.partial}; to go on from there: {self.resume_command}",
            file=sys.stderr,
        )

    def _append(self) -> _Appender:
        """Append what was written since the last call; the partial file, created if new."""
        text, self._pending = "".join(self._pending), []
        data = text.encode("utf-8")
        appender = self._file or self._open()
        appender.append(data)
        self._digest.update(data)
        self._size += len(data)
        return appender

    def _open(self) -> _Appender:
        """``FILE.partial`` to append to, its checkpoint saved before it is created."""
        if file_kind(self.partial) is None:
            write_saved(self.saved_path, self.saved)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        else:
            flags = os.O_WRONLY
        fd = os.open(self.partial, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        self._file = _Appender(fd, self.saved.offset, self.partial)
        return self._file


class _Appender:
    """The partial file, cut back to its whole pages, appended to page by page."""

    def __init__(self, fd: int, whole: int, path: Path) -> None:
        try:
            os.ftruncate(fd, whole)  # a page cut short by a crash comes again
            os.lseek(fd, whole, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        self._stream = open(fd, "wb")  # noqa: SIM115  # closed by sync_and_close or close_quietly
        self._path = path

    def append(self, data: bytes) -> None:
        try:
            self._stream.write(data)
            self._stream.flush()
        except OSError as exc:  # a full disk: say which file it stopped
            raise OSError(exc.errno, exc.strerror, str(self._path)) from None

    def sync_and_close(self) -> None:
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()

    def close_quietly(self) -> None:
        """Close, dropping what a full disk would not take: it is past the last save."""
        with contextlib.suppress(OSError):
            self._stream.close()
        if not self._stream.closed:  # close() failed in its flush: the fd is still open
            with contextlib.suppress(OSError):
                os.close(self._stream.fileno())
