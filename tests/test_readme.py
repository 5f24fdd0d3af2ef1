"""Every Python block of the README runs, as written, against the simulator."""

from __future__ import annotations

import inspect
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

import ipay_links as il
from ipay_links.testing import Simulator

from .test_cli import serving

README = Path(__file__).parent.parent / "README.md"
BLOCKS: list[str] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


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


def readme_signature(call: str) -> list[tuple[str, str]]:
    """The parameters of ``call`` as the README's table writes them: (name, default text)."""
    (row,) = [line for line in README.read_text().splitlines() if line.startswith(f"| `{call}(")]
    inside = row[len(f"| `{call}(") : row.index(")` |")]
    parameters = []
    for part in re.split(r",\s*", inside):
        if part in ("*", "..."):
            continue
        name, _, default = part.partition("=")
        parameters.append((name.lstrip("*"), default))
    return parameters


@pytest.mark.parametrize(
    ("call", "function"),
    [
        ("Client", il.Client.__init__),
        ("Client.from_env", il.Client.from_env),
        ("await client.fetch_page", il.Client.fetch_page),
    ],
)
def test_the_readmes_signatures_are_the_codes(call: str, function: Any) -> None:
    code = [
        (name, parameter.default)
        for name, parameter in inspect.signature(function).parameters.items()
        if name != "self"
    ]
    readme = readme_signature(call)
    assert [name for name, _ in readme] == [name for name, _ in code]
    for (name, written), (_, default) in zip(readme, code, strict=True):
        assert same_default(written, default), name


def same_default(written: str, default: object) -> bool:
    """Whether the README's default is the code's; one the README describes is not checked."""
    if written in ("", "...") or default is inspect.Parameter.empty:
        return True
    if default is None:
        return written == "None"
    if isinstance(default, str):
        return written.strip('"') == default
    if isinstance(default, int | float) and not isinstance(default, bool):
        try:
            return float(written) == default
        except ValueError:  # "32 MiB": described, not written as code
            return True
    return True  # an object (RetryPolicy()) is named, not compared


def test_the_readmes_walk_options_are_the_codes() -> None:
    options = il.WalkOptions.__optional_keys__
    pages = {name for name, _ in readme_signature("client.iter_pages")}
    assert pages <= options and {"start_page", "concurrency", "consistency", "resume"} <= pages
    assert [name for name, _ in readme_signature("client.iter_links")] == ["max_items"]
    assert "max_items" in inspect.signature(il.Client.iter_links).parameters
