"""The toolkit migrates and seeds only what the project config asks for; a team's own database is left alone."""

from __future__ import annotations

import psycopg
import pytest

from cutover.config import load_config
from cutover.database import provisioned_database
from cutover.dburl import database_url_from_env
from cutover.embedded import ensure_database


@pytest.fixture(autouse=True)
def demo_importable(monkeypatch):
    """The configs below sit in a scratch directory and name the demo's settings, which import from this
    checkout's root (the demo is no installed package), as a team's PYTHONPATH would have it."""
    from pathlib import Path

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[2]))


@pytest.fixture
def empty_database():
    server = database_url_from_env()
    assert server is not None
    url = ensure_database(server, "cutover_untouched")
    with psycopg.connect(url.libpq(), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    return url


def tables(url) -> list[str]:
    with psycopg.connect(url.libpq()) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return sorted(name for (name,) in rows)


def config(tmp_path, text: str):
    (tmp_path / "cutover.toml").write_text('[legacy]\nsettings = "legacy_django.settings"\n' + text)
    return load_config(start=tmp_path, environ={})


def test_an_explicit_database_is_neither_migrated_nor_seeded_unless_the_config_says(tmp_path, empty_database):
    project = config(tmp_path, '[database]\nseed = "seed_demo"\n')
    with provisioned_database(empty_database, tmp_path / "unused", project) as ready:
        assert ready == empty_database
    assert tables(empty_database) == []


def test_migrate_true_migrates_and_seeds_an_explicit_database(tmp_path, empty_database):
    project = config(tmp_path, '[database]\nmigrate = true\nseed = "seed_demo --count 3"\n')
    with provisioned_database(empty_database, tmp_path / "unused", project):
        pass
    assert "users" in tables(empty_database) and "django_migrations" in tables(empty_database)
    with psycopg.connect(empty_database.libpq()) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (4,)  # demo + 3 generated


def test_no_seed_skips_the_seed_command(tmp_path, empty_database):
    project = config(tmp_path, '[database]\nmigrate = true\nseed = "seed_demo --count 3"\n')
    with provisioned_database(empty_database, tmp_path / "unused", project, seed=False):
        pass
    with psycopg.connect(empty_database.libpq()) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
