"""Wakes the projections when the county's log grows (PostgreSQL LISTEN/NOTIFY).

A lost connection must never stall a projection, so waiting always ends after
the poll interval, and a broken connection is simply opened again later.
"""

from __future__ import annotations

import threading
import time

import psycopg
from psycopg import sql

from infrastructure.event_store import notify_channel


class LogListener:
    def __init__(self, url: str, schema: str) -> None:
        self._url = url
        self._channel = notify_channel(schema)
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def wait(self, timeout: float) -> None:
        """Return on news from the log, or after ``timeout`` seconds."""
        with self._lock:
            try:
                conn = self._connection()
                for _ in conn.notifies(timeout=timeout, stop_after=1):
                    break
            except psycopg.Error:
                self._drop()
                time.sleep(timeout)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
            self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()
