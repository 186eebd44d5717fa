"""The composition root: builds a county's services from settings. Nothing connects at import."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from application.audit import Audit, LedgerBroken
from application.casebook import Casebook
from application.policies import load_policy_book, load_star_book
from application.ports import Clock
from application.read_model import LogReader
from application.services import CaseServices
from infrastructure.blind_index import (
    BLIND_INDEX_KEY_ID,
    PostgresIdNumberIndex,
    SQLiteIdNumberIndex,
    load_blind_index_key,
)
from infrastructure.clock import SystemClock
from infrastructure.event_store import (
    LEDGER_TABLES,
    create_postgres_schema,
    event_store_env,
    events_table_postgres,
    make_postgres_append_only,
    make_postgres_notify,
    make_sqlite_append_only,
    open_pool,
)
from infrastructure.idempotency import PostgresIdempotencyStore, SQLiteIdempotencyStore
from infrastructure.keystores import PostgresKeyStore, SQLiteKeyStore
from infrastructure.ledger_store import PostgresLedgerStore, SQLiteLedgerStore
from infrastructure.log_listener import LogListener
from infrastructure.log_reader import postgres_log_reader
from infrastructure.read_store import PostgresReadStore, SQLiteReadStore
from infrastructure.settings import Settings
from infrastructure.signing import Signer, write_new_key
from infrastructure.vault import MasterKeyError, Vault, load_master_key, new_master_key_text

log = structlog.get_logger()

# Without news from the log, the projections look again this often (seconds).
POLL_SECONDS = 0.5


@dataclass
class County:
    settings: Settings
    services: CaseServices
    ping: Callable[[], None]
    idempotency: PostgresIdempotencyStore | SQLiteIdempotencyStore
    wait_for_news: Callable[[float], None]
    audit: Audit
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def book(self) -> Casebook:
        return self.services.book

    def close(self) -> None:
        for close in reversed(self.closers):
            close()

    def start_projections(self) -> None:
        """Keep the read models up to date from a thread of this process until closed."""
        projections = self.services.projections
        stop = threading.Event()
        thread = threading.Thread(
            target=projections.run,
            args=(stop, self.wait_for_news),
            kwargs={"poll": POLL_SECONDS},
            name="anju-projections",
            daemon=True,
        )
        projections.in_process = True
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(timeout=10)
            projections.in_process = False

        self.closers.append(halt)

    def start_checkpoints(self, minutes: float) -> None:
        """Every ``minutes``, verify from the last checkpoint and sign the head if it moved.

        Each round reads only what lies above the last checkpoint, so a cut-off
        or rewritten tail is noticed within one round (logged, and
        ``anju_ledger_ok 0`` in /metrics) rather than at the next full verify.
        """
        if minutes <= 0 or self.audit.signer is None:
            return
        stop = threading.Event()

        def sign_while_growing() -> None:
            while not stop.wait(minutes * 60):
                try:
                    self.audit.checkpoint_round()
                except LedgerBroken as error:
                    log.error("ledger_broken", detail=str(error))
                except Exception:  # a lost database must not end the schedule
                    log.exception("checkpoint_failed")

        thread = threading.Thread(target=sign_while_growing, name="anju-checkpoints", daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(timeout=10)

        self.closers.append(halt)

    def start_deadline_watch(self, seconds: float) -> None:
        """Run the deadline watcher every ``seconds`` from a thread until closed."""
        if seconds <= 0:
            return
        stop = threading.Event()
        thread = threading.Thread(
            target=self.services.deadlines.run,
            args=(stop, seconds),
            name="anju-deadlines",
            daemon=True,
        )
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(timeout=30)

        self.closers.append(halt)


def open_county(settings: Settings, clock: Clock | None = None) -> County:
    clock = clock or SystemClock(settings.timezone)
    master_key = master_key_for(settings)
    env = event_store_env(settings)
    if settings.database_url:
        create_postgres_schema(settings.database_url, settings.county)
    book = Casebook(env=env)
    closers: list[Callable[[], None]] = [book.close]
    if settings.database_url:
        events_table = events_table_postgres(book.name)
        for table in (events_table, *LEDGER_TABLES):
            make_postgres_append_only(settings.database_url, settings.county, table)
        make_postgres_notify(settings.database_url, settings.county, events_table)
        pool = open_pool(settings.database_url, settings.database_wait_seconds)
        closers.append(pool.close)
        keys: PostgresKeyStore | SQLiteKeyStore = PostgresKeyStore(pool, settings.county)
        vault = Vault(keys, master_key)
        id_index: PostgresIdNumberIndex | SQLiteIdNumberIndex = PostgresIdNumberIndex(
            pool, settings.county, blind_index_key_for(settings, vault)
        )
        idempotency: PostgresIdempotencyStore | SQLiteIdempotencyStore = PostgresIdempotencyStore(
            pool, settings.county
        )

        read_store: SQLiteReadStore | PostgresReadStore = PostgresReadStore(pool, settings.county)
        listener = LogListener(settings.database_url, settings.county)
        closers.append(listener.close)
        wait_for_news: Callable[[float], None] = listener.wait
        read_log: LogReader | None = postgres_log_reader(pool, settings.county, events_table)
        ledger: PostgresLedgerStore | SQLiteLedgerStore = PostgresLedgerStore(
            pool, settings.county, events_table
        )

        def ping() -> None:
            with pool.connection() as conn:
                conn.execute("SELECT 1")
    else:
        make_sqlite_append_only(env["SQLITE_DBNAME"])
        keys = SQLiteKeyStore(settings.county_dir / "keys.sqlite")
        vault = Vault(keys, master_key)
        id_index = SQLiteIdNumberIndex(
            settings.county_dir / "id_index.sqlite", blind_index_key_for(settings, vault)
        )
        idempotency = SQLiteIdempotencyStore(settings.county_dir / "idempotency.sqlite")
        read_store = SQLiteReadStore(settings.county_dir / "readmodels.sqlite")
        closers.extend([keys.close, id_index.close, idempotency.close, read_store.close])
        wait_for_news = time.sleep
        read_log = None  # the library's recorder reads SQLite fast enough
        ledger = SQLiteLedgerStore(Path(env["SQLITE_DBNAME"]))

        def ping() -> None:
            book.recorder.max_notification_id()

    services = CaseServices.wire(
        book,
        vault,
        clock,
        load_policy_book(read_text(settings.deadline_policy_file)),
        read_store,
        id_index,
        settings.timezone,
        scratch_store=lambda: SQLiteReadStore(":memory:"),
        read_log=read_log,
        stars=load_star_book(read_text(settings.star_criteria_file)),
    )
    closers.append(services.projections.close)
    services.households.copies.append(idempotency)
    audit = Audit(
        book,
        ledger,
        signer_for(settings),
        clock,
        settings.county,
        services.households.history,
    )
    return County(
        settings=settings,
        services=services,
        ping=ping,
        idempotency=idempotency,
        wait_for_news=wait_for_news,
        audit=audit,
        closers=closers,
    )


def read_text(path: Path | None) -> str | None:
    return path.read_text("utf-8") if path is not None else None


def signer_for(settings: Settings) -> Signer | None:
    """The checkpoint signer; demo mode keeps a key file beside the demo data."""
    if settings.signing_key_file:
        return Signer(settings.signing_key_file)
    if not settings.demo:
        return None
    path = settings.data_dir / "demo-signing.key"
    if not path.exists():
        write_new_key(path)
    return Signer(path)


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


def blind_index_key_for(settings: Settings, vault: Vault) -> bytes:
    """The blind-index key: the county's own setting, else a secret kept in the key store.

    Kept there, it is wrapped by the master key like a household's key, so key
    rotation re-wraps it and no deployment needs a second key to start.
    """
    if settings.blind_index_key or settings.blind_index_key_file:
        return load_blind_index_key(settings.blind_index_key, settings.blind_index_key_file)
    return vault.secret(BLIND_INDEX_KEY_ID)
