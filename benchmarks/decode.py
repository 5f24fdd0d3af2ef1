"""Measurement 1: decoding pages of 100 links, bytes in, typed links out.

Rows: ``orjson.loads`` alone (the floor: no types at all), the stdlib parse our
codec starts with, msgspec Structs, pydantic v2, ours with the collector held per
page (the library before issue 22, see ``_held.py``), and ours
(``ipay_links._core.protocol.read_response``), each in records per second.
"""

from __future__ import annotations

import gc
import json
import random
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

from ipay_links._core.protocol import read_response

from . import _optional
from ._held import LABEL, collector_held
from ._pages import distinct_pages
from ._report import Row, Trials, shuffled_rounds, verdict
from ._servers import Dataset

__all__ = ["datasets", "run"]

TARGET = 1
OURS = "ours: read_response → Page"
ORJSON = "orjson.loads (untyped floor)"
STDLIB = "json.loads(parse_float=Decimal)"
MSGSPEC = "msgspec Structs"
PYDANTIC = "pydantic v2 model_validate_json"
HELD = f"ours, {LABEL}"

Decoder = Callable[[bytes], int]


def _ours(body: bytes) -> int:
    return len(read_response(200, {}, body, page=1).records)


def _ours_held(body: bytes) -> int:
    with collector_held():
        return _ours(body)


def _stdlib(body: bytes) -> int:
    return len(json.loads(body, parse_float=Decimal)["data"]["records"])


def _decoders() -> tuple[dict[str, Decoder], dict[str, str]]:
    """The contenders that can run here, and a note for each that cannot."""
    decoders: dict[str, Decoder] = {OURS: _ours, HELD: _ours_held, STDLIB: _stdlib}
    skipped: dict[str, str] = {}
    orjson: Any = _optional.load("orjson")
    if orjson is None:
        skipped[ORJSON] = _optional.missing_note("orjson")
    else:
        decoders[ORJSON] = lambda body: len(orjson.loads(body)["data"]["records"])
    msgspec_models: Any = _optional.load("benchmarks._msgspec_models")
    if msgspec_models is None:
        skipped[MSGSPEC] = _optional.missing_note("msgspec")
    else:
        decoders[MSGSPEC] = lambda body: len(msgspec_models.DECODER.decode(body).data.records)
    pydantic_models: Any = _optional.load("benchmarks._pydantic_models")
    if pydantic_models is None:
        skipped[PYDANTIC] = _optional.missing_note("pydantic")
    else:
        validate = pydantic_models.Envelope.model_validate_json
        decoders[PYDANTIC] = lambda body: len(validate(body).data.records)
    return decoders, skipped


def _decode_all(decode: Decoder, bodies: list[bytes]) -> int:
    return sum(decode(body) for body in bodies)


def _check(decoders: dict[str, Decoder], bodies: list[bytes], expected: int) -> None:
    """One untimed pass each: every contender reads every record (and warms up)."""
    for name, decode in decoders.items():
        got = _decode_all(decode, bodies)
        if got != expected:
            raise RuntimeError(f"{name} read {got} records, expected {expected}")


def datasets(*, quick: bool, seed: int) -> list[Dataset]:
    return []  # no server: bytes in memory


def run(*, quick: bool, rng: random.Random, urls: dict[str, str]) -> list[Row]:
    pages, per_page = (20, 100) if quick else (200, 100)
    rounds = 3 if quick else 15
    bodies = distinct_pages(pages, per_page, seed=rng.randrange(2**32))
    expected = pages * per_page
    decoders, skipped = _decoders()
    _check(decoders, bodies, expected)

    trials = Trials()
    for order in shuffled_rounds(list(decoders), rounds, rng):
        for name in order:
            gc.collect()
            trials.time(name, partial(_decode_all, decoders[name], bodies))

    def row(name: str, note: str = "", **kwargs: Any) -> Row:
        note = skipped.get(name, note)
        return Row(TARGET, name, trials.rate(name), "rec/s", note=note, **kwargs)

    vs_pydantic = trials.ratio(OURS, PYDANTIC, label="pydantic", minimum=1.4)
    vs_orjson = trials.ratio(OURS, ORJSON, label="orjson.loads", minimum=0.25)
    size = (
        f"{pages} pages x {per_page} links, {len(b''.join(bodies)) / 1e6:.1f} MB, {rounds} rounds"
    )
    return [
        row(ORJSON, note=size),
        row(STDLIB, ratios=(trials.ratio(STDLIB, ORJSON, label="orjson.loads"),)),
        row(MSGSPEC, ratios=(trials.ratio(MSGSPEC, ORJSON, label="orjson.loads"),)),
        row(PYDANTIC, ratios=(trials.ratio(PYDANTIC, ORJSON, label="orjson.loads"),)),
        row(HELD, ratios=(trials.ratio(HELD, PYDANTIC, label="pydantic"),)),
        row(
            OURS,
            ratios=(vs_pydantic, vs_orjson, trials.ratio(OURS, HELD, label="collector held")),
            goal="≥ 1.4x pydantic, ≥ 0.25x orjson (within 4x)",
            met=verdict(vs_pydantic.met, vs_orjson.met),
        ),
    ]
