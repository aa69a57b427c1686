"""API keys: who may call the HTTP API, and for which tenants.

Keys come from MUNI_CRAWL_API_KEYS (comma-separated) and/or a keys file (one per line, `#`
comments). `key` may call every tenant; `key=tenant1|tenant2` only those. Only each key's
SHA-256 digest is kept, and a presented key is compared with every known digest in constant
time, so neither the comparison's timing nor a memory dump gives a key away. No message here
ever contains a key: errors name the entry (its position) instead.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from muni_crawl.errors import ConfigError
from muni_crawl.serve.errors import AuthenticationError, PermissionDeniedError

ENV_VARIABLE = "MUNI_CRAWL_API_KEYS"
MIN_KEY_CHARS = 16  # a shorter key can be guessed; `openssl rand -hex 24` makes a good one
_KEY_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/")


@dataclass(frozen=True)
class KeyEntry:
    """One key, as its digest, and the tenants it may call (None: every tenant)."""

    digest: bytes
    tenants: frozenset[str] | None
    origin: str  # where it was declared ("MUNI_CRAWL_API_KEYS entry 2", "keys.txt line 5")


@dataclass(frozen=True)
class KeyRing:
    """The keys a server accepts. Empty: no authentication (allowed on loopback only)."""

    entries: tuple[KeyEntry, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.entries)

    def authenticate(self, authorization: str | None) -> KeyEntry:
        """The entry of the key in an `Authorization: Bearer <key>` header; 401 otherwise."""
        if not authorization:
            raise AuthenticationError("send an API key: `Authorization: Bearer <key>`")
        scheme, _, key = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthenticationError("the Authorization header must be `Bearer <key>`")
        presented = _digest(key.strip())
        found = None
        for entry in self.entries:  # every entry is compared: the time does not tell which
            if hmac.compare_digest(entry.digest, presented):
                found = entry
        if found is None:
            raise AuthenticationError("unknown API key")
        return found

    def authorize(self, authorization: str | None, tenant: str) -> None:
        """401 without a known key, 403 when the key may not call `tenant`."""
        entry = self.authenticate(authorization)
        if entry.tenants is not None and tenant not in entry.tenants:
            raise PermissionDeniedError(f"this API key may not call tenant {tenant[:100]!r}")


def load_keys(env_value: str, keys_file: Path | None, known_tenants: Iterable[str]) -> KeyRing:
    """The keys of MUNI_CRAWL_API_KEYS and the keys file together; ConfigError naming the
    entry for a malformed one, a tenant that does not exist, or a key given twice."""
    known = set(known_tenants)
    entries: list[KeyEntry] = []
    for n, item in enumerate(env_value.split(","), start=1):
        if item.strip():
            entries.append(_entry(item, f"{ENV_VARIABLE} entry {n}", known))
    if keys_file is not None:
        try:
            lines = keys_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"keys file {keys_file}: cannot read it: {exc}") from exc
        for n, line in enumerate(lines, start=1):
            text = line.split("#", 1)[0].strip()
            if text:
                entries.append(_entry(text, f"keys file {keys_file} line {n}", known))
        if not any(e.origin.startswith("keys file") for e in entries):
            raise ConfigError(f"keys file {keys_file}: holds no key")
    seen: dict[bytes, str] = {}
    for entry in entries:
        if entry.digest in seen:
            raise ConfigError(f"{entry.origin}: the same key as {seen[entry.digest]}")
        seen[entry.digest] = entry.origin
    return KeyRing(tuple(entries))


def _entry(text: str, origin: str, known: set[str]) -> KeyEntry:
    key, scoped, scope = text.strip().partition("=")
    key = key.strip()
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(
            f"{origin}: a key must have at least {MIN_KEY_CHARS} characters"
            f" (this one has {len(key)}); make one with `openssl rand -hex 24`"
        )
    if not set(key) <= _KEY_CHARACTERS:
        raise ConfigError(
            f"{origin}: a key may hold only letters, digits and - _ . ~ + /"
            " (no spaces, commas, quotes or other characters)"
        )
    tenants = None
    if scoped:
        names = [name.strip() for name in scope.split("|")]
        if not all(names):
            raise ConfigError(
                f"{origin}: after `=` list the tenants the key may call, as tenant1|tenant2"
            )
        unknown = sorted(set(names) - known)
        if unknown:
            raise ConfigError(
                f"{origin}: unknown tenant {unknown[0][:100]!r}; known tenants:"
                f" {', '.join(sorted(known)) or '(none)'}"
            )
        tenants = frozenset(names)
    return KeyEntry(_digest(key), tenants, origin)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or name to bind or a client address) is this machine only."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_binding(keys: KeyRing, host: str) -> None:
    """Refuse to serve without keys on anything but a loopback address (ConfigError)."""
    if not keys.enabled and not is_loopback(host):
        raise ConfigError(
            f"no API keys are configured, so `muni-crawl serve` only binds to a loopback address"
            f" (127.0.0.1, ::1 or localhost), not {host!r}: set {ENV_VARIABLE} or pass"
            " --keys-file (see docs/serving.md)"
        )
