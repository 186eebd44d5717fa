"""Settings from ``ANJU_*`` environment variables."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

COUNTY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# How long a request waits for a PostgreSQL connection before the API answers 503.
DATABASE_WAIT_SECONDS = 1.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANJU_", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str | None = None
    county: str = "demo"
    # How long a request waits for a PostgreSQL connection before it answers 503
    # (seconds); a database that is down is reported this fast.
    database_wait_seconds: float = Field(default=DATABASE_WAIT_SECONDS, gt=0, le=60)
    timezone: str = "Asia/Shanghai"
    # The master key wraps every household key. Base64 of 32 bytes, or a file holding it.
    master_key: str | None = None
    master_key_file: Path | None = None
    # The key of the blind index that finds a national ID number already registered
    # (HMAC-SHA256); separate from the master key. Base64 of 32 bytes, or a file holding it.
    blind_index_key: str | None = None
    blind_index_key_file: Path | None = None
    # Demo mode makes a master key file (and a blind-index key file) under the data directory when none is given.
    demo: bool = False
    # The Ed25519 key that signs ledger checkpoints (PEM); never kept in the database.
    # Demo mode makes one under the data directory when none is given.
    signing_key_file: Path | None = None
    # How often `anju serve` verifies from the last checkpoint and signs the head if it
    # moved (minutes, fractions allowed; 0: never).
    checkpoint_minutes: float = 1.0
    # Whether `anju serve` keeps the read models up to date in-process (off when
    # `anju projections run` does it in processes of their own).
    projections: bool = True
    # How often `anju serve` runs the deadline watcher (seconds; 0: never, when
    # `anju deadlines run` does it in a process of its own).
    deadline_watch_seconds: float = 60.0
    # Versioned rules other than those shipped (a county's own, or a drill's): JSON files
    # in the shape of application/deadline_policies.json and application/star_criteria.json.
    deadline_policy_file: Path | None = None
    star_criteria_file: Path | None = None

    @field_validator("county")
    @classmethod
    def county_is_an_identifier(cls, value: str) -> str:
        if not COUNTY_PATTERN.match(value):
            raise ValueError(
                "ANJU_COUNTY must be lower-case letters, digits and _ (it names a schema)"
            )
        return value

    @property
    def county_dir(self) -> Path:
        return self.data_dir / self.county

    @property
    def uses_postgres(self) -> bool:
        return bool(self.database_url)
