"""Every Python block of the README runs, as written, against the simulator."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from ipay_links.testing import Simulator

from .test_cli import serving

README = Path(__file__).parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def block(containing: str) -> str:
    (found,) = [code for code in BLOCKS if containing in code]
    return found


def simulator_env(sim: Simulator, url: str) -> dict[str, str]:
    creds = sim.credentials
    return {
        "IPAY_CLIENT_ID": creds.client_id,
        "IPAY_CLIENT_SECRET": creds.client_secret,
        "IPAY_ENDPOINT_IP": creds.endpoint_ip,
        "IPAY_BASE_URL": url,
    }


def test_the_readme_has_the_blocks_these_tests_run() -> None:
    assert len(BLOCKS) == 5


async def test_the_web_app_block_serves_links_and_refuses_a_missing_contact(
    simulator: Simulator, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in simulator_env(simulator, base_url).items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, Any] = {"__name__": "readme_web_app"}
    exec(block("web.run_app"), namespace)  # noqa: S102  # our own README, as a user copies it
    email = simulator.links[3]["contactDetails"]["email"]
    async with TestServer(namespace["app"]) as server, aiohttp.ClientSession() as browser:
        async with browser.get(server.make_url("/links"), params={"contact": email}) as reply:
            assert reply.status == 200
            body = await reply.json()
        async with browser.get(server.make_url("/links")) as missing:
            assert missing.status == 400
    wanted = [
        link["linkId"] for link in simulator.links if link["contactDetails"]["email"] == email
    ]
    assert body["links"] == wanted


def test_the_batch_block_walks_every_claimed_link_and_saves_its_checkpoint_atomically(
    tmp_path: Path,
) -> None:
    sim = Simulator(450, seed=3)
    claimed = [link["linkId"] for link in sim.links if link["status"] == "CLAIMED"]
    with serving(sim) as url:
        done = subprocess.run(
            [sys.executable, "-c", block("asyncio.run(main())")],
            env=simulator_env(sim, url),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    printed = [line.split()[0] for line in done.stdout.splitlines()[:-1]]
    assert printed == claimed
    assert "WalkStats(" in done.stdout.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []  # the checkpoint is gone once the walk is done


def test_the_logging_block_turns_on_the_librarys_debug_lines() -> None:
    root, library = logging.getLogger(), logging.getLogger("ipay_links")
    handlers, level = list(root.handlers), library.level
    root.handlers = []  # basicConfig does nothing where a handler is set already
    try:
        exec(block("logging.basicConfig"), {})  # noqa: S102
        assert library.getEffectiveLevel() == logging.DEBUG
    finally:
        root.handlers = handlers
        library.setLevel(level)


def test_the_simulator_block_runs_as_a_program() -> None:
    exec(block("asyncio.run(export_with_one_failure())"), {})  # noqa: S102


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_plugin_block_is_a_test_file_that_passes_in_both_asyncio_modes(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_user=block("ipay_simulator"))
    result = pytester.runpytest("-p", "no:cacheprovider", f"--asyncio-mode={mode}")
    result.assert_outcomes(passed=1)
