"""/readyz tells whether the event store answers."""

import uuid
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from infrastructure.settings import Settings
from infrastructure.vault import new_master_key_text
from tests.e2e.conftest import running


def test_readyz_answers_503_once_the_postgres_store_is_gone(postgres_url: str, tmp_path: Path):
    name = f"anju_ready_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    settings = Settings(
        data_dir=tmp_path,
        database_url=url,
        county="ready",
        master_key=new_master_key_text(),
        blind_index_key=new_master_key_text(),
    )
    with running(settings) as (url_of_server, _), httpx.Client(base_url=url_of_server) as client:
        assert client.get("/readyz").status_code == 200
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))

        answer = client.get("/readyz")

        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert client.get("/healthz").status_code == 200
