"""How `triage serve` is configured: where the rules, pathway and log are, and who may call it.

Tokens are never stored: a token file holds one line per token, `ROLE SHA256HEX [name]`
(`#` starts a comment), and `TRIAGE_SERVE_TOKENS` may hold the same entries as `ROLE:SHA256HEX`
separated by commas or spaces. Make an entry with `triage serve --hash-token`. A presented token
is hashed and compared with every entry in constant time (`hmac.compare_digest`, no early exit),
so neither the time taken nor the stored file reveals a token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from triage.errors import UsageError

TOKENS_VARIABLE = "TRIAGE_SERVE_TOKENS"
SETTINGS_VARIABLE = "TRIAGE_SERVE_SETTINGS"  # how a worker process is told the settings
_HASH = re.compile(r"^[0-9a-f]{64}$")


class Role(StrEnum):
    FRONT_DOOR = "front_door"  # route, decide journey events, record outcomes
    AUDITOR = "auditor"  # verify the log, read logged decisions


@dataclass(frozen=True, slots=True)
class TokenEntry:
    role: Role
    digest: str
    name: str = ""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _entry(role: str, digest: str, name: str, where: str) -> TokenEntry:
    if role not in Role.__members__.values():
        raise UsageError(f"{where}: role {role!r} is not a role; valid values: front_door, auditor")
    if not _HASH.match(digest):
        raise UsageError(f"{where}: a token is given as its SHA-256 (64 hex digits), never itself")
    return TokenEntry(Role(role), digest, name)


def parse_tokens(text: str, source: str) -> tuple[TokenEntry, ...]:
    """Entries of a token file (`ROLE SHA256HEX [name]` lines)."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2:
            raise UsageError(f"{source} line {number}: expected ROLE SHA256HEX [name]")
        entries.append(_entry(parts[0], parts[1], " ".join(parts[2:]), f"{source} line {number}"))
    return tuple(entries)


def tokens_from_environment(value: str) -> tuple[TokenEntry, ...]:
    entries = []
    for item in re.split(r"[,\s]+", value.strip()):
        if item:
            role, _, digest = item.partition(":")
            entries.append(_entry(role, digest, "", TOKENS_VARIABLE))
    return tuple(entries)


def role_of(entries: tuple[TokenEntry, ...], token: str) -> Role | None:
    """The role of a presented token, or None; every entry is compared, each in constant time."""
    presented = hash_token(token)
    found: Role | None = None
    for entry in entries:
        if hmac.compare_digest(presented, entry.digest):
            found = entry.role
    return found


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    """Everything the application needs; plain values, so that worker processes get a copy."""

    rules: str | None = None
    pathway: str | None = None
    log: str | None = None
    engine: str = "durable"
    host: str = "127.0.0.1"
    tokens_file: str | None = None
    max_body: int = 1_048_576  # bytes; a larger body is refused with 413
    keep_detail: bool = False
    cors_origins: tuple[str, ...] = field(default=())  # none by default

    def tokens(self) -> tuple[TokenEntry, ...]:
        entries: tuple[TokenEntry, ...] = ()
        if self.tokens_file is not None:
            path = Path(self.tokens_file)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as error:
                raise UsageError(f"token file {path}: cannot be read ({error.strerror})") from None
            entries += parse_tokens(text, str(path))
        environment = os.environ.get(TOKENS_VARIABLE)
        if environment:
            entries += tokens_from_environment(environment)
        return entries

    def check(self) -> None:
        """Refuse a configuration a council should never run: open to the network, no tokens."""
        if not self.tokens() and not is_loopback(self.host):
            raise UsageError(
                f"refusing to serve on {self.host} without tokens: give --tokens FILE or set "
                f"{TOKENS_VARIABLE} (without tokens only a loopback host is served)"
            )
        if self.max_body < 1:
            raise UsageError("--max-body must be at least 1 byte")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data = json.loads(text)
        data["cors_origins"] = tuple(data.get("cors_origins", ()))
        return cls(**data)
