"""The ``ipay-links`` command, in-process (``main([...])``) and as subprocesses."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ipay_links import __version__
from ipay_links.cli import main
from ipay_links.cli._usage import UsageError
from ipay_links.errors import ConsistencyError, TransportError
from ipay_links.testing import Fault, Simulator, generate_links

SECRET = "cli-SECRET-7f3a9c"


@contextmanager
def serving(simulator: Simulator) -> Iterator[str]:
    """Run ``simulator`` on a loopback port in a thread of its own, for main() to call."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def run() -> None:
        box["stop"] = asyncio.Event()
        async with simulator.serve() as url:
            box["url"] = url
            ready.set()
            await box["stop"].wait()
        # Handlers still serving a client that went away (a hang fault) end here.
        others = asyncio.all_tasks() - {asyncio.current_task()}
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield box["url"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)
        loop.close()


@pytest.fixture(autouse=True)
def library_log_level() -> Iterator[None]:
    """main() sets the library logger's level for its process: give it back to later tests."""
    import logging

    logger = logging.getLogger("ipay_links")
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "IPAY_CLIENT_ID": "cli-client",
        "IPAY_CLIENT_SECRET": SECRET,
        "IPAY_ENDPOINT_IP": "127.0.0.1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def sim() -> Simulator:
    from ipay_links import Credentials

    return Simulator(57, seed=4, credentials=Credentials("cli-client", SECRET, "127.0.0.1"))


def ids(links: list[dict[str, Any]]) -> list[str]:
    return [link["linkId"] for link in links]


def check_record(record: dict[str, Any], wire: dict[str, Any]) -> None:
    assert record["link_id"] == wire["linkId"]
    assert Decimal(str(record["amount"])) == Decimal(str(wire["amount"]))
    assert record["status"] == wire["status"]
    assert record["activated_at"].endswith("+05:30")


def test_jsonl_to_stdout_is_every_link_with_exact_amounts(
    sim: Simulator, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(sim) as url:
        assert main(["export", "--base-url", url, "--per-page", "9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 57
    for line, wire in zip(lines, sim.links, strict=True):
        record = json.loads(line, parse_float=Decimal)
        check_record(record, wire)
        assert type(record["amount"]) in (Decimal, int)  # a JSON number, never a string
        assert record["contact_details"]["email"] == wire["contactDetails"]["email"]
    assert not re.search(r"\d\.\d*0000|9999", capsys.readouterr().out)


def test_csv_file_flattens_contacts_and_keeps_amounts_exact(
    sim: Simulator, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "links.csv"
    with serving(sim) as url:
        assert main(["export", "--base-url", url, "-o", str(out), "--format", "csv", "-q"]) == 0
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["link_id"] for row in rows] == ids(sim.links)
    for row, wire in zip(rows, sim.links, strict=True):
        assert Decimal(row["amount"]) == Decimal(str(wire["amount"]))
        assert row["contact_mobile"] == wire["contactDetails"]["mobile"]
        assert row["payment_modes"] == "|".join(wire["paymentModes"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["links.csv"]


def test_json_file_is_one_array(sim: Simulator, env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "links.json"
    out.write_text("an older export")
    with serving(sim) as url:
        argv = ["export", "--base-url", url, "-o", str(out), "--format", "json"]
        assert main(argv) == 2  # an existing export is replaced only with --force
        assert out.read_text() == "an older export"
        assert main([*argv, "--force"]) == 0
    records = json.loads(out.read_text(), parse_float=Decimal)
    for record, wire in zip(records, sim.links, strict=True):
        check_record(record, wire)
    assert len(records) == 57


def test_filters_and_max_items(
    sim: Simulator, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(sim) as url:
        argv = ["export", "--base-url", url, "--status", "CLAIMED", "--status", "EXPIRED"]
        assert main([*argv, "--max-items", "7", "--concurrency", "3"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    wanted = [link for link in sim.links if link["status"] in ("CLAIMED", "EXPIRED")]
    assert [r["link_id"] for r in records] == ids(wanted)[:7]
    assert sim.requests[0].body["filters"]["status"] == ["CLAIMED", "EXPIRED"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json"])
def test_a_failure_leaves_a_partial_file_and_resume_completes_it_exactly(
    sim: Simulator,
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
) -> None:
    out = tmp_path / f"links.{fmt}"
    sim.inject(Fault.envelope("IAC", "Invalid dealer credentials"), page=4)
    with serving(sim) as url:
        argv = ["export", "--base-url", url, "--per-page", "10", "-o", str(out), "--format", fmt]
        assert main(argv) == 3
        err = capsys.readouterr().err
        assert "authentication refused" in err and "--resume" in err
        assert "30 links of whole pages are kept" in err
        assert not out.exists()
        saved = json.loads((tmp_path / f"links.{fmt}.checkpoint").read_text())
        assert saved["checkpoint"]["next_page"] == 4
        assert saved["links_written"] == 30
        # Links created while the job was down: the resumed walk must not repeat any.
        sim.links[:0] = generate_links(200, seed=77)[:4]
        assert main([*argv, "--resume"]) == 0  # the same command: filters and --per-page too
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    exported = _read(out, fmt)
    assert len(exported) == len(set(exported))
    assert set(ids(sim.links[4:])) <= set(exported)


def _read(path: Path, fmt: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if fmt == "jsonl":
        return [json.loads(line)["link_id"] for line in text.splitlines()]
    if fmt == "json":
        return [record["link_id"] for record in json.loads(text)]
    return [row["link_id"] for row in csv.DictReader(text.splitlines())]


def test_an_api_failure_after_retries_exits_4_with_one_clear_line(
    sim: Simulator, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sim.inject(Fault.envelope("RPI", "Request parameters invalid"))
    with serving(sim) as url:
        assert main(["export", "--base-url", url]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert re.match(r"ipay-links: ApiError: \[h0009\w+\] RPI: Request parameters invalid", err[0])


def test_a_network_failure_exits_4(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["export", "--base-url", f"http://127.0.0.1:{port}", "-q", "--retries", "1"]) == 4
    assert "TransportError" in capsys.readouterr().err


def test_missing_credentials_exit_2_naming_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("IPAY_CLIENT_ID", "IPAY_CLIENT_SECRET", "IPAY_ENDPOINT_IP"):
        monkeypatch.delenv(name, raising=False)
    assert main(["export"]) == 2
    err = capsys.readouterr().err
    assert "IPAY_CLIENT_ID" in err and "IPAY_CLIENT_SECRET" in err and "IPAY_ENDPOINT_IP" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--resume"], "--resume needs -o FILE"),
        (["-o", "{out}", "--resume"], "there is no"),
        (["--per-page", "0"], "per_page must be at least 1"),
        (["--concurrency", "0"], "--concurrency: 0 is not 1 or more"),
        (["--max-items", "-1"], "--max-items: -1 is not 1 or more"),
        (["--simulator-links", "x"], "'x' is not a whole number"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [arg.replace("{out}", str(tmp_path / "x.jsonl")) for arg in argv]
    try:
        code = main(["export", "--simulator", "--simulator-links", "5", *argv])
    except SystemExit as exit_:  # argparse's own refusal
        code = exit_.code  # type: ignore[assignment]
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--simulator", "--contact", " "], "contact is empty"),
        (["export", "--simulator", "--link-id", ""], "link_id is empty"),
        (["export", "--simulator", "--per-page", "5000"], "per_page must be at most 1000"),
        (["page", "0", "--simulator"], "page must be at least 1"),
        (["page", "1", "--base-url", "http://example.com"], "plain http"),
        (
            ["simulate", "--port", "0", "--fault", "spd", "--fault-every", "0"],
            "--fault-every must be at least 1",
        ),
    ],
)
def test_bad_values_are_usage_errors_naming_the_problem(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ipay-links: error: ") and message in line


@pytest.mark.parametrize(
    ("saved", "message"),
    [
        ("{not json", "is not a checkpoint"),
        ('{"format": "jsonl"}', "is not a checkpoint"),
        (
            '{"format": "jsonl", "offset": 0, "links_written": 0, "checkpoint": {"next_page": 2, '
            '"query": {"per_page": 0}}}',
            "cannot be resumed (per_page must be at least 1, got 0)",
        ),
    ],
)
def test_a_checkpoint_file_that_cannot_be_resumed_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], saved: str, message: str
) -> None:
    (tmp_path / "x.jsonl.partial").write_text("")
    (tmp_path / "x.jsonl.checkpoint").write_text(saved)
    assert main(["export", "--simulator", "-o", str(tmp_path / "x.jsonl"), "--resume"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("kind", [TypeError, ValueError])
def test_an_unexpected_exception_is_an_internal_error_with_its_traceback_under_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: type[Exception]
) -> None:
    from ipay_links.cli._formats import JsonLinesWriter

    def broken(self: JsonLinesWriter, links: object) -> None:
        raise kind("a bug\nof ours")

    monkeypatch.setattr(JsonLinesWriter, "write", broken)
    argv = ["export", "--simulator", "--simulator-links", "5"]
    assert main(argv) == 1
    name = kind.__name__
    assert capsys.readouterr().err.splitlines() == [
        f"ipay-links: internal error: {name}: a bug of ours (run with --debug for the traceback)"
    ]
    assert main([*argv, "--debug"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "in broken" in err
    assert err.splitlines()[-1] == f"ipay-links: internal error: {name}: a bug of ours"


def test_a_leftover_partial_file_without_checkpoint_is_explained_with_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.jsonl.partial").write_text("")
    argv = ["export", "--simulator", "--simulator-links", "5", "-o", str(tmp_path / "x.jsonl")]
    for extra in ([], ["--resume"]):
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err
        assert "x.jsonl.checkpoint is missing" in err
        assert err.rstrip().endswith(f"{' '.join(argv)} --restart")
    assert main([*argv, "--restart"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jsonl"]


def test_resume_refuses_another_format_or_new_filters(
    sim: Simulator, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.csv"
    sim.inject(Fault.envelope("IAC", "no"), page=2)
    with serving(sim) as url:
        base = ["export", "--base-url", url, "--per-page", "10", "-o", str(out)]
        assert main([*base, "--format", "csv"]) == 3
        assert main([*base[:3], "-o", str(out), "--resume"]) == 2
        assert "add --format csv" in capsys.readouterr().err
        assert main([*base, "--format", "csv", "--resume", "--status", "ISSUED"]) == 2
        assert "give the same filters" in capsys.readouterr().err


def test_no_secret_in_any_output(
    sim: Simulator, env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sim.inject(Fault.envelope("IAC", "Invalid dealer credentials"), page=2)
    with serving(sim) as url:
        main(["export", "--base-url", url, "--per-page", "10", "-vv", "--debug"])
        main(["export", "--base-url", url, "-o", str(tmp_path / "a.csv"), "-vv", "--debug"])
        main(["page", "1", "--base-url", url, "-vv"])
    captured = capsys.readouterr()
    assert "IAC" in captured.err  # the failure was reported
    assert SECRET not in captured.out + captured.err
    for path in tmp_path.iterdir():
        assert SECRET not in path.read_text()


def test_verbose_turns_on_the_librarys_logging(
    sim: Simulator, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(sim) as url:
        assert main(["export", "--base-url", url, "--max-items", "1", "-vv"]) == 0
        assert "attempt=1 http_status=200 statuscode=TXN" in capsys.readouterr().err
        assert main(["export", "--base-url", url, "--max-items", "1"]) == 0
        assert capsys.readouterr().err == ""


def test_page_prints_one_page_with_its_meta(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["page", "2", "--simulator", "--simulator-links", "30", "--per-page", "4"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["meta"]["current_page"] == 2
    assert document["meta"]["total_records"] == 30
    assert [r["link_id"] for r in document["records"]] == ids(Simulator(30).links[4:8])


def test_version_and_help_name_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out
    for command in ("export", "page", "check", "simulate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "example" in capsys.readouterr().out


def test_export_help_says_how_csv_cells_are_kept_from_running_as_formulas(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "a text cell starting with = + - @, a tab or a carriage return gets a leading '" in text
    assert "--csv-raw writes it as is. Amounts are never changed." in text


def run(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ipay_links", *argv]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


def test_a_real_subprocess_exports_and_stays_silent_when_stderr_is_no_terminal(
    tmp_path: Path,
) -> None:
    result = run(
        "export", "--simulator", "--simulator-links", "40", "-o", str(tmp_path / "a.jsonl")
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar into a pipe
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 40


def test_a_progress_bar_shows_on_a_terminal(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    main_fd, terminal_fd = pty.openpty()
    # A terminal of 24 rows and 100 columns, as a person's would be.
    fcntl.ioctl(terminal_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    command = [sys.executable, "-m", "ipay_links", "export", "--simulator"]
    process = subprocess.Popen(
        [*command, "--simulator-links", "300", "-o", str(tmp_path / "b.jsonl")],
        stderr=terminal_fd,
        stdout=subprocess.DEVNULL,
    )
    os.close(terminal_fd)
    output = b""
    try:
        while chunk := _read_fd(main_fd):
            output += chunk
    finally:
        process.wait(60)
        os.close(main_fd)
    assert process.returncode == 0
    assert b"300/300" in output and b"link" in output


def _read_fd(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # the terminal closed
        return b""


# The command as a user's shell starts it: Ctrl-C raises KeyboardInterrupt, even when
# this suite runs in the background of a shell, whose children ignore SIGINT.
INTERRUPTIBLE = [
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from ipay_links.cli import main; sys.exit(main(sys.argv[1:]))",
]


def test_ctrl_c_keeps_the_partial_file_and_resume_finishes_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    from ipay_links import Credentials

    sim = Simulator(200, seed=9, credentials=Credentials("cli-client", SECRET, "127.0.0.1"))
    sim.inject(Fault.hang(60.0), page=5)  # the export is on page 5 until interrupted
    out = tmp_path / "c.jsonl"
    with serving(sim) as url:
        argv = ["export", "--base-url", url, "--per-page", "10", "-o", str(out)]
        process = subprocess.Popen([*INTERRUPTIBLE, *argv], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while sim.request_count < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sim.request_count == 5
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        assert "--resume" in err
        assert not out.exists()
        assert (tmp_path / "c.jsonl.partial").exists()
        assert (tmp_path / "c.jsonl.checkpoint").exists()
        finished = subprocess.run(
            [*INTERRUPTIBLE, *argv, "--resume"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert finished.returncode == 0, finished.stderr
    exported = [json.loads(line)["link_id"] for line in out.read_text().splitlines()]
    assert exported == ids(sim.links)
    # The resume went on from the checkpoint: pages 1-4 were not asked for again.
    resumed = [seen.page for seen in sim.requests[5:]]
    assert resumed == list(range(5, 21))


def test_simulate_serves_with_scheduled_faults() -> None:
    import urllib.request

    process = subprocess.Popen(
        [sys.executable, "-m", "ipay_links", "simulate", "--port", "0", "--links", "30", "--fault"]
        + ["spd", "--fault-every", "2"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"on (http://\S+) with 30 links", line)
        assert match, line
        creds = process.stderr.readline()
        headers = dict(re.findall(r"(IPAY_\w+)=(\S+)", creds))
        codes = []
        for _ in range(4):
            request = urllib.request.Request(
                match[1] + "/payments/payout/link/list",
                data=b"{}",
                method="GET",
                headers={
                    "X-Ipay-Auth-Code": "1",
                    "X-Ipay-Client-Id": headers["IPAY_CLIENT_ID"],
                    "X-Ipay-Client-Secret": headers["IPAY_CLIENT_SECRET"],
                    "X-Ipay-Endpoint-Ip": "127.0.0.1",
                    "Content-Type": "application/json",
                },
            )
            with urllib.request.urlopen(request, timeout=10) as response:  # loopback
                codes.append(json.loads(response.read())["statuscode"])
        assert codes == ["TXN", "SPD", "TXN", "SPD"]
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_csv_quotes_fields_with_commas_quotes_and_line_breaks(
    env: dict[str, str], tmp_path: Path
) -> None:
    from ipay_links import Credentials

    links = generate_links(3, seed=2)
    links[0]["description"] = 'Refund, "late"\r\nsecond line'
    links[1]["contactDetails"]["name"] = "Ravi\rKumar"
    links[2]["contactDetails"]["name"] = "प्रिया राव"
    odd = Simulator(links, credentials=Credentials("cli-client", SECRET, "127.0.0.1"))
    out = tmp_path / "odd.csv"
    with serving(odd) as url:
        assert main(["export", "--base-url", url, "-o", str(out), "--format", "csv"]) == 0
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["description"] == 'Refund, "late"\r\nsecond line'
    assert rows[1]["contact_name"] == "Ravi\rKumar"
    assert rows[2]["contact_name"] == "प्रिया राव"


def test_server_text_reaches_stderr_escaped_and_without_the_secret(
    sim: Simulator, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sim.inject(Fault.envelope("IAC", f"refused {SECRET}\nipay-links: done\x1b[2J"))
    with serving(sim) as url:
        assert main(["page", "1", "--base-url", url]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one line: the server's newline is shown as \n
    assert "refused ***\\nipay-links: done\\x1b[2J" in err
    assert SECRET not in err and "\x1b" not in err


def test_check_makes_one_request_and_prints_what_it_learnt(
    sim: Simulator, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sim.environment = "LIVE"
    with serving(sim) as url:
        assert main(["check", "--base-url", url]) == 0
    assert [(seen.page, seen.per_page) for seen in sim.requests] == [(1, 1)]
    lines = capsys.readouterr().out.splitlines()
    report = {name: value.strip() for name, value in (line.split(":  ", 1) for line in lines)}
    assert list(report) == [
        "base URL",
        "credentials",
        "environment",
        "links",
        "round trip",
        "ipay_uuid",
    ]
    assert report["base URL"] == url
    assert (report["credentials"], report["environment"], report["links"]) == (
        "accepted",
        "LIVE",
        "57",
    )
    assert re.fullmatch(r"\d+ ms", report["round trip"])
    assert re.fullmatch(r"h0009[0-9a-f]{32}", report["ipay_uuid"])


def test_check_exits_3_when_the_credentials_are_refused_saying_what_to_fix(
    sim: Simulator,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("IPAY_CLIENT_SECRET", SECRET + "-old")
    with serving(sim) as url:
        assert main(["check", "--base-url", url]) == 3
    assert sim.request_count == 1
    captured = capsys.readouterr()
    assert "credentials:  refused" in captured.out
    (line,) = captured.err.splitlines()
    assert "IAC" in line and "check IPAY_CLIENT_ID, IPAY_CLIENT_SECRET" in line
    assert SECRET not in captured.out + captured.err


@pytest.mark.parametrize(
    ("fault", "fix"),
    [
        (Fault.garbage(), "does not answer as InstantPay's API does: check --base-url"),
        (Fault.html(502), "busy or down for now: try again later"),
    ],
)
def test_check_exits_4_when_the_server_answers_wrongly(
    sim: Simulator,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    fault: Fault,
    fix: str,
) -> None:
    sim.inject(fault)
    with serving(sim) as url:
        assert main(["check", "--base-url", url]) == 4
    assert sim.request_count == 1  # one request, no retry
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(fix)


def test_check_exits_4_when_the_server_cannot_be_reached(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["check", "--base-url", f"http://127.0.0.1:{port}"]) == 4
    (line,) = capsys.readouterr().err.splitlines()
    assert "TransportError" in line and line.endswith("check --base-url, the proxy and the network")


@pytest.mark.parametrize("command", [["check"], ["export"], ["page", "1"]])
def test_missing_credentials_name_simulator_as_the_way_to_try_without(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    monkeypatch.delenv("IPAY_CLIENT_ID", raising=False)
    assert main(command) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "IPAY_CLIENT_ID" in line and "add --simulator to try ipay-links without" in line


def test_status_takes_any_case_in_the_cli_and_the_library(
    sim: Simulator, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from ipay_links._core.protocol import make_query

    with serving(sim) as url:
        argv = ["export", "--base-url", url, "--status", "claimed", "--status", "Expired"]
        assert main(argv) == 0
    assert sim.requests[0].body["filters"]["status"] == ["CLAIMED", "EXPIRED"]
    wanted = [link for link in sim.links if link["status"] in ("CLAIMED", "EXPIRED")]
    exported = [json.loads(line)["link_id"] for line in capsys.readouterr().out.splitlines()]
    assert exported == ids(wanted)
    assert make_query(status=["issued", "ISSUED", "Processing"]).status == ("ISSUED", "PROCESSING")
    with pytest.raises(ValueError, match="unknown status 'ıssued'"):
        make_query(status="ıssued")  # its upper case is ISSUED, but it is no status name


def test_page_past_the_last_page_says_so_on_stderr(
    sim: Simulator, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(sim) as url:
        assert main(["page", "99", "--base-url", url, "--per-page", "10"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["records"] == []
    (line,) = captured.err.splitlines()
    assert line.startswith("ipay-links: page 99 is past the last page: the result has 57 links")
    assert "on pages 1 to 6" in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--simulator", "--base-url", "http://127.0.0.1:1"], "leave out --base-url"),
        (["check", "--simulator", "--base-url", "http://127.0.0.1:1"], "leave out --base-url"),
        (["export", "--simulator", "--restart"], "--restart needs -o FILE"),
        (["export", "--simulator", "--force"], "--force needs -o FILE"),
        (["export", "--simulator", "--csv-raw"], "--csv-raw is about CSV cells"),
    ],
)
def test_option_combinations_that_cannot_be_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ipay-links: error: ") and message in line


@pytest.mark.parametrize("command", [["export"], ["page", "2"], ["check"]])
def test_a_bad_option_prints_the_usage_of_its_command(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--simulator", "--bogus"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: ipay-links {command[0]} [-h]")
    assert (
        err.splitlines()[-1] == f"ipay-links {command[0]}: error: unrecognized arguments: --bogus"
    )


def test_the_address_comes_from_ipay_base_url_as_for_client_from_env(
    sim: Simulator,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serving(sim) as url:
        monkeypatch.setenv("IPAY_BASE_URL", url)
        assert main(["page", "1", "--per-page", "3"]) == 0
        assert main(["page", "1", "--per-page", "3", "--simulator"]) == 0  # the variable is ignored
    assert len(sim.requests) == 1  # the first one went to IPAY_BASE_URL, the second did not
    monkeypatch.setenv("IPAY_BASE_URL", "ftp://elsewhere.example")
    assert main(["page", "1"]) == 2
    assert "base_url must be an https:// URL" in capsys.readouterr().err


def test_base_url_wins_over_ipay_base_url_and_an_empty_one_leaves_the_address_to_it(
    sim: Simulator, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(sim) as url:
        monkeypatch.setenv("IPAY_BASE_URL", "ftp://elsewhere.example")
        assert main(["page", "1", "--per-page", "3", "--base-url", url]) == 0
        monkeypatch.setenv("IPAY_BASE_URL", url)
        assert main(["page", "1", "--per-page", "3", "--base-url", ""]) == 0
    assert len(sim.requests) == 2


def test_a_bad_base_url_is_named_before_missing_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("IPAY_CLIENT_ID", raising=False)
    assert main(["page", "1", "--base-url", "http://example.com"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ipay-links: error: base_url is plain http")


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (KeyboardInterrupt(), 130, "ipay-links: interrupted"),
        (TransportError("no route"), 4, "ipay-links: TransportError: no route"),
        (ConsistencyError("moved"), 4, "ipay-links: ConsistencyError: moved"),
        (PermissionError("denied"), 1, "ipay-links: PermissionError: denied"),
        (UnicodeEncodeError("ascii", "é", 0, 1, "no"), 1, "ipay-links: UnicodeEncodeError: "),
        (UsageError("no such thing"), 2, "ipay-links: error: no such thing"),
        (
            RuntimeError("a bug"),
            1,
            "ipay-links: internal error: RuntimeError: a bug (run with --debug for the traceback)",
        ),
    ],
)
def test_each_kind_of_failure_ends_with_its_exit_code_and_word(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: BaseException,
    code: int,
    line: str,
) -> None:
    from ipay_links.cli import _commands

    async def failing(args: object) -> None:
        raise error

    monkeypatch.setitem(_commands.COMMANDS, "changes", failing)
    assert main(["changes"]) == code
    (shown,) = capsys.readouterr().err.splitlines()
    assert shown.startswith(line)


def test_a_reader_that_goes_away_ends_the_export_quietly() -> None:
    command = [sys.executable, "-m", "ipay_links", "export", "--simulator", "-q"]
    with subprocess.Popen(
        [*command, "--simulator-links", "20000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.read(100)
        process.stdout.close()  # as `ipay-links export | head -c 100` does
        err = process.stderr.read()
        assert process.wait(60) == 0
    assert err == b""
