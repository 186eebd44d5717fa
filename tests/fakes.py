"""Fakes that subclass or satisfy the real ports."""

from __future__ import annotations

from datetime import datetime, timedelta
from threading import Lock
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class SteppingClock:
    """A clock the test moves by hand; each reading advances it by ``step``.

    The step keeps recorded times strictly increasing, as a real clock's are.
    """

    def __init__(self, start: datetime | None = None, step: timedelta = timedelta(milliseconds=1)):
        self._now = start or datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
        self._step = step
        self._lock = Lock()

    def now(self) -> datetime:
        with self._lock:
            self._now += self._step
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment
