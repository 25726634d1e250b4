"""Address → host: most specific match, IPv4 and IPv6, against ipaddress."""

from __future__ import annotations

import ipaddress

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.inventory import AddressIndex
from auditor.model import Host, Role
from auditor.tables import text_to_addr
from auditor.verdicts.lookup import lookup_unique


def hosts_of(blocks: list[str]) -> list[Host]:
    return [
        Host(f"h{i}", Role.CLIENT, "s", (ipaddress.ip_network(b, strict=False),))
        for i, b in enumerate(blocks)
    ]


def reference(hosts: list[Host], text: str) -> int:
    addr = ipaddress.ip_address(text)
    # The packet columns write IPv4 as ::ffff:a.b.c.d (auditor.tables), so an
    # IPv4-mapped IPv6 address *is* that IPv4 address here; such addresses
    # never appear in IPv6 headers on the wire (RFC 4291 section 2.5.5.2).
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    best, best_len = -1, -1
    for i, h in enumerate(hosts):
        for net in h.networks:
            if addr.version == net.version and addr in net and net.prefixlen > best_len:
                best, best_len = i, net.prefixlen
    return best


def lookup(hosts: list[Host], texts: list[str]) -> list[int]:
    pairs = np.array([text_to_addr(t) for t in texts], dtype=np.uint64).reshape(-1, 2)
    index = AddressIndex(hosts)
    plain = index.lookup(pairs[:, 0], pairs[:, 1]).tolist()
    assert lookup_unique(index, pairs[:, 0], pairs[:, 1]).tolist() == plain
    return plain


def test_most_specific_block_wins_and_families_stay_apart():
    hosts = hosts_of(["10.0.0.0/8", "10.1.0.0/16", "10.1.1.1/32", "::/0", "fd00::/64", "0.0.0.0/0"])
    texts = [
        "10.1.1.1",
        "10.1.2.3",
        "10.9.9.9",
        "11.0.0.1",
        "fd00::5",
        "fd01::1",
        "::ffff:10.1.1.1",
    ]
    assert lookup(hosts, texts) == [2, 1, 0, 5, 4, 3, 2]


def test_no_hosts():
    assert lookup([], ["10.0.0.1"]) == [-1]


v4_blocks = st.builds(
    lambda a, p: str(ipaddress.ip_network(f"{ipaddress.IPv4Address(a)}/{p}", strict=False)),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
v6_blocks = st.builds(
    lambda a, p: str(ipaddress.ip_network(f"{ipaddress.IPv6Address(a)}/{p}", strict=False)),
    st.integers(0, 2**128 - 1),
    st.integers(0, 128),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(v4_blocks | v6_blocks, max_size=12, unique=True), st.data())
def test_lookup_equals_ipaddress(blocks, data):
    hosts = hosts_of(blocks)
    # addresses near the blocks (inside and just outside), plus random ones
    texts = []
    for b in blocks:
        net = ipaddress.ip_network(b)
        make = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
        cap = 2**32 if net.version == 4 else 2**128
        for delta in (0, net.num_addresses - 1, net.num_addresses):
            value = int(net.network_address) + delta
            if value < cap:
                texts.append(str(make(value)))
    randoms = data.draw(st.lists(st.integers(0, 2**32 - 1), max_size=5))
    texts += [str(ipaddress.IPv4Address(x)) for x in randoms]
    if not texts:
        return
    assert lookup(hosts, texts) == [reference(hosts, t) for t in texts]
