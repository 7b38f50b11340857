"""Lines (e) to (g): verify a large log, replay and what-if with one and two worker processes."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

from benchmarks.lines import Line, line, timed
from benchmarks.routing import ENGINE_FAULTS
from triage.audit import open_store, replay_log, verify_log
from triage.audit.chain import GENESIS_KIND
from triage.audit.record import RecordKind
from triage.audit.stores import Pending
from triage.loader import bundled_rules_dir

NATIONAL_TEN_YEARS = 6_500_000  # England: about 650,000 referrals a year
WHAT_IF_RULE = "- id: accumulated_level_2_needs"
WHAT_IF_OLD, WHAT_IF_NEW = "concerns: {level: 2, min: 3}", "concerns: {level: 2, min: 2}"
DISTINCT_BODIES = 20_000  # how many real record bodies the large log repeats
START_UP_RECORDS = 500  # the one-chunk log that measures the workers' start-up

ENGINE = "compiled"  # replay and what-if: the bulk evaluator


def build_large_log(source: Path, target: Path, records: int, batch: int = 50_000) -> float:
    """A log of `records` decision records (plus its rulebook snapshot) for (e).

    The bodies are real: the first record bodies of the (d) log, written by the durable
    evaluator through `DecisionLog`, repeated in turn. They go through the store's own `append`
    in large batches, so the store numbers them and computes every hash of a valid chain, and
    verify does all of its work. Returns the seconds it took."""
    source_store = open_store(f"sqlite:///{source}")
    try:
        bodies: list[str] = []
        snapshot: Pending | None = None
        genesis: Pending | None = None
        for row in source_store.rows():
            if row.kind == GENESIS_KIND:
                genesis = Pending(GENESIS_KIND, row.body)  # the same log id: a valid chain
            elif row.kind == RecordKind.RULEBOOK_SNAPSHOT:
                fingerprint = json.loads(row.body)["rulebook"]["fingerprint"]
                snapshot = Pending(RecordKind.RULEBOOK_SNAPSHOT.value, row.body, fingerprint)
            elif len(bodies) < DISTINCT_BODIES:
                bodies.append(row.body)
    finally:
        source_store.close()
    if not bodies:
        raise RuntimeError(f"{source} holds no decision record to repeat")
    store = open_store(f"sqlite:///{target}", create=True)
    cycle = itertools.cycle(bodies)
    kind = RecordKind.TRIAGE_DECISION.value

    def work() -> int:
        written = 0
        while written < records:
            size = min(batch, records - written)
            snapshots = () if snapshot is None else (snapshot,)
            store.append([Pending(kind, next(cycle)) for _ in range(size)], snapshots, genesis)
            written += size
        return written

    try:
        _, seconds = timed(work)
    finally:
        store.close()
    return seconds


def verify(target: Path) -> Line:
    """(e) `verify_log`: every hash recomputed, every link and the head checked."""
    result: list[bool] = []

    def work() -> int:
        report = verify_log(f"sqlite:///{target}")
        result.append(report.ok)
        return report.records

    count, seconds = timed(work)
    if not result[0]:
        raise RuntimeError(f"the benchmark log {target} did not verify")
    label = f"(e) verify_log of a {count:,}-record SQLite log"
    return line("e_verify", label, count, seconds, "records/s")


def what_if_rules(directory: Path, source: Path | None = None) -> Path:
    """A copy of the Kent rulebook (or `source`, a Kent edition) with one threshold lowered:
    three level-2 needs -> two."""
    target = directory / "kent-what-if"
    shutil.copytree(bundled_rules_dir() if source is None else source, target)
    rules = target / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    at = text.index(WHAT_IF_RULE)
    cut = text.index(WHAT_IF_OLD, at)
    rules.write_text(text[:cut] + WHAT_IF_NEW + text[cut + len(WHAT_IF_OLD) :], encoding="utf-8")
    return target


def replay(log: Path, workers: int, against: Path | None) -> Line:
    """(f) faithful replay or (g) what-if of the (d) log, on the compiled evaluator (the one
    meant for bulk work)."""
    changed: list[int] = []

    def work() -> int:
        report = replay_log(f"sqlite:///{log}", against=against, workers=workers, engine=ENGINE)
        changed.append(report.different)
        return report.records

    count, seconds = timed(work)
    if against is None and changed[0] > ENGINE_FAULTS[0]:
        raise RuntimeError(f"faithful replay found {changed[0]} different decision(s)")
    if against is not None and not changed[0] and count > 1000:
        raise RuntimeError("the what-if rulebook changed no decision: the edit did not apply")
    kind = "f_replay" if against is None else "g_what_if"
    what = "(f) replay" if against is None else "(g) what-if"
    plural = "s" if workers > 1 else ""
    label = f"{what}, {ENGINE} evaluator, {workers} worker{plural}"
    return line(f"{kind}_{workers}w", label, count, seconds, "records/s")


def projection(two_workers: Line, start_up: Line) -> Line:
    """The ten-year national what-if (6.5 million records) with two workers.

    A run costs a fixed start-up (spawning the workers, importing, loading the rulebook) plus a
    cost per record. `start_up` is the same what-if of a log of one small chunk: the two runs
    give both, and the projection is the start-up plus 6.5 million records at the per-record
    rate. (Dividing 6.5 million by the measured rate would charge the start-up once per
    `--n` records.) The line's rate is that per-record rate."""
    extra = two_workers.count - start_up.count
    seconds = two_workers.seconds - start_up.seconds
    if extra > 0 and seconds > 0:
        per_record = extra / seconds
        fixed = max(0.0, start_up.seconds - start_up.count / per_record)
    else:  # sizes too small to tell them apart (the smoke run)
        per_record, fixed = two_workers.rate, 0.0
    minutes = (fixed + NATIONAL_TEN_YEARS / per_record) / 60 if per_record else float("inf")
    projected = Line(
        "g_national_projection",
        "(g) projected: 6.5M-record national what-if, 2 workers",
        per_record,
        "records/s",
        two_workers.count,
        two_workers.seconds,
        value=minutes,
        value_unit="min",
    )
    projected.achieved = f"{fixed:.1f} s start-up + {per_record:,.0f} records/s"
    return projected
