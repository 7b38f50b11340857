"""The JSON Lines store: an append-only file and a `<file>.head` beside it.

A line is `{"seq":N,"prev_hash":H,"hash":H,"kind":K,"fingerprint":F,"record":BODY}` and must
be exactly that rendering of its values: a byte added, removed or changed outside the hashed
values makes the record fail `verify`. Writers hold an exclusive `flock` on the file while they
append and move the head; `view` takes a shared one just long enough to read the head and the
file's size, then reads the lines up to that size (the file only grows).
"""

from __future__ import annotations

import fcntl
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from triage.audit.chain import GENESIS, SNAPSHOT_KIND, SNAPSHOT_KINDS, Genesis
from triage.audit.stores._base import (
    HIGHEST,
    LOWEST,
    Check,
    Pending,
    Row,
    Span,
    TornTail,
    View,
    batch_of,
    chain_batch,
    check_span_size,
    first_record_genesis,
    placed,
    snapshot_fingerprint,
)
from triage.errors import LogError

_RECORD = ',"record":'
_BLOCK = 1 << 20  # bytes read at a time when scanning a file


def _line(seq: int, prev: str, digest: str, kind: str, fingerprint: str | None, body: str) -> str:
    return (
        f'{{"seq":{seq},"prev_hash":"{prev}","hash":"{digest}","kind":{json.dumps(kind)},'
        f'"fingerprint":{json.dumps(fingerprint)}{_RECORD}{body}}}\n'
    )


def _parse_line(line: str, position: int) -> Row:
    """A stored line (ending `}\\n`); a line not in the stored shape gets seq -1."""
    try:
        cut = line.index(_RECORD)
        head = json.loads(line[:cut] + "}")
        seq, prev, digest = int(head["seq"]), str(head["prev_hash"]), str(head["hash"])
        kind, fingerprint = str(head["kind"]), head["fingerprint"]
        if fingerprint is not None and not isinstance(fingerprint, str):
            raise TypeError(fingerprint)
    except (ValueError, KeyError, TypeError):
        return Row(-1, "", "", "", None, line, position, exact=False)
    body = line[cut + len(_RECORD) : -2]
    exact = _line(seq, prev, digest, kind, fingerprint, body) == line
    return Row(seq, prev, digest, kind, fingerprint, body, position, exact)


def _read_lines(lines: Iterable[str]) -> Iterator[Row]:
    for position, line in enumerate(lines, start=1):
        if not line.endswith("\n"):
            return  # a torn tail: reported by the view, never read as a record
        yield _parse_line(line, position)


def _last_newline(handle: BinaryIO, end: int) -> int:
    """The offset just after the last newline before `end` (0 if none): scanned backwards in
    blocks, so that a line of any length is found whole."""
    stop = end
    while stop > 0:
        start = max(0, stop - _BLOCK)
        handle.seek(start)
        block = handle.read(stop - start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        stop = start
    return 0


def _torn(handle: BinaryIO, size: int) -> TornTail | None:
    if size == 0:
        return None
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return None
    complete = _last_newline(handle, size)
    return TornTail(complete, size - complete)


class JsonLinesStore:
    """An append-only file; each batch is flushed and fsynced; `<file>.head` holds the head."""

    crash_leaves_unanchored = True

    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = path
        self.target = str(path)
        self.head_path = path.with_name(path.name + ".head")
        if path.is_dir():
            raise LogError(self.target, "this is a directory, not a log file")
        if not create and not path.is_file():
            raise LogError(self.target, "there is no log here")
        if create and not path.parent.is_dir():
            raise LogError(self.target, "its folder does not exist")
        self._fingerprints: set[str] | None = None
        self._genesis: Genesis | None = None

    def _last(self, handle: BinaryIO) -> tuple[int, str]:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return 0, GENESIS
        if _torn(handle, size) is not None:
            raise LogError(
                self.target,
                "the last line is incomplete (a write was cut short); "
                "run `triage verify` and move the torn bytes aside before appending",
            )
        start = _last_newline(handle, size - 1)
        handle.seek(start)
        row = _parse_line(handle.read(size - start).decode("utf-8", errors="replace"), 0)
        if row.seq < 1 or not row.exact:
            raise LogError(self.target, "the last line is not a record; run `triage verify`")
        return row.seq, row.hash

    def _known(self) -> set[str]:
        if self._fingerprints is None:
            self._fingerprints = {
                row.fingerprint
                for row in self.rows()
                if row.kind in SNAPSHOT_KINDS and row.fingerprint is not None
            }
        return self._fingerprints

    def genesis(self) -> Genesis | None:
        if self._genesis is None and self.path.exists():
            with self.path.open("rb") as handle:
                first = handle.readline()
            if first.endswith(b"\n"):
                row = _parse_line(first.decode("utf-8", errors="replace"), 1)
                self._genesis = first_record_genesis(self.target, row)
            elif first:
                raise LogError(self.target, "its first line is incomplete")
        return self._genesis

    def append(
        self,
        pending: Sequence[Pending],
        snapshots: Sequence[Pending] = (),
        genesis: Pending | None = None,
        check: Check | None = None,
    ) -> list[tuple[int, str]]:
        known = self._known() if snapshots else set()
        with self.path.open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                last = self._last(handle)
                if check is not None:
                    check(last[0])
                stored = None if last[0] == 0 else self.genesis()
                new = [s for s in snapshots if s.fingerprint not in known]
                log_id, batch = batch_of(self.target, stored, pending, new, genesis)
                chained = chain_batch(log_id, last, batch)
                text = "".join(
                    _line(s, p, h, item.kind, snapshot_fingerprint(item), item.body)
                    for s, p, h, item in chained
                )
                head = (chained[-1][0], chained[-1][2]) if chained else None
                self._write(handle, text.encode(), head)
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        known.update(s.fingerprint for s in snapshots if s.fingerprint)
        return placed(chained, pending)

    def _write(self, handle: BinaryIO, data: bytes, head: tuple[int, str] | None) -> None:
        """All of the batch and the new head, or nothing: on a failure (a full disk) the file
        is cut back to where the batch began."""
        start = handle.seek(0, os.SEEK_END)
        try:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            if head is not None:
                self._write_head(*head)
        except OSError as error:
            handle.truncate(start)
            os.fsync(handle.fileno())
            reason = error.strerror or type(error).__name__
            raise LogError(
                self.target, f"could not write ({reason}); nothing of this batch was kept"
            ) from None

    def _write_head(self, seq: int, digest: str) -> None:
        temporary = self.head_path.with_name(self.head_path.name + ".tmp")
        temporary.write_text(json.dumps({"seq": seq, "hash": digest}), encoding="utf-8")
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        temporary.replace(self.head_path)

    def rows(self, first: int | None = None, last: int | None = None) -> Iterator[Row]:
        if not self.path.exists():
            return
        # Bytes that are not UTF-8 read as U+FFFD: a torn tail cut inside a character is then
        # reported as a torn tail, and a stored line with such bytes fails its hash (altered).
        with self.path.open("r", encoding="utf-8", errors="replace", newline="\n") as handle:
            if first is None and last is None:
                yield from _read_lines(handle)
                return
            # The file's order is not checked here (verify does that), so a range is read by
            # filtering every line; replay reads spans instead, which a seek finds.
            low, high = LOWEST if first is None else first, HIGHEST if last is None else last
            position = 0
            for row in _read_lines(handle):
                if low <= row.seq <= high:
                    position += 1
                    yield row._replace(position=position)

    @contextmanager
    def view(self) -> Iterator[View]:
        with self.path.open("rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            try:
                head = self.head()
                size = os.fstat(handle.fileno()).st_size
                torn = _torn(handle, size)
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        end = size if torn is None else torn.offset
        with self.path.open("rb") as handle:
            limited = io.BufferedReader(_Limited(handle, end), _BLOCK)
            lines = io.TextIOWrapper(limited, encoding="utf-8", errors="replace", newline="\n")
            yield View(head, _read_lines(lines), torn)

    def spans(self, size: int) -> Iterator[Span]:
        """Spans of `size` lines, found by counting newlines (no line is parsed), up to the last
        complete line of the file as it is now (a torn tail is in none, as in `rows`)."""
        check_span_size(size)
        return self._spans(size) if self.path.exists() else iter(())

    def _spans(self, size: int) -> Iterator[Span]:
        end = self.path.stat().st_size
        start = offset = complete = 0  # the span's start, the block's, the last line's end
        lines = 0  # complete lines since `start`
        while offset < end:
            # Opened per block: no file stays open while the caller holds this generator.
            with self.path.open("rb") as handle:
                handle.seek(offset)
                block = handle.read(min(_BLOCK, end - offset))
            if not block:
                break  # the file shrank
            count = block.count(b"\n")
            at = 0
            while lines + count >= size:  # a span ends inside this block
                for _ in range(size - lines):
                    at = block.index(b"\n", at) + 1
                count -= size - lines
                yield Span(start, offset + at)
                start, lines = offset + at, 0
            if count:
                complete = offset + block.rindex(b"\n") + 1
            lines += count
            offset += len(block)
        if lines:
            yield Span(start, complete)

    def span_rows(self, span: Span) -> Iterator[Row]:
        with self.path.open("rb") as handle:
            handle.seek(span.start)
            text = handle.read(span.stop - span.start).decode("utf-8", errors="replace")
        yield from _read_lines(io.StringIO(text, newline="\n"))

    def head(self) -> tuple[int, str] | None:
        if not self.head_path.exists():
            return None
        try:
            data = json.loads(self.head_path.read_text(encoding="utf-8", errors="replace"))
            head = int(data["seq"]), str(data["hash"])
        except (ValueError, KeyError, TypeError, OSError):
            raise LogError(
                str(self.head_path), "the head file is not a head (edited or corrupt)"
            ) from None
        if isinstance(data["seq"], bool) or not isinstance(data["seq"], int):
            raise LogError(str(self.head_path), "the head file is not a head (edited or corrupt)")
        return head

    def snapshot(self, fingerprint: str, kind: str = SNAPSHOT_KIND) -> str | None:
        for row in self.rows():
            if row.kind == kind and row.fingerprint == fingerprint:
                return row.body
        return None

    def close(self) -> None:
        return None


class _Limited(io.RawIOBase):
    """The first `end` bytes of a file: what the view saw when it took its lock."""

    def __init__(self, handle: BinaryIO, end: int) -> None:
        self._handle = handle
        self._left = end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), self._left)]
        count = self._handle.readinto(view)  # type: ignore[attr-defined]
        self._left -= count
        return int(count)
