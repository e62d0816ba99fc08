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
