"""Who a rate limit counts: the socket peer, unless a trusted proxy vouches for someone else."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest
from litestar.connection import ASGIConnection

from lvs.settings import IPNetwork, Settings
from lvs.web.ratelimit import WriteLimiter, forwarded_for
from lvs.web.security import client_address


def nets(*specs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(s, strict=False) for s in specs)


def connection(peer: str | None, headers: Sequence[tuple[str, str]] = ()) -> ASGIConnection:  # type: ignore[type-arg]
    """A fresh ASGI connection with these raw headers (repeats allowed) from ``peer``."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/ratings/x",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": (peer, 50000) if peer is not None else None,
        "app": None,
        "state": {},
    }
    return ASGIConnection(scope)  # type: ignore[arg-type]


PROXY = nets("10.0.0.0/8")


# -- client_address ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hops",
    [["198.51.100.1"], ["198.51.100.1, 203.0.113.5"], ["garbage"], []],
)
def test_without_trusted_proxies_the_peer_is_the_client(hops: list[str]) -> None:
    assert client_address("203.0.113.9", hops, ()) == "203.0.113.9"


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("203.0.113.9", ["198.51.100.1"], PROXY) == "203.0.113.9"


@pytest.mark.parametrize(
    ("peer", "hops", "client"),
    [
        # One trusted proxy: the address it saw.
        ("10.0.0.1", ["203.0.113.5"], "203.0.113.5"),
        # The client wrote its own X-Forwarded-For; the proxy appended the real address.
        ("10.0.0.1", ["198.51.100.1, 203.0.113.5"], "203.0.113.5"),
        # Several trusted proxies in a row: skip every trusted hop from the right.
        ("10.0.0.2", ["198.51.100.1, 203.0.113.5, 10.0.0.3, 10.0.0.4"], "203.0.113.5"),
        # The same chain split over repeated headers.
        ("10.0.0.2", ["198.51.100.1", "203.0.113.5, 10.0.0.3", "10.0.0.4"], "203.0.113.5"),
        # Spaces and empty entries do not matter.
        ("10.0.0.1", ["  198.51.100.1 ,, 203.0.113.5  "], "203.0.113.5"),
        # Every hop is a trusted machine: the first one is the client.
        ("10.0.0.1", ["10.0.0.5, 10.0.0.6"], "10.0.0.5"),
    ],
)
def test_behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client(
    peer: str, hops: list[str], client: str
) -> None:
    assert client_address(peer, hops, PROXY) == client


@pytest.mark.parametrize(
    "hops",
    [
        [],
        [""],
        [" , ,"],
        ["not-an-ip"],
        ["300.1.1.1"],
        ["<script>alert(1)</script>"],
        ["unknown"],
        # Garbage to the right: what stands to its left cannot be believed either.
        ["198.51.100.1, garbage"],
        ["198.51.100.1, 10.0.0.3, 1.2.3"],
    ],
)
def test_garbage_from_a_trusted_proxy_falls_back_to_the_peer(hops: list[str]) -> None:
    assert client_address("10.0.0.1", hops, PROXY) == "10.0.0.1"


def test_cidr_ranges_decide_who_is_trusted() -> None:
    trusted = nets("192.168.0.0/16", "172.16.5.4/32")

    assert client_address("192.168.200.7", ["198.51.100.1"], trusted) == "198.51.100.1"
    assert client_address("172.16.5.4", ["198.51.100.1"], trusted) == "198.51.100.1"
    # Just outside the ranges: the peer itself.
    assert client_address("192.169.0.1", ["198.51.100.1"], trusted) == "192.169.0.1"
    assert client_address("172.16.5.5", ["198.51.100.1"], trusted) == "172.16.5.5"


def test_ipv6_proxies_and_clients() -> None:
    trusted = nets("fd00::/8", "::1")

    assert client_address("fd12::1", ["2001:db8::7"], trusted) == "2001:db8::7"
    assert client_address("::1", ["2001:db8::7, fd00::2"], trusted) == "2001:db8::7"
    assert client_address("2001:db8::9", ["2001:db8::7"], trusted) == "2001:db8::9"


def test_a_peer_that_is_not_an_address_is_never_trusted() -> None:
    # Litestar's TestClient reports its peer as "testclient".
    assert client_address("testclient", ["198.51.100.1"], PROXY) == "testclient"
    assert client_address(None, ["198.51.100.1"], PROXY) == "unknown"


# -- forwarded_for: reading the headers -------------------------------------------------------


def test_repeated_x_forwarded_for_headers_are_kept_in_order() -> None:
    conn = connection(
        "10.0.0.1",
        [("X-Forwarded-For", "198.51.100.1, 203.0.113.5"), ("x-forwarded-for", "10.0.0.3")],
    )

    assert forwarded_for(conn) == ["198.51.100.1, 203.0.113.5", "10.0.0.3"]


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ('for="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
        ('for="[2001:db8:cafe::17]"', "2001:db8:cafe::17"),
        ("for=192.0.2.43:8080", "192.0.2.43"),
        ('for="192.0.2.43:8080"', "192.0.2.43"),
        ("For=192.0.2.43", "192.0.2.43"),
        ("proto=https;for=192.0.2.60;by=10.0.0.9", "192.0.2.60"),
        ("by=10.0.0.9;for=192.0.2.60", "192.0.2.60"),
        # The client's own claim first, the proxy's observation last.
        ("for=198.51.100.1, for=192.0.2.60", "192.0.2.60"),
        ('for=198.51.100.1, for="[2001:db8::5]:443", for=10.0.0.7', "2001:db8::5"),
    ],
)
def test_rfc_7239_forwarded(forwarded: str, client: str) -> None:
    conn = connection("10.0.0.1", [("Forwarded", forwarded)])

    assert client_address("10.0.0.1", forwarded_for(conn), PROXY) == client


def test_forwarded_over_several_headers() -> None:
    conn = connection(
        "10.0.0.1", [("Forwarded", "for=198.51.100.1"), ("Forwarded", "for=192.0.2.60;proto=http")]
    )

    assert client_address("10.0.0.1", forwarded_for(conn), PROXY) == "192.0.2.60"


@pytest.mark.parametrize("forwarded", ["for=unknown", 'for="_hidden"', "proto=https", "garbage"])
def test_forwarded_without_a_usable_address_falls_back_to_the_peer(forwarded: str) -> None:
    conn = connection("10.0.0.1", [("Forwarded", forwarded)])

    assert client_address("10.0.0.1", forwarded_for(conn), PROXY) == "10.0.0.1"


def test_no_forwarding_headers_at_all() -> None:
    assert forwarded_for(connection("10.0.0.1")) == []


# -- the limiter's view of a request ----------------------------------------------------------


def limiter(*trusted: str) -> WriteLimiter:
    return WriteLimiter(Settings(trusted_proxies=trusted, secret_key="x" * 32))


def test_limiter_keys_a_direct_client_by_its_socket_address() -> None:
    conn = connection("203.0.113.9", [("X-Forwarded-For", "198.51.100.1")])

    assert limiter().client(conn) == "203.0.113.9"
    assert limiter("10.0.0.0/8").client(conn) == "203.0.113.9"


def test_limiter_believes_a_trusted_proxy() -> None:
    via_xff = connection("10.0.0.1", [("X-Forwarded-For", "198.51.100.1, 203.0.113.5")])
    via_forwarded = connection("10.0.0.1", [("Forwarded", 'for="[2001:db8::1]:4711"')])

    assert limiter("10.0.0.0/8").client(via_xff) == "203.0.113.5"
    assert limiter("10.0.0.0/8").client(via_forwarded) == "2001:db8::1"


def test_limiter_without_a_peer() -> None:
    assert limiter("10.0.0.0/8").client(connection(None)) == "unknown"
