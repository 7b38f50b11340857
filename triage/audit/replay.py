"""Replaying logged decisions: faithfully against their own rulebook snapshot, or what-if against
a revised rulebook.

Replay re-routes each record's minimised referral with the rulebook snapshot its fingerprint
names, on the recorded as-of date and engine, and compares the outcome fields of every decision
(everything but the pseudonymised ids and the library version). What-if does the same with
another rulebook and reports, per child, the old and new level and route.

Work is spread over worker processes (`workers`), each with its own engine and its own
connection to the log, opened once per process. The parent only cuts the log into spans
(`Store.spans`: seq ranges, or byte ranges of a JSON Lines file) and sends each as a job of a few
dozen bytes, a few jobs ahead of the workers (never the whole log at once); each worker reads its
span, fetches the rulebook snapshots it needs, and sends back one plain tuple per child. Spawned
workers start with structlog's defaults, which print every event: replay carries the
application's structlog configuration over to them (what can be pickled of it).
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.util
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import structlog
from pydantic_core import from_json

from triage.audit.chain import PATHWAY_SNAPSHOT_KIND, SNAPSHOT_KIND
from triage.audit.outcome import OUTCOME_KIND, OutcomeTally
from triage.audit.replay_report import (
    ROW_FIELDS,
    ChildOutcome,
    JourneyOutcome,
    ReplayReport,
    csv_row,
    render_replay,
)
from triage.audit.stores import Span, Store, open_store
from triage.audit.verify import verify_store
from triage.engine import FrontDoor
from triage.errors import LogError, MoveRefused, ReferralInvalid
from triage.journey import Journeys
from triage.loader import load_rulebook
from triage.pathway import Pathway, PathwayGraph
from triage.referral import Child
from triage.rulebook import Rulebook

# The report and its rendering live in replay_report; they are importable from here as before.
__all__ = ["ROW_FIELDS", "ChildOutcome", "ReplayReport", "csv_row", "render_replay", "replay_log"]

# Fields that identify rather than decide: pseudonymised in the log, so left out of comparison.
IGNORED = frozenset({"decision_id", "referral_id", "child_id", "library_version"})
J = TypeVar("J")
R = TypeVar("R")
DECISION_KIND = "triage_decision"
JOURNEY_KIND = "journey_transition"
CHUNK = 500  # records per span, one job: few enough that the last jobs leave no worker idle long
AHEAD = 2  # jobs queued per worker beyond the one it is working on


@lru_cache(maxsize=16)
def _door(snapshot_body: str | None, rules_dir: str | None, engine: str) -> FrontDoor:
    if rules_dir is not None:
        rulebook = load_rulebook(rules_dir)
    else:
        assert snapshot_body is not None
        rulebook = _snapshot_rulebook(snapshot_body)
    return FrontDoor(rulebook, engine=engine)  # type: ignore[arg-type]


def _snapshot_rulebook(body: str) -> Rulebook:
    """The rulebook a snapshot record holds, refused unless the record is a snapshot whose
    rulebook has the fingerprint the record names (the store found it by a column)."""
    record = json.loads(body)
    if record.get("kind") != SNAPSHOT_KIND:
        raise LogError("replay", "the record found as a rulebook snapshot is not one")
    rulebook = Rulebook.model_validate(record["snapshot"])
    if rulebook.fingerprint != record["rulebook"]["fingerprint"]:
        raise LogError("replay", "a rulebook snapshot does not have the fingerprint it names")
    return rulebook


def _comparable(decision: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in decision.items() if k not in IGNORED}


# A ChildOutcome as a plain tuple, its fields in order: workers send these (a dataclass took
# about 20 times longer to pickle and unpickle), the parent makes the ChildOutcome.
Outcome = tuple[int, str, int | None, str, int | None, str, bool, bool, bool]
# What a job sends: the log's target, a span of it, and the what-if rulebook directory, engine
# and as-of date that override the records' own (None: the record's).
Job = tuple[str, Span, str | None, str | None, str | None]
# What a job returns: how many records of the log it read (of every kind), how many decision
# records it replayed, and their outcomes.
Result = tuple[int, int, list[Outcome], list[JourneyOutcome]]


class _Revised:
    """A what-if `Rulebook` (not a directory): its door and journeys, made once, in process."""

    def __init__(self, rulebook: Rulebook, engine: str | None) -> None:
        self.rulebook = rulebook
        self.engine = engine or "compiled"  # pure Python, and no engine state left behind
        self.door = FrontDoor(rulebook, engine=self.engine)  # type: ignore[arg-type]
        self._journeys: dict[str, Journeys] = {}

    def journeys(self, pathway_body: str) -> Journeys:
        if pathway_body not in self._journeys:
            definition = Pathway.model_validate(json.loads(pathway_body)["snapshot"])
            graph = PathwayGraph(definition, rulebook=self.rulebook)
            self._journeys[pathway_body] = Journeys(self.rulebook, graph, engine=self.engine)  # type: ignore[arg-type]
        return self._journeys[pathway_body]


class _Log:
    """One process's reading of a log: a store connection and the rulebook snapshots fetched
    through it (each at most once)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._snapshots: dict[tuple[str, str], str | None] = {}

    def snapshot(self, fingerprint: str, kind: str = SNAPSHOT_KIND) -> str | None:
        if (fingerprint, kind) not in self._snapshots:
            self._snapshots[(fingerprint, kind)] = self.store.snapshot(fingerprint, kind)
        return self._snapshots[(fingerprint, kind)]

    def needed(self, seq: int, fingerprint: str, kind: str = SNAPSHOT_KIND) -> str:
        body = self.snapshot(fingerprint, kind)
        if body is None:
            what = "rulebook" if kind == SNAPSHOT_KIND else "pathway"
            raise LogError(
                "replay",
                f"record seq {seq} needs {what} snapshot {fingerprint[:12]}, not in the log",
            )
        return body


# In a worker process: its reading of each log it has had jobs from, opened on the first.
_WORKER_LOGS: dict[str, _Log] = {}


def _worker_log(target: str) -> _Log:
    log = _WORKER_LOGS.get(target)
    if log is None:
        log = _WORKER_LOGS[target] = _Log(open_store(target))
        # Closed as the worker exits: multiprocessing runs these finalizers, then ends the
        # process with os._exit (no atexit handlers, no garbage collection), so without this a
        # PostgreSQL server would see each worker's connection dropped, not closed.
        multiprocessing.util.Finalize(None, log.store.close, exitpriority=0)
    return log


def _replay_job(job: Job) -> Result:
    """Runs in a worker: replay one span of the log, read through this worker's connection."""
    target, span, rules_dir, engine_override, as_of_override = job
    return _replay_span(_worker_log(target), span, rules_dir, engine_override, as_of_override)


def _replay_span(
    log: _Log,
    span: Span,
    rules_dir: str | None,
    engine_override: str | None,
    as_of_override: str | None,
    revised: _Revised | None = None,
) -> Result:
    """Replay the decision and journey records of a span (the genesis and the snapshots are not
    decisions: skipped)."""
    whatif = rules_dir is not None or revised is not None
    outcomes: list[Outcome] = []
    journeys: list[JourneyOutcome] = []
    doors: dict[tuple[str, str], FrontDoor] = {}  # looked up once per span, not per record
    # Read whole before any snapshot is fetched: on PostgreSQL that query would end the
    # transaction that holds the span's open cursor. A span is at most CHUNK records.
    rows = [(row.seq, row.kind, row.body) for row in log.store.span_rows(span)]
    for seq, kind, body in rows:
        if kind == JOURNEY_KIND:
            journeys.append(
                _replay_journey(log, seq, body, rules_dir, engine_override, as_of_override, revised)
            )
            continue
        if kind != DECISION_KIND:
            continue
        record = from_json(body)  # pydantic-core's parser: a quarter faster than json's
        fingerprint = record["rulebook"]["fingerprint"]
        engine = engine_override or record["input"]["engine"]
        door = revised.door if revised is not None else doors.get((fingerprint, engine))
        if door is None:
            snapshot = None if rules_dir is not None else log.needed(seq, fingerprint)
            door = _door(snapshot, rules_dir, engine)
            doors[(fingerprint, engine)] = door
        as_of_text = as_of_override or record["input"]["as_of"]
        as_of = None if as_of_text is None else date.fromisoformat(as_of_text)
        try:
            referral = door.validate(record["input"]["referral"])
        except ReferralInvalid as invalid:
            under = "the what-if rulebook" if whatif else "its own rulebook"
            problems = "; ".join(
                f"{p.location}: {p.message}" + ("" if p.value is None else f" (got {p.value!r})")
                for p in invalid.problems
            )
            raise LogError(
                "replay", f"record seq {seq}: its referral is not valid under {under}: {problems}"
            ) from None
        old = record["output"]
        new: list[tuple[int | None, str, tuple[str, ...]]]
        if not whatif:  # faithful: every outcome field of every decision is compared
            decisions = door.route_validated(referral, as_of)
            new = [(d.level, d.route, d.flags) for d in decisions]
            same = [
                _comparable(before)
                == _comparable({**after.model_dump(mode="json"), "engine": before["engine"]})
                for before, after in zip(old, decisions, strict=False)
            ]
        else:  # what-if compares level and route: the decisions need not be built
            new = list(door.outcomes(referral, as_of))
            same = [
                (before["level"], before["route"]) == (level, route)
                for before, (level, route, _) in zip(old, new, strict=False)
            ]
        if len(new) != len(old):
            raise LogError(
                "replay", f"record seq {seq} has {len(old)} decisions but replay made {len(new)}"
            )
        opens = [_open_level(child, door.rulebook) for child in referral.children]
        for before, (level, route, _), identical, open_level in zip(
            old, new, same, opens, strict=True
        ):
            outcomes.append(
                (
                    seq,
                    before["child_id"],
                    before["level"],
                    before["route"],
                    level,
                    route,
                    identical,
                    _above(before["level"], open_level),
                    _above(level, open_level),
                )
            )
    return len(rows), len({outcome[0] for outcome in outcomes}), outcomes, journeys


# What identifies a move rather than decides it: pseudonymised in the log, or the library's.
JOURNEY_IGNORED = frozenset({"transition_id", "event_id", "child_id", "library_version"})


def _replay_journey(
    log: _Log,
    seq: int,
    body: str,
    rules_dir: str | None,
    engine_override: str | None,
    as_of_override: str | None,
    revised: _Revised | None = None,
) -> JourneyOutcome:
    """Decide a logged journey event again, on its rulebook and pathway snapshots (what-if: on
    the revised rulebook, with the same pathway), and compare the moves."""
    record = from_json(body)
    given = record["input"]
    whatif = rules_dir is not None or revised is not None
    rulebook = None if whatif else log.needed(seq, record["rulebook"]["fingerprint"])
    pathway = log.needed(seq, given["pathway"]["fingerprint"], PATHWAY_SNAPSHOT_KIND)
    journeys = (
        revised.journeys(pathway)
        if revised is not None
        else _journeys(rulebook, pathway, rules_dir, engine_override or given["engine"])
    )
    as_of = date.fromisoformat(as_of_override or given["as_of"])
    (before,) = record["output"]
    try:
        after = journeys.decide(given["event"], as_of=as_of).model_dump(mode="json")
    except MoveRefused:
        after = {"kind": "refused", "to_service": before["from_service"]}
    if not whatif:
        same = {k: v for k, v in before.items() if k not in JOURNEY_IGNORED} == {
            k: v for k, v in after.items() if k not in JOURNEY_IGNORED
        }
    else:
        same = (before["kind"], before["to_service"]) == (after["kind"], after["to_service"])
    return seq, same, before["kind"], before["to_service"], after["kind"], after["to_service"]


@lru_cache(maxsize=16)
def _journeys(
    rulebook_body: str | None, pathway_body: str, rules_dir: str | None, engine: str
) -> Journeys:
    rulebook = (
        load_rulebook(rules_dir)
        if rules_dir is not None
        else _snapshot_rulebook(rulebook_body or "")
    )
    definition = Pathway.model_validate(json.loads(pathway_body)["snapshot"])
    graph = PathwayGraph(definition, rulebook=rulebook)
    return Journeys(rulebook, graph, engine=engine)  # type: ignore[arg-type]


def _open_level(child: Child, rulebook: Rulebook) -> int | None:
    """The level of the service a child is open to (its own, or the service's in the rulebook)."""
    involvement = child.open_involvement
    if involvement is None:
        return None
    if involvement.level is not None:
        return involvement.level
    service = rulebook.service_by_id.get(involvement.service)
    return None if service is None else service.level


def _above(level: int | None, open_level: int | None) -> bool:
    """A step-up: decided above the level of the open service (as conditions' `step_up`)."""
    return level is not None and open_level is not None and level > open_level


class _OneLogger:
    """A structlog logger factory that gives the same logger every time (a print logger on
    stdout or stderr pickles; the factory that made it does not)."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger

    def __call__(self, *args: Any) -> Any:
        return self.logger


def _portable_logging() -> dict[str, Any] | None:
    """The application's structlog configuration, as far as it can be sent to a worker (None
    when it configured none: the worker's library loggers then stay silent too)."""
    if not structlog.is_configured():
        return None
    portable: dict[str, Any] = {}
    for key, value in structlog.get_config().items():
        if isinstance(value, structlog.PrintLoggerFactory):
            value = _OneLogger(value())
        try:
            pickle.dumps(value)
        except (pickle.PicklingError, TypeError, AttributeError):
            continue  # stays behind: the worker keeps structlog's default for it
        portable[key] = value
    return portable


def _worker_context() -> multiprocessing.context.BaseContext:
    """How replay starts its workers: never a plain fork (the engine's background threads do not
    survive one). A fork server where the platform has one: a clean, single-threaded process
    that imports triage once, from which each worker forks in milliseconds (a spawned worker
    spent about a second importing); spawn elsewhere."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _start_worker(logging_config: dict[str, Any] | None) -> None:
    if logging_config is not None:
        structlog.configure(**logging_config)


def _in_order(pool: Executor, work: Callable[[J], R], jobs: Iterable[J], ahead: int) -> Iterator[R]:
    """`pool.map(work, jobs)`, but taking jobs only `ahead` beyond those being worked on
    (`map` takes them all at once: the whole log would sit in memory)."""
    pending: deque[Future[R]] = deque()
    try:
        for job in jobs:
            pending.append(pool.submit(work, job))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def replay_log(
    target: str | Path,
    *,
    against: str | Path | Rulebook | None = None,
    workers: int = 1,
    engine: str | None = None,
    as_of: date | None = None,
    progress: Callable[[int], None] | None = None,
    verify: bool = True,
    allow_unanchored_tail: bool = False,
    rows: Callable[[ChildOutcome], None] | None = None,
) -> ReplayReport:
    """Replay every decision record (faithful), or evaluate it under `against` (what-if): a
    rulebook directory, or a `Rulebook` built in code (a copy of a loaded one with a change:
    decided in this process, on `engine` or else the compiled evaluator; `workers` is unused).

    `rows(outcome)` is told of every child as it comes; with it the report keeps no list of
    outcomes (`outcomes` stays empty), so memory stays flat for a log of any size.

    The log is verified first (`verify=False` skips that, for a log just verified) and a log
    that does not verify is refused (`LogError`). The Front Door managers' outcomes are read in
    that pass and reported against the recommendations (`report.manager`); with
    `verify=False` they are not.

    `progress(n)` is told of every `n` records of the log read, of every kind (snapshots and
    journey records are read and skipped), so a bar sized by the log's record count (its head
    seq, or `verify_log`'s count) ends full."""
    store = open_store(target)
    revised = against if isinstance(against, Rulebook) else None
    named = None if against is None else str(against)
    if revised is not None:
        named = f"rulebook {revised.id} {revised.version} (fingerprint {revised.fingerprint[:12]})"
    report = ReplayReport(store.target, against=named, keep_outcomes=rows is None)
    rules_dir = None if against is None or revised is not None else str(against)
    as_of_text = None if as_of is None else as_of.isoformat()
    try:
        if rules_dir is not None:
            # Fail early, with the loader's errors, before any work.
            report.continuum = tuple(route.id for route in load_rulebook(rules_dir).routes)
        elif revised is not None:
            report.continuum = tuple(route.id for route in revised.routes)
        tally = OutcomeTally(whatif=against is not None)
        if verify:
            # A forged record is re-decided as faithfully as a true one: only the chain can
            # tell them apart, so a log that does not verify is not replayed.
            checked = verify_store(
                store,
                allow_unanchored_tail=allow_unanchored_tail,
                visit=(OUTCOME_KIND, tally.collect),
            )
            if not checked.chain_ok:
                raise LogError(
                    store.target,
                    "the log does not verify, so it is not replayed: " + checked.problems()[0],
                )
        # The managers' outcomes are read in the chain check's pass (the parent reads no other
        # record): with verify=False they are not reported.
        report.manager = tally if tally.outcomes else None
        if revised is not None:
            log, whatif = _Log(store), _Revised(revised, engine)
            done = (
                _replay_span(log, s, None, engine, as_of_text, whatif) for s in store.spans(CHUNK)
            )
            return _collect(report, done, progress, rows)
        args = (rules_dir, engine, as_of_text)
        with spread(store, _replay_span, _replay_job, args, workers) as spans:
            return _collect(report, spans, progress, rows)
    finally:
        store.close()


@contextmanager
def spread(
    store: Store,
    here: Callable[..., Any],
    job: Callable[..., Any],
    args: tuple[Any, ...],
    workers: int,
) -> Iterator[Iterator[Any]]:
    """The results of every span of the log, in log order: `here(log, span, *args)` in this
    process for one worker, else `job((target, span, *args))` over `workers` processes that
    each read their own spans (replay and the planning what-if share this)."""
    spans = store.spans(CHUNK)
    if workers <= 1:
        log = _Log(store)
        yield (here(log, span, *args) for span in spans)
        return
    jobs = ((store.target, span, *args) for span in spans)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_worker_context(),
        initializer=_start_worker,
        initargs=(_portable_logging(),),
    ) as pool:
        yield _in_order(pool, job, jobs, ahead=workers * (1 + AHEAD))


def _collect(
    report: ReplayReport,
    results: Iterator[Result],
    progress: Callable[[int], None] | None,
    rows: Callable[[ChildOutcome], None] | None = None,
) -> ReplayReport:
    for read, records, outcomes, journeys in results:
        for journey in journeys:
            report.add_journey(journey)
        for values in outcomes:
            outcome = ChildOutcome(*values)
            report.add(outcome)
            if rows is not None:
                rows(outcome)
        report.records += records
        if progress is not None and read:
            progress(read)
    return report
