"""The one source of "now" for decisions, in the county's local time."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


class SystemClock:
    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self.zone = ZoneInfo(timezone)

    def now(self) -> datetime:
        return datetime.now(self.zone)


class ShiftedClock:
    """Real time, moved to start at a given instant: for drills and replays of a past day."""

    def __init__(self, start: datetime, timezone: str = "Asia/Shanghai") -> None:
        self.zone = ZoneInfo(timezone)
        self.start = start
        self.began = time.monotonic()

    def now(self) -> datetime:
        elapsed = timedelta(seconds=time.monotonic() - self.began)
        return (self.start + elapsed).astimezone(self.zone)
