"""The embedded PostgreSQL: a real server that never outlives its command."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import psycopg


def servers_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if str(data_dir) in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_embedded_server_serves_and_stops(tmp_path):
    from cutover.embedded import embedded_database

    data_dir = tmp_path / "pg"
    with embedded_database(data_dir, name="lifecycle") as url:
        assert url.name == "lifecycle"
        with psycopg.connect(url.libpq()) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("lifecycle",)
        assert servers_using(data_dir), "the server should be running inside the context"
    assert servers_using(data_dir) == []
    assert (data_dir / "PG_VERSION").exists(), "persistent mode keeps the data"


def test_data_survives_a_restart(tmp_path):
    from cutover.embedded import embedded_database

    data_dir = tmp_path / "pg"
    with embedded_database(data_dir) as url, psycopg.connect(url.libpq(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
    with embedded_database(data_dir) as url, psycopg.connect(url.libpq()) as conn:
        assert conn.execute("SELECT n FROM kept").fetchone() == (42,)


def test_throwaway_cluster_is_deleted(tmp_path):
    from cutover.embedded import embedded_database

    data_dir = tmp_path / "pg"
    with embedded_database(data_dir, throwaway=True):
        pass
    assert not data_dir.exists()
    assert servers_using(data_dir) == []


def test_no_server_survives_a_crashing_process(tmp_path):
    data_dir = tmp_path / "pg"
    script = textwrap.dedent(
        f"""
        from cutover.embedded import embedded_database
        with embedded_database({str(data_dir)!r}):
            raise SystemExit(3)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == 3
    assert servers_using(data_dir) == []


def test_an_exited_process_not_yet_reaped_counts_as_stopped():
    """A stopped postmaster is an orphan its init may reap late: a zombie is stopped, not running."""
    from cutover.embedded import _exited

    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        zombie = psutil.Process(exited.pid)
        assert _exited(zombie, 10.0)
        assert zombie.status() == psutil.STATUS_ZOMBIE  # still there: nobody reaped it meanwhile
        assert not _exited(psutil.Process(running.pid), 0.05)
    finally:
        running.kill()
        running.wait()
        exited.wait()


def test_a_throwaway_cluster_goes_to_a_ram_disk_with_room(monkeypatch, tmp_path):
    """/dev/shm (here a stand-in directory) when it has room and TMPDIR is unset; else tempfile's own."""
    from cutover import embedded

    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(embedded, "RAM_DISK", tmp_path)
    monkeypatch.setattr(embedded, "RAM_DISK_ROOM", 1 << 20)
    assert embedded.scratch_root() == str(tmp_path)
    monkeypatch.setattr(embedded, "RAM_DISK_ROOM", 1 << 62)  # more than any disk has free
    assert embedded.scratch_root() is None
    monkeypatch.setattr(embedded, "RAM_DISK_ROOM", 1 << 20)
    monkeypatch.setattr(embedded, "RAM_DISK", tmp_path / "absent")
    assert embedded.scratch_root() is None
    monkeypatch.setattr(embedded, "RAM_DISK", tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "chosen"))
    assert embedded.scratch_root() is None, "an explicit TMPDIR is the user's choice"


def test_the_parity_cluster_lives_in_the_scratch_root_and_keeps_its_wal_small(monkeypatch):
    """The wiring: the parity session's throwaway cluster is made where scratch_root says, with the WAL
    bound that keeps it from filling a RAM disk, and is gone afterwards."""
    import shutil
    import tempfile

    from cutover import embedded
    from cutover.parity.shards import parity_database

    ram = Path(tempfile.mkdtemp(prefix="ramdisk-"))
    try:
        monkeypatch.delenv("TMPDIR", raising=False)
        monkeypatch.setattr(embedded, "RAM_DISK", ram)
        monkeypatch.setattr(embedded, "RAM_DISK_ROOM", 1 << 20)
        with parity_database() as url, psycopg.connect(url.libpq()) as conn:
            data_dir = Path(conn.execute("SHOW data_directory").fetchone()[0])
            assert data_dir.is_relative_to(ram)
            assert conn.execute("SHOW max_wal_size").fetchone() == ("256MB",)
        assert list(ram.glob("cutover-parity-pg-*")) == []  # the initdb template alone stays
    finally:
        shutil.rmtree(ram, ignore_errors=True)
