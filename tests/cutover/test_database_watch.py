"""The database watchdog of `cutover up`: through a restart the stack goes on; gone for its grace, it stops."""

from __future__ import annotations

import time

import pytest

from cutover.database import DatabaseWatch
from cutover.dburl import DatabaseURL
from cutover.embedded import embedded_database
from cutover.errors import CutoverError
from tests.cutover.test_up_faults import pg_ctl


def poll_until(watch: DatabaseWatch, said: list[str], text: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in said):
        assert time.monotonic() < deadline, said
        watch.poll(said.append)
        time.sleep(0.05)


def test_a_database_that_never_answers_stops_the_stack_after_its_grace():
    said: list[str] = []
    url = DatabaseURL.parse("postgresql://nobody:secret@127.0.0.1:9/none")
    with DatabaseWatch(url, grace=1.0, interval=0.2) as watch:
        poll_until(watch, said, "the database does not answer")
        with pytest.raises(CutoverError, match=r"the database has not answered for 1s \(") as raised:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                watch.poll(said.append)
                time.sleep(0.05)
    assert "secret" not in str(raised.value) and not any("secret" in line for line in said)


def test_a_restarted_database_is_greeted_back_and_the_stack_goes_on(pg_dir):
    said: list[str] = []
    data_dir = pg_dir
    with embedded_database(data_dir) as url, DatabaseWatch(url, grace=60.0, interval=0.2) as watch:
        watch.poll(said.append)
        assert said == []
        pg_ctl(data_dir, "-m", "fast", "stop")
        poll_until(watch, said, "the database does not answer")
        pg_ctl(data_dir, "-o", "-h ''", "-o", f"-k {url.host}", "start")  # the same socket again
        poll_until(watch, said, "the database answers again")
