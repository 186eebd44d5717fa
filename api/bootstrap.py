"""The composition root: builds a county's services from settings. Nothing connects at import."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from application.casebook import Casebook
from application.policies import load_policy_book
from application.ports import Clock
from application.services import CaseServices
from infrastructure.clock import SystemClock
from infrastructure.event_store import (
    create_postgres_schema,
    event_store_env,
    events_table_postgres,
    make_postgres_append_only,
    make_sqlite_append_only,
)
from infrastructure.idempotency import PostgresIdempotencyStore, SQLiteIdempotencyStore
from infrastructure.keystores import PostgresKeyStore, SQLiteKeyStore
from infrastructure.settings import Settings
from infrastructure.vault import MasterKeyError, Vault, load_master_key, new_master_key_text


@dataclass
class County:
    settings: Settings
    services: CaseServices
    ping: Callable[[], None]
    idempotency: PostgresIdempotencyStore | SQLiteIdempotencyStore
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def book(self) -> Casebook:
        return self.services.book

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def open_county(settings: Settings, clock: Clock | None = None) -> County:
    clock = clock or SystemClock(settings.timezone)
    master_key = master_key_for(settings)
    env = event_store_env(settings)
    if settings.database_url:
        create_postgres_schema(settings.database_url, settings.county)
    book = Casebook(env=env)
    closers: list[Callable[[], None]] = [book.close]
    if settings.database_url:
        make_postgres_append_only(
            settings.database_url, settings.county, events_table_postgres(book.name)
        )
        pool = ConnectionPool(
            settings.database_url,
            min_size=1,
            max_size=4,
            open=True,
            kwargs={"autocommit": True},
        )
        closers.append(pool.close)
        keys: PostgresKeyStore | SQLiteKeyStore = PostgresKeyStore(pool, settings.county)
        idempotency: PostgresIdempotencyStore | SQLiteIdempotencyStore = PostgresIdempotencyStore(
            pool, settings.county
        )

        def ping() -> None:
            with pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
    else:
        make_sqlite_append_only(env["SQLITE_DBNAME"])
        keys = SQLiteKeyStore(settings.county_dir / "keys.sqlite")
        idempotency = SQLiteIdempotencyStore(settings.county_dir / "idempotency.sqlite")
        closers.extend([keys.close, idempotency.close])

        def ping() -> None:
            book.recorder.max_notification_id()

    services = CaseServices.wire(book, Vault(keys, master_key), clock, load_policy_book())
    return County(
        settings=settings, services=services, ping=ping, idempotency=idempotency, closers=closers
    )


def master_key_for(settings: Settings) -> bytes:
    """The master key; demo mode keeps one in a file beside the demo data."""
    if settings.master_key or settings.master_key_file:
        return load_master_key(settings.master_key, settings.master_key_file)
    if not settings.demo:
        raise MasterKeyError(
            "set ANJU_MASTER_KEY or ANJU_MASTER_KEY_FILE (base64 of 32 bytes); "
            "only demo mode (ANJU_DEMO=1) makes one by itself"
        )
    path = settings.data_dir / "demo-master.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(new_master_key_text(), "ascii")
        path.chmod(0o600)
    return load_master_key(None, path)
