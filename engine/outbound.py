"""The one address policy for every outbound connection a tenant can point Doppel at.

Database hosts, webhook receivers and S3 endpoints are typed by users, and each one is an
instruction to the Doppel server to open a network connection. They all go through
:func:`resolve_destination`, which

1. checks the port (1..65535; a message names the port otherwise);
2. resolves the host name **once** (or takes the literal address as given);
3. judges every address of the answer with :func:`address_kind`, the single classification
   of non-public addresses, and the allow-list;
4. returns a :class:`Destination` holding the one checked address to connect to.

The caller connects to ``Destination.address`` and keeps ``Destination.host`` only for TLS
verification, SNI and the ``Host`` header. Resolving again between the check and the connection
(what a driver does when it is handed the name) would let a name answer a public address to the
check and ``127.0.0.1`` to the connection (DNS rebinding), so it is never done.

Address classes refused unless allowed: loopback, private, link-local, shared (carrier-grade
NAT, 100.64.0.0/10), unique-local, site-local, documentation, benchmarking (198.18.0.0/15),
reserved; never allowed: unspecified, "this network" (0.0.0.0/8), broadcast and multicast.
IPv6 addresses that carry an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, Teredo server
and client, NAT64) are judged as the IPv4 address they carry, so an embedding cannot smuggle a
private address past the check. The local-use NAT64 prefix 64:ff9b:1::/48 is refused outright:
its layout is chosen by the local network and it is never globally reachable.

Allow-list entries (``allowed``) are host names, ``*.example.com`` / ``.example.com``
suffixes, IP addresses or CIDR blocks. When a list is given the host must match a name entry or
every address must fall in a CIDR entry. A CIDR entry also allows the non-public addresses it
covers; a host-name entry alone never does (DNS can point any name at 169.254.169.254).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from engine.errors import SourceUnavailableError, UnsafeConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Blocks the ipaddress module knows about but does not name (its is_private/is_global lump them
# together), so that a refusal can say which class the address belongs to. Order matters only for
# naming; every block here is refused unless allowed.
_NAMED_BLOCKS: tuple[tuple[str, IPNetwork], ...] = tuple(
    (name, ipaddress.ip_network(block))
    for name, block in (
        ("'this network' (0.0.0.0/8)", "0.0.0.0/8"),
        ("broadcast", "255.255.255.255/32"),
        ("reserved (240.0.0.0/4)", "240.0.0.0/4"),
        ("shared (carrier-grade NAT)", "100.64.0.0/10"),
        ("benchmarking", "198.18.0.0/15"),
        ("documentation", "192.0.2.0/24"),
        ("documentation", "198.51.100.0/24"),
        ("documentation", "203.0.113.0/24"),
        ("documentation", "2001:db8::/32"),
        ("documentation", "3fff::/20"),
        ("unique-local", "fc00::/7"),
        ("benchmarking", "2001:2::/48"),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_TEREDO = ipaddress.IPv6Network("2001::/32")

#: Classes that are never a server, whatever the allow-list says.
NEVER_ALLOWED = frozenset({"unspecified", "multicast", "broadcast", "'this network' (0.0.0.0/8)"})


@dataclass(frozen=True)
class Destination:
    """A checked place to connect to.

    ``host`` is the name as given (kept for TLS verification, SNI and the ``Host`` header);
    ``address`` is the one checked IP address to open the socket to; ``port`` is in 1..65535.
    """

    host: str
    port: int
    address: str

    @property
    def netloc(self) -> str:
        """``address:port`` with IPv6 addresses in brackets, for a socket-level URL."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{address}:{self.port}"


def _article(kind: str) -> str:
    return "an" if kind[:1].lower() in "aeiou" else "a"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address]] | None:
    """The IPv4 addresses an IPv6 address carries, with the embedding's name; None if none."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", [address.ipv4_mapped]
    if address.sixtofour is not None:
        return "6to4", [address.sixtofour]
    if address.teredo is not None:
        server, client = address.teredo  # ipaddress undoes the client's obfuscation
        return "Teredo", [server, client]
    if address in _NAT64:
        return "NAT64", [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return "IPv4-compatible", [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return None


def _parse_address(address: object) -> IPAddress | None:
    if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return address
    text = str(address).strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def address_kind(address: object) -> str | None:
    """Why ``address`` is not a public one ('loopback', 'private', ...), or None when it is public.

    ``address`` is an :mod:`ipaddress` object or its text (brackets and a zone id are ignored);
    text that is not an IP address raises :class:`UnsafeConnectionError`. IPv6 embeddings of IPv4
    are judged as the IPv4 they carry, e.g. '6to4 embedding of a private address'.
    """
    parsed = _parse_address(address)
    if parsed is None:
        raise UnsafeConnectionError(f"{address!r} is not an IP address")
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed in _NAT64_LOCAL:
            return "local-use NAT64 (64:ff9b:1::/48)"
        if parsed.is_unspecified:
            return "unspecified"
        if parsed.is_loopback:
            return "loopback"
        embedded = _embedded_ipv4(parsed)
        if embedded is not None:
            name, carried = embedded
            for inner in carried:
                kind = address_kind(inner)
                if kind is not None:
                    return f"{name} embedding of {_article(kind)} {kind} address"
            return None
    if parsed.is_unspecified:
        return "unspecified"
    if parsed.is_multicast:
        return "multicast"
    if parsed.is_loopback:
        return "loopback"
    if parsed.is_link_local:
        return "link-local"
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.is_site_local:
        return "site-local"
    for name, block in _NAMED_BLOCKS:
        if parsed.version == block.version and parsed in block:
            return name
    if parsed.is_private:
        return "private"
    if parsed.is_reserved:
        return "reserved"
    if not parsed.is_global:
        return "non-global"
    return None


def check_port(port: object, *, purpose: str) -> int:
    """``port`` as an int in 1..65535, or :class:`UnsafeConnectionError` naming it."""
    if isinstance(port, bool):
        raise UnsafeConnectionError(f"{purpose} port {port!r} is not a port number; use 1-65535")
    try:
        number = int(str(port).strip()) if not isinstance(port, int) else port
    except ValueError:
        raise UnsafeConnectionError(f"{purpose} port {port!r} is not a port number; use 1-65535") from None
    if not 1 <= number <= 65535:
        raise UnsafeConnectionError(f"{purpose} port {number} is outside 1-65535")
    return number


def url_port(netloc: str, *, purpose: str) -> int | None:
    """The port written in a URL's ``netloc`` (``user@host:port``), checked; None when absent.

    ``urllib.parse`` refuses some out-of-range ports with a bare ValueError and accepts 0; this
    reads the text itself so every bad port gets the same message.
    """
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        _, _, rest = hostport.partition("]")
        text = rest[1:] if rest.startswith(":") else None
    else:
        text = hostport.rpartition(":")[2] if ":" in hostport else None
    if text is None or text == "":
        return None
    return check_port(text, purpose=purpose)


@dataclass(frozen=True)
class _Rule:
    host: str | None = None
    suffix: str | None = None
    network: IPNetwork | None = None


def _entries(allowed: Iterable[str]) -> list[str]:
    """Allow-list entries; a single string may hold several, separated by commas or spaces."""
    if isinstance(allowed, str):
        return [part for part in allowed.replace(",", " ").split() if part]
    return [str(entry) for entry in allowed]


def _parse_allowed(allowed: list[str]) -> list[_Rule]:
    rules = []
    for entry in allowed:
        text = str(entry).strip().lower()
        if not text:
            continue
        try:
            rules.append(_Rule(network=ipaddress.ip_network(text.strip("[]"), strict=False)))
            continue
        except ValueError:
            pass
        if text.startswith("*."):
            rules.append(_Rule(suffix=text[1:]))
        elif text.startswith("."):
            rules.append(_Rule(suffix=text))
        else:
            rules.append(_Rule(host=text.rstrip(".")))
    return rules


def _host_matches(host: str, rules: list[_Rule]) -> bool:
    name = host.lower().rstrip(".")
    return any((rule.host is not None and name == rule.host) or (rule.suffix is not None and name.endswith(rule.suffix))
               for rule in rules)


def _resolve(host: str, port: int, *, purpose: str) -> list[IPAddress]:
    literal = _parse_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SourceUnavailableError(f"{purpose} '{host}' could not be resolved ({exc})") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = _parse_address(info[4][0])
        if address is not None and address not in addresses:
            addresses.append(address)
    if not addresses:
        raise SourceUnavailableError(f"{purpose} '{host}' resolved to no address")
    return addresses


def check_addresses(host: str, addresses: list[IPAddress], *, purpose: str, allow_private: bool = False,
                    allowed: Iterable[str] = ()) -> None:
    """Apply the allow-list and the address classes to the addresses ``host`` resolved to."""
    allowed = _entries(allowed)
    rules = _parse_allowed(allowed)
    networks = [rule.network for rule in rules if rule.network is not None]
    if rules:
        name_ok = _host_matches(host, rules)
        address_ok = bool(addresses) and all(any(a in net for net in networks) for a in addresses)
        if not (name_ok or address_ok):
            raise UnsafeConnectionError(f"{purpose} '{host}' is not on the allowed-hosts list ({', '.join(allowed)})")
    literal = _parse_address(host)
    for address in addresses:
        kind = address_kind(address)
        if kind is None:
            continue
        described = f"{_article(kind)} {kind}" + ("" if kind.endswith(" address") else " address")
        if literal == address:
            subject = f"{purpose} '{host}' is {described}"
        else:
            subject = f"{purpose} '{host}' resolves to {address}, {described}"
        if kind in NEVER_ALLOWED:
            raise UnsafeConnectionError(f"{subject}, which is never a server")
        if allow_private or any(address in net for net in networks):
            continue
        raise UnsafeConnectionError(
            f"{subject}; private, loopback, link-local and other non-public addresses are refused unless "
            "allowed (allow private hosts, or list the address's CIDR block among the allowed hosts)"
        )


def resolve_destination(
    host: str,
    port: int | None,
    *,
    purpose: str,
    default_port: int | None = None,
    allow_private: bool = False,
    allowed: Iterable[str] = (),
) -> Destination:
    """Resolve ``host`` once, check the port and every address, return the address to connect to.

    ``purpose`` names the thing in messages ("database host", "webhook host", "S3 endpoint").

    Raises:
        UnsafeConnectionError: no host or port, a port outside 1..65535, a host off the
            allow-list, or an address the policy refuses.
        SourceUnavailableError: the host name does not resolve.
    """
    name = (host or "").strip()
    if not name:
        raise UnsafeConnectionError(f"{purpose} is missing")
    if port is None:
        port = default_port
    if port is None:
        raise UnsafeConnectionError(f"{purpose} '{name}' has no port")
    number = check_port(port, purpose=purpose)
    bare = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    addresses = _resolve(bare, number, purpose=purpose)
    check_addresses(bare, addresses, purpose=purpose, allow_private=allow_private, allowed=allowed)
    chosen = addresses[0]
    if isinstance(chosen, ipaddress.IPv6Address) and chosen.ipv4_mapped is not None:
        chosen = chosen.ipv4_mapped  # the same host; an IPv4 socket reaches it without dual-stack
    return Destination(host=bare, port=number, address=str(chosen))


__all__ = ["Destination", "NEVER_ALLOWED", "address_kind", "check_addresses", "check_port", "resolve_destination",
           "url_port"]
