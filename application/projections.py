"""The projection engine: folds the log into every read model, batch by batch.

Each batch of events changes a model's rows and its tracking position in one
transaction, so a crash never loses or double-counts an event. A position is
only ever compared, never waited for, so gaps in the log cannot stall it.
Several runners (the server's thread, ``anju projections run``) may work on one
county: the loser of a race on a batch writes nothing and reads on.

A rebuild fills a new generation of a model's tables from position 0 beside
the live one; the runner switches to it once it has caught up with the log.

An event a model cannot fold (an older version may have recorded anything: a
NUL in a text, an integer beyond 64 bits, a field missing) is quarantined: its
position and the error's type are recorded with the batch, never its content,
and the model folds the rest. Readiness and metrics report it; a rebuild with
code that can fold it clears it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from application.casebook import Casebook
from application.errors import ApplicationError, NotYetConsistent
from application.read_model import (
    Entry,
    Fact,
    LogReader,
    ReadModel,
    ReadStore,
    Row,
    Rows,
    RowsRefused,
    Tracking,
    from_micros,
)
from domain.errors import InvalidCommand

log = logging.getLogger("anju.projections")

BATCH_SIZE = 10000
AS_OF_MARGIN_US = 60_000_000
# Rows kept between batches (so the next batch need not read them back), at most.
REMEMBERED_ROWS = 300_000
Progress = Callable[[int, int], None]
# Readers waiting at once for a position not yet folded; more are told to come back.
WAITING_READERS = 4


class Unfoldable(Exception):
    """An event of the batch cannot be folded: the batch is folded event by event."""


class TooManyWaiting(NotYetConsistent):
    """Every waiting place is taken: answered at once (503, Retry-After), holding no worker."""

    def __init__(self) -> None:
        ApplicationError.__init__(
            self, "too many reads are waiting for the read models; try again shortly"
        )


@dataclass(frozen=True)
class ModelStatus:
    model: str
    generation: int
    live: bool
    position: int
    events_processed: int
    lag_events: int
    lag_seconds: float


class Projections:
    """Every read model of one county, over one store."""

    def __init__(
        self,
        book: Casebook,
        store: ReadStore,
        models: Sequence[ReadModel],
        batch_size: int = BATCH_SIZE,
        until: int | None = None,
        read_log: LogReader | None = None,
    ) -> None:
        self.book = book
        self.read_log = read_log or library_reader(book)
        self.store = store
        self.models = {model.name: model for model in models}
        self.batch_size = batch_size
        # As of a past moment: only events recorded by then (microseconds since the epoch).
        self.until = until
        self._past_until = False
        self._lock = threading.Lock()
        self._wanted: dict[str, bool] = {}  # topic -> whether any model folds it
        # While one batch is folded and written, the next is read.
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="anju-log-reader")
        self._ahead: tuple[int, Future[Sequence[Entry]]] | None = None
        # Per (model, generation): the rows of the last batch written, and its position.
        self._rows: dict[tuple[str, int], tuple[int, dict[str, dict[str, Row]]]] = {}
        self.in_process = False
        self._waiting = threading.BoundedSemaphore(WAITING_READERS)

    def close(self) -> None:
        """Stop the read-ahead thread."""
        self._reader.shutdown(wait=True, cancel_futures=True)

    def prepare(self) -> None:
        """Tables for every model; tables of an older layout are rebuilt first."""
        for model in self.models.values():
            self.store.prepare(model)
        stale = [
            name
            for name, model in self.models.items()
            for tracking in self.store.tracking(model)
            if tracking.live and tracking.layout != self.store.layout(model)
        ]
        if stale:
            log.warning("projections: rebuilding %s, built to an older layout", ", ".join(stale))
            self.rebuild(stale)

    # -- running ------------------------------------------------------------------

    def catch_up(self, progress: Progress | None = None) -> int:
        """Process the log up to its head; the lowest live position reached."""
        with self._lock:
            while self._step(progress):
                pass
        return self.position()

    def run(self, stop: threading.Event, wait: Callable[[float], None], poll: float = 1.0) -> None:
        """Catch up, then wait for news (or ``poll`` seconds), until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.catch_up()
            except Exception:  # a store that is down now may be back at the next look
                self._ahead = None
                log.exception("projections: catching up failed; trying again in %s s", poll)
            wait(poll)

    def _step(self, progress: Progress | None) -> bool:
        """One batch for every generation of every model; whether anything moved."""
        targets = [
            (model, tracking)
            for model in self.models.values()
            for tracking in self.store.tracking(model)
        ]
        start = min(tracking.position for _, tracking in targets)
        notifications = [] if self._past_until else self._read(start)
        if not notifications:
            self._switch_caught_up(targets)
            return False
        head = int(notifications[-1][0])
        if len(notifications) == self.batch_size:
            self._read_ahead(head)
        wanted = self._wanted
        for topic in {entry[1] for entry in notifications} - wanted.keys():
            wanted[topic] = any(model.wants(topic) for model in self.models.values())
        read = Fact.read
        facts = [read(*entry) for entry in notifications if wanted[entry[1]]]
        if self.until is not None:
            facts = self._recorded_by_until(facts)
        for model, tracking in targets:
            if tracking.position < head:
                self._apply(model, tracking, facts, head, notifications)
        if progress is not None:
            progress(head, self.book.recorder.max_notification_id() or head)
        return True

    def _recorded_by_until(self, facts: list[Fact]) -> list[Fact]:
        """The facts recorded by ``until``; notes when the log has clearly moved past it."""
        until = self.until
        assert until is not None
        moments = [(fact, recorded_at(fact)) for fact in facts]
        # An event without a readable time is kept: its model quarantines it.
        kept = [fact for fact, moment in moments if moment is None or moment <= until]
        # Commits can land a few milliseconds out of timestamp order; a minute is ample.
        if any(moment is not None and moment > until + AS_OF_MARGIN_US for _, moment in moments):
            self._past_until = True
        return kept

    def _read(self, start: int) -> Sequence[Entry]:
        """The batch after ``start``: read ahead while the last one was folded, if it was."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == start:
            return ahead[1].result()
        return self._select(start)

    def _read_ahead(self, start: int) -> None:
        self._ahead = (start, self._reader.submit(self._select, start))

    def _select(self, start: int) -> Sequence[Entry]:
        return self.read_log(start, self.batch_size)

    def _apply(
        self,
        model: ReadModel,
        tracking: Tracking,
        facts: list[Fact],
        head: int,
        batch: Sequence[Entry],
    ) -> None:
        after = tracking.position
        mine = [f for f in facts if f.position > after and model.wants(f.topic)]
        passed = len(batch) if batch[0][0] > after else sum(1 for e in batch if e[0] > after)
        try:
            rows = self._fold(model, tracking, mine)
            if self.store.commit(model, tracking.generation, after, head, passed, rows):
                self._remember(model, tracking.generation, head, rows)
            return
        except (Unfoldable, RowsRefused):
            pass  # some event of the batch cannot be folded: find it and fold the rest
        rows, quarantine = self._fold_each(model, tracking, mine)
        try:
            self.store.commit(model, tracking.generation, after, head, passed, rows, quarantine)
        except RowsRefused:  # the store refused what no check foresaw: one commit per event
            self._commit_each(model, tracking, mine, head, batch)

    def _fold(self, model: ReadModel, tracking: Tracking, mine: list[Fact]) -> Rows:
        """The batch folded at once; ``Unfoldable`` if any event cannot be."""
        wanted: dict[str, set[str]] = {table.name: set() for table in model.tables}
        try:
            for fact in mine:
                if fact.error is not None:
                    raise Unfoldable(fact.error)
                for table, key in model.needs(fact):
                    wanted[table].add(key)
        except Unfoldable:
            raise
        except Exception as error:
            raise Unfoldable(type(error).__name__) from error
        rows = Rows(self._fetch(model, tracking, holdable(wanted)))
        try:
            for fact in mine:
                model.apply(fact, rows)
        except Exception as error:
            raise Unfoldable(type(error).__name__) from error
        if rows.refusal(model.tables) is not None:
            raise Unfoldable("refused")
        return rows

    def _fold_each(
        self, model: ReadModel, tracking: Tracking, mine: list[Fact]
    ) -> tuple[Rows, list[tuple[int, str]]]:
        """The batch folded event by event: the rows of those that fold, and the others."""
        wanted: dict[str, set[str]] = {table.name: set() for table in model.tables}
        needs: dict[int, str | None] = {}
        for fact in mine:
            needs[fact.position] = fact.error
            if fact.error is None:
                try:
                    for table, key in model.needs(fact):
                        wanted[table].add(key)
                except Exception as error:
                    needs[fact.position] = type(error).__name__
        self._rows.pop((model.name, tracking.generation), None)
        rows = Rows(self.store.fetch(model, tracking.generation, holdable(wanted)))
        quarantine: list[tuple[int, str]] = []
        for fact in mine:
            reason = needs[fact.position] or fold_into(model, fact, rows)
            if reason is not None:
                quarantine.append((fact.position, reason))
                log.warning(
                    "projections: %s quarantined the event at position %s (%s)",
                    model.name,
                    fact.position,
                    reason,
                )
        return rows, quarantine

    def _commit_each(
        self,
        model: ReadModel,
        tracking: Tracking,
        mine: list[Fact],
        head: int,
        batch: Sequence[Entry],
    ) -> None:
        """One event per transaction, fetching afresh: slow, and only for a batch the
        store refused after every check passed."""
        generation, at = tracking.generation, tracking.position
        for fact in mine:
            rows, quarantine = self._fold_each(
                model, Tracking(model.name, generation, at, 0, True), [fact]
            )
            passed = sum(1 for entry in batch if at < entry[0] <= fact.position)
            try:
                moved = self.store.commit(
                    model, generation, at, fact.position, passed, rows, quarantine
                )
            except RowsRefused as refused:
                empty = Rows.empty(model.tables)
                quarantine = [(fact.position, refused.reason)]
                moved = self.store.commit(
                    model, generation, at, fact.position, passed, empty, quarantine
                )
            if not moved:
                return  # another runner is folding this batch
            at = fact.position
        passed = sum(1 for entry in batch if entry[0] > at)
        self.store.commit(model, generation, at, head, passed, Rows.empty(model.tables))

    def _fetch(
        self, model: ReadModel, tracking: Tracking, wanted: dict[str, set[str]]
    ) -> dict[str, dict[str, Row]]:
        """The rows a batch needs: from the last batch's rows when still current, else the store.

        The rows this runner wrote at a position are the stored rows for as long as
        the tracking position is still that one: any other runner's batch moves it.
        """
        key = (model.name, tracking.generation)
        remembered = self._rows.pop(key, None)
        if remembered is None or remembered[0] != tracking.position:
            return self.store.fetch(model, tracking.generation, wanted)
        known = remembered[1]
        missing = {table: keys - known[table].keys() for table, keys in wanted.items()}
        for table, rows in self.store.fetch(model, tracking.generation, missing).items():
            known[table].update(rows)
        return known

    def _remember(self, model: ReadModel, generation: int, position: int, rows: Rows) -> None:
        seen = rows.seen()
        if sum(len(table) for table in seen.values()) <= REMEMBERED_ROWS:
            self._rows[(model.name, generation)] = (position, seen)

    def _switch_caught_up(self, targets: list[tuple[ReadModel, Tracking]]) -> None:
        for model, tracking in targets:
            if not tracking.live:
                self.store.switch(model, tracking.generation)

    # -- rebuilding ---------------------------------------------------------------

    def rebuild(self, names: Sequence[str] | None = None, progress: Progress | None = None) -> None:
        """Fresh tables from position 0 for the named models (all by default), then switch."""
        for name in names or list(self.models):
            self.store.begin_rebuild(self.models[name])
        self.catch_up(progress)

    # -- consistency --------------------------------------------------------------

    def position(self) -> int:
        """The lowest position any live read model has reached."""
        live = [
            tracking.position
            for model in self.models.values()
            for tracking in self.store.tracking(model)
            if tracking.live
        ]
        return min(live, default=0)

    def wait_for(self, position: int, seconds: float = 10.0) -> int:
        """Return once every live read model has processed ``position``; 503 after ``seconds``.

        Only a few readers wait at once (each holds a worker thread while it
        does); any more are answered 503 at once, so waiting readers never
        starve the others.
        """
        reached = self.position()
        if reached >= position:
            return reached
        if not self._waiting.acquire(blocking=False):
            raise TooManyWaiting()
        try:
            return self._wait(position, seconds)
        finally:
            self._waiting.release()

    def _wait(self, position: int, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        while True:
            reached = self._nudge() if self.in_process else self.position()
            if reached >= position:
                return reached
            if time.monotonic() > deadline:
                raise NotYetConsistent(position, seconds)
            time.sleep(0.02)

    def _nudge(self) -> int:
        """Catch up in this thread unless another is already at it (never wait for it)."""
        if self._lock.acquire(timeout=0.02):
            try:
                while self._step(None):
                    pass
            finally:
                self._lock.release()
        return self.position()

    def settle(self, position: int | None, patience: float = 2.0) -> int:
        """Before a list or report: wait for ``position`` if asked, else briefly for the head.

        A position beyond the log's head names nothing: 422 at once. Without
        ``consistent_with`` a read waits up to ``patience`` seconds for what the
        log already holds (if a waiting place is free), then answers from the
        read model as it is.
        """
        if position is not None:
            if position > self.head():
                raise InvalidCommand(
                    "consistent_with is beyond the log's head", field="consistent_with"
                )
            return self.wait_for(position)
        try:
            return self.wait_for(self.head(), patience)
        except NotYetConsistent:
            return self.position()

    def head(self) -> int:
        return int(self.book.recorder.max_notification_id() or 0)

    # -- status -------------------------------------------------------------------

    def status(self, now: datetime) -> list[ModelStatus]:
        head = self.head()
        return [
            ModelStatus(
                model=model.name,
                generation=tracking.generation,
                live=tracking.live,
                position=tracking.position,
                events_processed=tracking.events,
                lag_events=max(0, head - tracking.position),
                lag_seconds=self._lag_seconds(tracking.position, now),
            )
            for model in self.models.values()
            for tracking in self.store.tracking(model)
        ]

    def _lag_seconds(self, position: int, now: datetime) -> float:
        """How long the oldest event not yet processed has been waiting."""
        waiting = self.read_log(position, 1)
        if not waiting:
            return 0.0
        recorded = recorded_at(Fact.read(*waiting[0]))
        try:
            waited = now - from_micros(recorded) if recorded is not None else None
        except OverflowError:  # a recorded time beyond the calendar
            waited = None
        return 0.0 if waited is None else max(0.0, round(waited.total_seconds(), 3))

    def quarantined(self) -> dict[str, int]:
        """Per read model, how many events its live generation could not fold."""
        return {name: len(self.store.quarantined(model)) for name, model in self.models.items()}


def fold_into(model: ReadModel, fact: Fact, rows: Rows) -> str | None:
    """Fold one event into ``rows``; why it could not be (nothing then changes), or ``None``."""
    trial = rows.trial()
    try:
        model.apply(fact, trial)
    except Exception as error:  # the event, not the store: an older version wrote it
        return type(error).__name__
    refusal = trial.refusal(model.tables)
    if refusal is None:
        trial.keep()
    return refusal


def holdable(wanted: dict[str, set[str]]) -> dict[str, set[str]]:
    """The keys a store can hold: a row under any other key cannot exist."""
    return {
        table: {key for key in keys if type(key) is str and "\x00" not in key}
        for table, keys in wanted.items()
    }


def recorded_at(fact: Fact) -> int | None:
    """When the event was recorded, or ``None`` when it does not say legibly."""
    try:
        return fact.recorded
    except Exception:
        return None


def library_reader(book: Casebook) -> LogReader:
    """The log through the library's recorder (any store it supports)."""

    def read(after: int, limit: int) -> Sequence[Entry]:
        found = book.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        return [(n.id, n.topic, n.originator_id, n.originator_version, n.state) for n in found]

    return read
