"""The ``ipay-links export`` command, in-process and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from ipay_links.cli import main
from ipay_links.testing import Simulator


def test_export_from_the_simulator_writes_every_link_exactly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["export", "--simulator", "--simulator-links", "64", "--per-page", "9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = Simulator(64).links
    assert len(lines) == 64
    for line, wire in zip(lines, expected, strict=True):
        record = json.loads(line, parse_float=Decimal)
        assert record["link_id"] == wire["linkId"]
        assert record["amount"] == Decimal(str(wire["amount"]))
        assert record["contact_details"]["email"] == wire["contactDetails"]["email"]
        assert record["activated_at"].endswith("+05:30")


def test_export_applies_filters_and_max_items(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "export",
        "--simulator",
        "--status",
        "CLAIMED",
        "--status",
        "EXPIRED",
        "--max-items",
        "7",
    ]
    assert main(argv) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 7
    assert {record["status"] for record in records} <= {"CLAIMED", "EXPIRED"}


def test_export_without_credentials_names_the_missing_variables(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("IPAY_CLIENT_ID", "IPAY_CLIENT_SECRET", "IPAY_ENDPOINT_IP"):
        monkeypatch.delenv(name, raising=False)
    assert main(["export"]) == 2
    err = capsys.readouterr().err
    assert "IPAY_CLIENT_ID" in err and "IPAY_CLIENT_SECRET" in err and "IPAY_ENDPOINT_IP" in err


def test_python_dash_m_runs_the_export() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ipay_links", "export", "--simulator", "--simulator-links", "15"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 15
