"""Pure tests of the protocol layer: requests built, answers mapped, without a network."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest

import ipay_links as il
from ipay_links._core import protocol
from ipay_links.testing import SIMULATOR_CREDENTIALS

from .conftest import sample_envelope

CREDS = il.Credentials("client-id-1234", "s3cr3t-value", "125.0.0.1")


def body_of(request: protocol.Request) -> Any:
    return json.loads(request.body)


def test_request_is_the_documented_get_with_a_json_body() -> None:
    query = protocol.make_query(per_page=10, status="ISSUED", contact="Sample", link_id="657a")
    request = protocol.build_request(CREDS, query, 1)
    assert request.method == "GET"
    assert request.path == "/payments/payout/link/list"
    assert request.headers["X-Ipay-Auth-Code"] == "1"
    assert request.headers["X-Ipay-Client-Id"] == "client-id-1234"
    assert request.headers["X-Ipay-Client-Secret"] == "s3cr3t-value"
    assert request.headers["X-Ipay-Endpoint-Ip"] == "125.0.0.1"
    assert request.headers["Content-Type"] == "application/json"
    assert body_of(request) == {
        "filters": {"status": ["ISSUED"], "contact": "Sample", "linkId": "657a"},
        "pagination": {"pageNumber": "1", "recordsPerPage": "10"},
    }


def test_filters_not_given_are_left_out() -> None:
    request = protocol.build_request(CREDS, protocol.make_query(per_page=25), 4)
    assert body_of(request) == {"pagination": {"pageNumber": "4", "recordsPerPage": "25"}}


def test_request_repr_never_shows_the_headers() -> None:
    request = protocol.build_request(CREDS, protocol.make_query(), 1)
    assert "s3cr3t" not in repr(request)


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("ISSUED", ["ISSUED"]),
        (il.LinkStatus.CLAIMED, ["CLAIMED"]),
        (["ISSUED", il.LinkStatus.EXPIRED], ["ISSUED", "EXPIRED"]),
        (("CLAIMED", "CLAIMED"), ["CLAIMED"]),
    ],
)
def test_status_takes_members_or_strings_one_or_many(given: Any, sent: list[str]) -> None:
    request = protocol.build_request(CREDS, protocol.make_query(status=given), 1)
    assert body_of(request)["filters"]["status"] == sent


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"per_page": 0}, ValueError, "per_page must be at least 1"),
        ({"per_page": 1001}, ValueError, "per_page must be at most 1000"),
        ({"per_page": "10"}, TypeError, "per_page must be an int"),
        ({"per_page": True}, TypeError, "per_page must be an int"),
        ({"status": "REFUNDED"}, ValueError, "unknown status 'REFUNDED'"),
        ({"status": "\u0131ssued"}, ValueError, "unknown status '\u0131ssued'"),
        ({"status": []}, ValueError, "status is empty"),
        ({"status": [1]}, TypeError, "status must be LinkStatus or str"),
        ({"contact": ""}, ValueError, "contact is empty"),
        ({"contact": 98765}, TypeError, "contact must be a str"),
        ({"link_id": "  "}, ValueError, "link_id is empty"),
    ],
)
def test_bad_query_arguments_are_named(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        protocol.make_query(**kwargs)


@pytest.mark.parametrize("page", [0, -1])
def test_page_below_one_is_refused(page: int) -> None:
    with pytest.raises(ValueError, match="page must be at least 1"):
        protocol.check_page(page)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.instantpay.in",
        "https://api.instantpay.in/",
        "http://127.0.0.1:8080",
        "http://localhost:1234",
        "http://[::1]:9000",
        "http://127.9.9.9",
    ],
)
def test_base_url_accepts_https_and_loopback_http(url: str) -> None:
    assert protocol.check_base_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://api.instantpay.in", "plain http to a non-loopback host"),
        ("http://10.0.0.5:8080", "plain http to a non-loopback host"),
        ("ftp://api.instantpay.in", "must be an https:// URL"),
        ("api.instantpay.in", "must be an https:// URL"),
        ("https://user:pw@api.instantpay.in", "user info"),
        ("https://api.instantpay.in?x=1", "query"),
    ],
)
def test_base_url_refuses_what_would_expose_the_secret(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        protocol.check_base_url(url)


def error_envelope(statuscode: str, message: str = "Something") -> bytes:
    envelope = sample_envelope() | {"statuscode": statuscode, "status": message, "data": None}
    return json.dumps(envelope).encode()


@pytest.mark.parametrize(
    ("statuscode", "error"),
    [
        *[(code, il.AuthenticationError) for code in sorted(protocol.AUTH_CODES)],
        *[(code, il.ServiceUnavailableError) for code in sorted(protocol.TRANSIENT_CODES)],
        ("RPI", il.ApiError),
        ("ERR", il.ApiError),
        ("TUP", il.ApiError),
        ("ZZZ", il.ApiError),
    ],
)
@pytest.mark.parametrize("http_status", [200, 400])
def test_each_statuscode_raises_its_typed_error(
    statuscode: str, error: type[il.ApiError], http_status: int
) -> None:
    with pytest.raises(il.ApiError) as caught:
        protocol.read_response(http_status, {}, error_envelope(statuscode, "Msg"), page=1)
    assert type(caught.value) is error
    assert caught.value.statuscode == statuscode
    assert caught.value.http_status == http_status
    assert caught.value.status_message == "Msg"
    uuid = "h0009ad8a356-b745-4ee2-88bb-0c4abb750ed7-bQQqUjuG4ASN"
    assert caught.value.ipay_uuid == uuid
    text = str(caught.value)
    assert text.startswith(f"[{uuid}]")
    assert statuscode in text and "Msg" in text


def test_statuscode_wins_over_a_5xx_for_permanent_codes() -> None:
    with pytest.raises(il.AuthenticationError):
        protocol.read_response(500, {}, error_envelope("IAC"), page=1)
    with pytest.raises(il.ServiceUnavailableError):
        protocol.read_response(503, {}, error_envelope("ERR"), page=1)


@pytest.mark.parametrize(
    ("http_status", "error"),
    [
        (429, il.RateLimitError),
        (500, il.ServiceUnavailableError),
        (502, il.ServiceUnavailableError),
        (503, il.ServiceUnavailableError),
        (504, il.ServiceUnavailableError),
        (408, il.ServiceUnavailableError),
        (401, il.AuthenticationError),
        (403, il.AuthenticationError),
        (404, il.ApiError),
        (301, il.ApiError),
        (302, il.ApiError),
    ],
)
def test_bare_http_errors_are_typed_by_their_status(
    http_status: int, error: type[il.ApiError]
) -> None:
    body = b"<html><body><h1>Bad Gateway</h1></body></html>"
    with pytest.raises(il.ApiError) as caught:
        protocol.read_response(http_status, {}, body, page=1)
    assert type(caught.value) is error
    assert caught.value.http_status == http_status
    assert caught.value.statuscode is None
    assert f"HTTP {http_status}" in str(caught.value)


def test_no_record_found_is_an_empty_page() -> None:
    page = protocol.read_response(200, {}, error_envelope("ERR", "No Record Found"), page=4)
    assert page.records == ()
    assert page.meta.total_records == 0
    assert page.meta.current_page == 4
    assert page.ipay_uuid == "h0009ad8a356-b745-4ee2-88bb-0c4abb750ed7-bQQqUjuG4ASN"


def test_no_record_found_with_an_error_status_is_an_error() -> None:
    with pytest.raises(il.ServiceUnavailableError):
        protocol.read_response(500, {}, error_envelope("ERR", "No Record Found"), page=1)


def test_other_err_messages_are_errors() -> None:
    with pytest.raises(il.ApiError, match="ERR: Provider failure"):
        protocol.read_response(200, {}, error_envelope("ERR", "Provider failure"), page=1)


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'{"status": "ok"}', b"\xff\xfe"])
def test_a_2xx_that_is_no_envelope_is_a_format_error(body: bytes) -> None:
    with pytest.raises(il.ResponseFormatError):
        protocol.read_response(200, {}, body, page=1)


def test_a_txn_with_an_error_http_status_is_not_success() -> None:
    body = json.dumps(sample_envelope()).encode()
    with pytest.raises(il.ServiceUnavailableError):
        protocol.read_response(502, {}, body, page=1)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After": "-4"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"Retry-After": "soon"}, None),
        ({"retry-after-ms": "nan"}, None),
        ({"Retry-After": "NaN"}, None),
        ({}, None),
    ],
)
def test_retry_after_in_seconds_or_milliseconds(headers: dict[str, str], seconds: float) -> None:
    assert protocol.parse_retry_after(headers) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2026, 11, 27, 10, 0, 30, tzinfo=UTC), usegmt=True)
    assert protocol.parse_retry_after({"Retry-After": later}, now=now.timestamp()) == 30.0


def test_an_http_date_is_read_only_against_the_wall_time_given() -> None:
    # The pure core reads no clock: without now, a date says nothing it can count.
    later = format_datetime(datetime(2026, 11, 27, 10, 0, 30, tzinfo=UTC), usegmt=True)
    assert protocol.parse_retry_after({"Retry-After": later}) is None
    now = datetime(2026, 11, 27, 10, 0, 12, tzinfo=UTC).timestamp()
    with pytest.raises(il.RateLimitError) as caught:
        protocol.read_response(429, {"Retry-After": later}, b"slow down", page=1, now=now)
    assert caught.value.retry_after == 18.0
    assert protocol.retry_after_of(503, {"Retry-After": later}, now) == 18.0
    assert protocol.retry_after_of(500, {"Retry-After": later}, now) is None


def test_429_carries_retry_after() -> None:
    with pytest.raises(il.RateLimitError) as caught:
        protocol.read_response(429, {"Retry-After": "7"}, b"slow down", page=1)
    assert caught.value.retry_after == 7.0


def test_simulator_credentials_are_valid_credentials() -> None:
    assert SIMULATOR_CREDENTIALS.endpoint_ip == "127.0.0.1"
