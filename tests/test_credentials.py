"""Credentials: refused when unusable, never shown."""

from __future__ import annotations

import pytest

import ipay_links as il

SECRET = "679db35f926b8d0240a8c0d28729528ee8e6d5effa5fa0b20c04454004d2d825"


def make(**changes: str) -> il.Credentials:
    values = {"client_id": "YWY3OTAzYzNlM2ExZTJlOfh549Gzt", "client_secret": SECRET}
    values |= {"endpoint_ip": "125.0.0.1"} | changes
    return il.Credentials(**values)


def test_secret_is_never_in_repr_or_str() -> None:
    creds = make()
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert SECRET not in text
        assert SECRET[:8] not in text
    assert "client_secret='***'" in repr(creds)


def test_auth_code_defaults_to_one() -> None:
    assert make().auth_code == "1"


@pytest.mark.parametrize("field", ["client_id", "client_secret", "endpoint_ip", "auth_code"])
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_values_are_refused_by_name(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"{field} is empty"):
        make(**{field: value})


@pytest.mark.parametrize("field", ["client_id", "client_secret", "auth_code"])
@pytest.mark.parametrize("bad", ["\r", "\n", "\0", "\x01", "\x1b", "\x7f"])
def test_control_characters_are_refused_without_echoing_the_value(field: str, bad: str) -> None:
    with pytest.raises(ValueError, match=f"{field} contains a control character") as caught:
        make(**{field: f"{SECRET}{bad}X-Evil: 1"})
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("value", [f" {SECRET}", f"{SECRET}\t", f"{SECRET} "])
def test_white_space_around_a_value_is_refused(value: str) -> None:
    # A server strips it: the secret sent would silently differ from the one given.
    with pytest.raises(ValueError, match="client_secret has leading or trailing white space"):
        make(client_secret=value)


def test_a_secret_given_as_endpoint_ip_is_not_echoed() -> None:
    with pytest.raises(ValueError, match="endpoint_ip is not an IPv4") as caught:
        il.Credentials("client-id", "125.0.0.1", SECRET)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("ip", ["not-an-ip", "125.0.0", "999.1.1.1", "localhost"])
def test_endpoint_ip_must_be_an_ip_address(ip: str) -> None:
    with pytest.raises(ValueError, match="not an IPv4 or IPv6 address"):
        make(endpoint_ip=ip)


@pytest.mark.parametrize("ip", ["125.0.0.1", "2001:db8::1"])
def test_ipv4_and_ipv6_are_accepted(ip: str) -> None:
    assert make(endpoint_ip=ip).endpoint_ip == ip


def test_a_non_string_value_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="client_id must be a str"):
        il.Credentials(1234, SECRET, "125.0.0.1")  # type: ignore[arg-type]


def test_from_env_reads_the_four_variables() -> None:
    env = {
        "IPAY_CLIENT_ID": "id-1",
        "IPAY_CLIENT_SECRET": SECRET,
        "IPAY_ENDPOINT_IP": "10.1.2.3",
        "IPAY_AUTH_CODE": "1",
    }
    assert il.Credentials.from_env(env) == il.Credentials("id-1", SECRET, "10.1.2.3", "1")


def test_from_env_names_every_missing_variable() -> None:
    with pytest.raises(ValueError, match="missing environment variable") as caught:
        il.Credentials.from_env({"IPAY_ENDPOINT_IP": "10.1.2.3", "IPAY_CLIENT_SECRET": ""})
    message = str(caught.value)
    assert "IPAY_CLIENT_ID" in message and "IPAY_CLIENT_SECRET" in message
    assert "IPAY_ENDPOINT_IP" not in message


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPAY_CLIENT_ID", "id-2")
    monkeypatch.setenv("IPAY_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("IPAY_ENDPOINT_IP", "125.0.0.1")
    monkeypatch.delenv("IPAY_AUTH_CODE", raising=False)
    assert il.Credentials.from_env().client_id == "id-2"
