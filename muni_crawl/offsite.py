"""Which URLs a source may fetch: its own hosts and ports, and never an internal address by chance.

One policy answers at every point where a URL could lead the crawler astray: `sites.py` when it
validates start URLs and filters links, the crawler's downloader middleware before every
request, redirect hop and meta refresh, and the crawler's DNS resolver when a name becomes an
address (a public-looking name may point inside the network). The rules:

- only `http` and `https`; no user name or password in the URL;
- the host is spelled plainly: letters, digits, `-` and `_` in dot-separated labels (IDN in
  punycode, case and one trailing dot do not matter); an IPv4 address only in dotted decimal
  (`2852039166`, `0xa9fea9fe`, `0251.0376.0251.0376` and `127.1` are refused, not decoded);
- an `allowed_domains` entry admits its host and its subdomains. An IP address, and a name that
  only exists inside a network (`localhost`, `*.local`, `*.internal`, `*.home.arpa`), is admitted
  only when an entry names it exactly;
- an entry with a port admits only that port; an entry without one only the scheme's default
  port (80 for http, 443 for https);
- a name that resolves to a non-public address (loopback, private, link-local and so cloud
  metadata, shared/CGNAT, multicast, unspecified, reserved, also when embedded in IPv6) is
  refused unless an entry names that exact host, as a local mirror or test site does.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}

# cloud metadata services: named in refusals so an operator sees what was at stake
METADATA_ADDRESSES = frozenset(
    {
        ip_address("169.254.169.254"),  # AWS, Azure, GCP, OpenStack, Oracle, DigitalOcean
        ip_address("fd00:ec2::254"),  # AWS over IPv6
        ip_address("100.100.100.200"),  # Alibaba Cloud
        ip_address("192.0.0.192"),  # Oracle Cloud (classic)
    }
)
# names that resolve only inside a network (RFC 6761, RFC 6762, ICANN 2024, RFC 8375)
INTERNAL_NAMES = ("localhost", "local", "internal", "home.arpa", "metadata.goog")

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_ADDRESS_SPELLING = re.compile(r"^[0-9a-fx.]+$")
_NAT64 = IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = IPv6Network("::/96")
_SHARED = IPv4Network("100.64.0.0/10")

IPAddress = IPv4Address | IPv6Address


class RefusedHost(ValueError):
    """A host spelled in a way the crawler will not connect to; the message says why."""


@dataclass(frozen=True)
class Host:
    """A host in canonical spelling, with its address when it is an IP literal."""

    name: str
    address: IPAddress | None = None

    @property
    def internal(self) -> bool:
        """An address or a name that exists only inside a network: admitted only exactly."""
        if self.address is not None:
            return True
        return any(self.name == n or self.name.endswith("." + n) for n in INTERNAL_NAMES)


@dataclass(frozen=True)
class AllowedEntry:
    """One allowed_domains entry: a host and, optionally, the one port it admits."""

    host: Host
    port: int | None

    def admits(self, host: Host, scheme: str, port: int) -> bool:
        if port != (self.port if self.port is not None else DEFAULT_PORTS[scheme]):
            return False
        if host.name == self.host.name:
            return True
        if host.internal or self.host.address is not None:
            return False
        return host.name.endswith("." + self.host.name)


def parse_host(text: str) -> Host:
    """The canonical Host for a URL's host text, or RefusedHost saying what is wrong with it."""
    raw = text.strip("[]")
    if ":" in raw:
        return _ipv6_host(raw)
    name = raw[:-1] if raw.endswith(".") else raw
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise RefusedHost(f"host {text!r} is not a valid international domain name") from None
    name = name.lower()
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise RefusedHost(f"host {text!r} is not a plain host name")
    if _NUMERIC_LABEL.match(labels[-1]):
        return _ipv4_host(name, text)
    return Host(name)


def _ipv6_host(raw: str) -> Host:
    if "%" in raw:
        raise RefusedHost(f"IPv6 host {raw!r} names a network interface")
    try:
        address = IPv6Address(raw)
    except ValueError:
        raise RefusedHost(f"host {raw!r} is not a valid IPv6 address") from None
    return Host(f"[{address.compressed}]", address)


def _ipv4_host(name: str, text: str) -> Host:
    try:
        address = IPv4Address(name)
    except ValueError:
        address = None
    if address is None or str(address) != name:
        decoded = _legacy_ipv4(name)
        meaning = f" (an old spelling of {decoded})" if decoded else ""
        raise RefusedHost(f"host {text!r} is not a dotted-decimal IPv4 address{meaning}")
    return Host(name, address)


def _legacy_ipv4(name: str) -> str | None:
    """What the C library would make of 2852039166 or 0xa9.0376.43518: named in refusals only."""
    if not _ADDRESS_SPELLING.match(name):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(name))
    except OSError:
        return None


def non_public_kind(address: IPAddress) -> str | None:
    """What makes an address internal ('loopback address', ...), or None for a public one."""
    if isinstance(address, IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            kind = non_public_kind(embedded)
            return f"{kind} inside an IPv6 address" if kind else None
    checks = (
        (address in METADATA_ADDRESSES, "cloud metadata"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_unspecified, "unspecified"),
        (address.is_private, "private"),
        (isinstance(address, IPv4Address) and address in _SHARED, "shared (carrier-grade NAT)"),
        (isinstance(address, IPv6Address) and address.is_site_local, "site-local"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "not globally routable"),
    )
    return next((f"{kind} address" for matched, kind in checks if matched), None)


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class OffsitePolicy:
    """The rules of one source's allowed_domains (see the module docstring)."""

    def __init__(self, allowed_domains: Iterable[str]) -> None:
        self.allowed_domains = tuple(allowed_domains)
        self.entries = tuple(
            entry for entry in map(_parse_entry, self.allowed_domains) if entry is not None
        )

    def refusal(self, url: str) -> str | None:
        """Why this URL may not be fetched, or None when it may."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            return f"unreadable URL: {exc}"
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            return f"scheme {scheme or '(none)'!r} is not http or https"
        if "@" in parts.netloc:
            return "the URL carries a user name or password"
        if not parts.hostname:
            return "the URL has no host"
        if port == 0:
            return "port 0 is not a port"
        try:
            host = parse_host(parts.hostname)
        except RefusedHost as exc:
            return str(exc)
        port = DEFAULT_PORTS[scheme] if port is None else port
        if any(entry.admits(host, scheme, port) for entry in self.entries):
            return None
        kind = non_public_kind(host.address) if host.address is not None else None
        what = f"{host.name}:{port}" + (f" ({kind})" if kind else "")
        return f"{what} is outside allowed_domains ({', '.join(self.allowed_domains)})"

    def allows(self, url: str) -> bool:
        return self.refusal(url) is None

    def address_refusal(self, host: str, address: str) -> str | None:
        """Why connecting to `host` at the `address` it resolved to is refused, or None."""
        try:
            resolved = ip_address(address)
        except ValueError:
            return f"{host} resolved to {address!r}, which is not an IP address"
        kind = non_public_kind(resolved)
        if kind is None:
            return None
        try:
            name = parse_host(host).name
        except RefusedHost as exc:
            return str(exc)
        if any(entry.host.name == name for entry in self.entries):
            return None  # a local mirror or test site, listed on purpose
        return (
            f"{host} resolves to {resolved} ({kind}); only a host listed exactly in"
            " allowed_domains may resolve to an internal address"
        )


def _parse_entry(entry: str) -> AllowedEntry | None:
    """An allowed_domains entry ('host' or 'host:port'); None for one that admits nothing."""
    match = re.match(r"^(.*?)(?::(\d{1,5}))?$", entry.strip())
    if match is None:
        return None
    try:
        host = parse_host(match.group(1))
    except RefusedHost:
        return None  # sites.py reports entries that are not host names
    port = int(match.group(2)) if match.group(2) else None
    return AllowedEntry(host, port)
