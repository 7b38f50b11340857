"""A witness: heads of a decision log written to a second, append-only file kept apart from it.

Anyone who can rewrite a log can rewrite its head too (the documented limit of a hash chain).
A witness held elsewhere (another disk, another machine, an auditor's copy) closes that gap: every
head it holds must still be in the chain, with the same hash, so a rewritten or shortened log is
caught as long as the witness is kept apart. One JSON object a line:

    {"at": "2026-03-02T09:30:01+00:00", "hash": "...", "log_id": "...", "seq": 42}
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from triage.errors import LogError


@dataclass(frozen=True, slots=True)
class Witnessed:
    """One head as the witness saw it: the record `seq` of log `log_id` had `hash`."""

    log_id: str
    seq: int
    hash: str
    line: int  # where in the witness file


class Witness:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise LogError(str(self.path), "a witness is a file, not a directory")

    def add(self, log_id: str, seq: int, digest: str) -> None:
        entry = {"at": datetime.now(UTC).isoformat(), "hash": digest, "log_id": log_id, "seq": seq}
        line = (json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode()
        try:
            with self.path.open("ab") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    handle.write(line)
                    handle.flush()
                    os.fsync(handle.fileno())
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        except OSError as error:
            raise LogError(
                str(self.path), f"could not write the witness ({error.strerror})"
            ) from None

    def entries(self) -> Iterator[Witnessed]:
        if not self.path.is_file():
            raise LogError(str(self.path), "there is no witness file here")
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    data = json.loads(raw)
                    seq = data["seq"]
                    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
                        raise TypeError(seq)
                    yield Witnessed(str(data["log_id"]), seq, str(data["hash"]), number)
                except (ValueError, KeyError, TypeError):
                    raise LogError(
                        str(self.path), f"line {number} is not a witness entry"
                    ) from None
