"""Which addresses are public (tools/data/blocked_addresses.json; rules in docs/tools-safety.md): IP literals
read in every form a resolver accepts (`2130706433`, `0177.0.0.1`, `127.1`, `0x7f.1`, `[::1]`,
`[::ffff:127.0.0.1]`), and IPv6 addresses judged by the IPv4 address they carry (IPv4-mapped,
IPv4-compatible, 6to4, Teredo, NAT64). `tools.net.HostPolicy` applies them to each connection.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from functools import cache
from importlib import resources
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Written like an IPv4 address (decimal, octal, hex, 1 to 4 parts): resolvers read these as addresses.
IPV4_LIKE = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


@cache
def blocked_addresses() -> dict[str, Any]:
    """tools/data/blocked_addresses.json: metadata networks and host names, kinds refused whatever is set."""
    return json.loads(resources.files("tools").joinpath("data/blocked_addresses.json").read_text())


@cache
def _metadata_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n) for n in blocked_addresses()["metadata_networks"])


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host written as an IP literal denotes (any IPv4 form `inet_aton` reads), else None."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if IPV4_LIKE.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            return None
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_kind(ip: IPAddress) -> str | None:
    """Why `ip` is not a public address (`loopback`, `private`, `cloud metadata`, ...), or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and (kind := address_kind(embedded)):
            return kind
    if any(ip in network for network in _metadata_networks() if network.version == ip.version):
        return "cloud metadata"
    for kind in ("unspecified", "loopback", "multicast", "link_local", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    if not ip.is_global:
        return "non-public"
    return None
