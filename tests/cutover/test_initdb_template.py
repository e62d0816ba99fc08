"""The initdb template: made once, copied for each throwaway cluster, used only when it is this user's own."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cutover import initdb_template
from cutover.embedded import embedded_database


@pytest.fixture
def root() -> Iterator[Path]:
    """Where templates are kept for the test (not under tmp_path: the server's user must reach it)."""
    path = Path(tempfile.mkdtemp(prefix="templates-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_template_is_made_once_then_reused_and_carries_no_cluster_s_life(root):
    made = initdb_template.template(root)
    assert made is not None and (made / "PG_VERSION").is_file()
    for leftover in ("postmaster.pid", ".handle_pids.json", "log"):
        assert not (made / leftover).exists(), leftover
    inode = made.stat().st_ino
    assert initdb_template.template(root) == made and made.stat().st_ino == inode  # not made again
    assert [p.name for p in root.iterdir()] == [made.parent.name]  # nothing half made left beside it


def test_a_cluster_copied_from_the_template_serves_and_is_deleted(root, monkeypatch):
    from cutover import embedded

    monkeypatch.setattr(embedded, "scratch_root", lambda: str(root))
    made = initdb_template.template(root)
    assert made is not None
    data_dir = root / "cluster" / "pgdata"
    with embedded_database(data_dir, name="copied", throwaway=True) as url:
        with psycopg.connect(url.libpq()) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("copied",)
            assert conn.execute("SHOW fsync").fetchone() == ("off",)  # set per cluster, as before
        assert (data_dir / "PG_VERSION").read_text() == (made / "PG_VERSION").read_text()
    assert not data_dir.exists()
    assert not (made / "postmaster.pid").exists()  # the template itself never ran


def test_a_template_someone_else_may_write_is_passed_over(root):
    """A directory with the template's name that is not this user's own alone (here: writable by all) is
    neither used nor replaced: clusters are then made by initdb."""
    home = root / f"cutover-pgdata-{os.getuid()}-{initdb_template._build()}"
    (home / "pgdata").mkdir(parents=True)
    (home / "pgdata" / "PG_VERSION").write_text("18\n")
    home.chmod(0o777)
    assert initdb_template.template(root) is None
    assert (home / "pgdata" / "PG_VERSION").read_text() == "18\n"
    assert sorted(p.name for p in root.iterdir()) == [home.name]


def test_another_build_s_template_is_removed_when_this_build_s_is_made(root):
    other = root / f"cutover-pgdata-{os.getuid()}-0123456789ab"
    (other / "pgdata").mkdir(parents=True)
    (other / "pgdata" / "PG_VERSION").write_text("17\n")
    other.chmod(0o755)
    made = initdb_template.template(root)
    assert made is not None and not other.exists()


def test_a_template_thinned_out_since_it_was_made_is_made_again(root):
    """A temporary-directory cleaner may delete old files: a template missing one is not copied."""
    made = initdb_template.template(root)
    assert made is not None
    victim = next(p for p in (made / "base").rglob("*") if p.is_file())
    victim.unlink()
    again = initdb_template.template(root)
    assert again == made and victim.is_file()  # made anew, whole
    (made / "global" / "pg_control").write_bytes(b"short")  # a file changed in size
    assert initdb_template.template(root) == made
    assert (made / "global" / "pg_control").stat().st_size > 5


def test_a_copy_that_fails_leaves_the_cluster_to_initdb(root, monkeypatch):
    """No `cp`, or a disk that filled during the copy: the half copy is removed and initdb makes the
    cluster, which serves as any other."""
    import subprocess

    from cutover import embedded

    monkeypatch.setattr(embedded, "scratch_root", lambda: str(root))
    assert initdb_template.template(root) is not None

    def broken(source, data_dir):
        data_dir.mkdir()
        (data_dir / "PG_VERSION").write_text("18\n")  # a half copy that looks like a data directory
        raise subprocess.CalledProcessError(1, ["cp"], stderr=b"No space left on device")

    monkeypatch.setattr(initdb_template, "copy_template", broken)
    data_dir = root / "cluster" / "pgdata"
    with embedded_database(data_dir, name="made", throwaway=True) as url:
        with psycopg.connect(url.libpq()) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("made",)
    assert not data_dir.exists()
