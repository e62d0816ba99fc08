"""The supervisor with real processes: restarts with backoff, never stops the others, leaves no process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from cutover.errors import CutoverError
from cutover.runner import Restarts, Service, Supervisor, group_members
from tests.cutover.test_up import free_port

# A server like gunicorn's or uvicorn's: a master that forks a worker into its own process group; both
# answer HTTP (the worker on the port, the master only waits), and SIGTERM takes ``STOP_DELAY`` to obey.
SERVER = textwrap.dedent(
    """
    import http.server, os, signal, sys, time
    port, delay = int(sys.argv[1]), float(sys.argv[2])

    def slow_exit(*_):
        time.sleep(delay)
        os._exit(0)

    signal.signal(signal.SIGTERM, slow_exit)
    if os.fork() == 0:
        class Quiet(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
            def log_message(self, *args):
                pass
        http.server.HTTPServer(("127.0.0.1", port), Quiet).serve_forever()
    while True:
        time.sleep(1)
    """
)


def server(name: str, stop_delay: float = 0.0) -> Service:
    port = free_port()
    argv = [sys.executable, "-c", SERVER, str(port), str(stop_delay)]
    return Service(name, argv, dict(os.environ), f"http://127.0.0.1:{port}/")


def quick() -> Restarts:
    return Restarts(first=0.2, cap=1.0, stable=60.0)


def run_until(supervisor: Supervisor, done, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the supervisor never got there"
        supervisor.step()
        time.sleep(0.05)


def test_restarts_a_dead_server_and_leaves_the_others_alone():
    said: list[str] = []
    app, other = server("app"), server("other")
    with Supervisor([app, other], say=said.append, restarts=quick) as supervisor:
        assert app.process is not None and other.process is not None
        first, others_pid = app.process.pid, other.process.pid
        os.killpg(first, signal.SIGKILL)  # master and worker, as `kill -9 -PGID` does
        run_until(supervisor, lambda: any("app is back" in line for line in said))
        assert app.process.pid != first and app.ready()
        assert other.process.pid == others_pid and other.exit_code() is None
        assert said[0].startswith("app exited unexpectedly (code -9); restarting it in 0.2s")
    assert group_members(app.process.pid) == [] and group_members(others_pid) == []


def test_a_killed_master_leaves_no_orphaned_worker_listening():
    said: list[str] = []
    app = server("app")
    with Supervisor([app], say=said.append, restarts=quick) as supervisor:
        assert app.process is not None
        master = app.process.pid
        (worker,) = psutil.Process(master).children()
        os.kill(master, signal.SIGKILL)  # the worker goes on serving the port, an orphan
        run_until(supervisor, lambda: any("app is back" in line for line in said))
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
        assert app.ready()


def test_backoff_grows_while_the_restart_fails_and_resets_once_stable():
    restarts = Restarts(first=1.0, cap=8.0, stable=60.0)
    assert [restarts.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]

    said: list[str] = []
    broken = Service(
        "broken", [sys.executable, "-c", "import sys; sys.exit(3)"], dict(os.environ), "http://127.0.0.1:9/"
    )
    state_restarts = Restarts(first=0.1, cap=0.4, stable=60.0)
    supervisor = Supervisor([broken], say=said.append, restarts=lambda: state_restarts)
    broken.start()  # as if it had started once: now it dies on every restart
    run_until(supervisor, lambda: len(said) >= 4)
    assert (
        said[0]
        == "broken exited unexpectedly (code 3); restarting it in 0.1s (the other servers keep serving)"
    )
    assert all("exited with code 3 while restarting" in line for line in said[1:4])
    assert state_restarts.attempts >= 4
    supervisor.stop()


def test_a_watchdog_that_gives_up_ends_the_wait():
    class Gone:
        def poll(self, say):
            raise CutoverError("the database is gone")

    app = server("app")
    with Supervisor([app], say=lambda _: None, watchdogs=[Gone()]) as supervisor, pytest.raises(CutoverError):
        supervisor.wait()
    assert app.process is not None and group_members(app.process.pid) == []


SHUTDOWN_SCRIPT = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {repo!r})
    from cutover.errors import CutoverError
    from cutover.runner import Service, Supervisor, Terminated, install_stop_signals

    class GoneWhenMarked:  # the database watchdog's part: it ends the stack without any signal
        def poll(self, say):
            if os.path.exists({marker!r}):
                raise CutoverError("the database is gone")

    services = [Service(f"s{{n}}", [sys.executable, "-c", {server!r}, port, "1.5"], dict(os.environ),
                        f"http://127.0.0.1:{{port}}/") for n, port in enumerate(sys.argv[1:])]
    try:
        with install_stop_signals(), Supervisor(services, say=print, watchdogs=[GoneWhenMarked()]) as supervisor:
            print("groups", *(s.process.pid for s in services), flush=True)
            supervisor.wait()
    except (CutoverError, Terminated, KeyboardInterrupt) as exc:
        print("ended by", type(exc).__name__, flush=True)
    """
)


def test_signals_during_shutdown_do_not_cut_it_short(tmp_path: Path):
    """The stack stops on its own (the database is gone); SIGTERM and SIGINT arriving while it stops (an
    operator, an init system) must not interrupt the stopping half way and leave a server running."""
    marker, out = tmp_path / "gone", tmp_path / "out.txt"
    ports = [str(free_port()) for _ in range(3)]
    script = SHUTDOWN_SCRIPT.format(repo=str(Path(__file__).parents[2]), server=SERVER, marker=str(marker))
    with out.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-c", script, *ports], stdout=sink)
    groups: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while not groups:
            assert time.monotonic() < deadline and proc.poll() is None, out.read_text()
            time.sleep(0.05)
            started = [line for line in out.read_text().splitlines() if line.startswith("groups")]
            groups = [int(pid) for pid in started[0].split()[1:]] if started else []
        marker.touch()
        time.sleep(0.5)  # the stopping has begun: the first server takes 1.5 s to obey SIGTERM
        while proc.poll() is None and time.monotonic() < deadline:
            proc.send_signal(signal.SIGTERM if int(time.monotonic() * 10) % 2 else signal.SIGINT)
            time.sleep(0.1)
        assert proc.poll() is not None, "the shutdown did not finish"
        assert "ended by CutoverError" in out.read_text()
        for pgid in groups:
            assert group_members(pgid) == [], f"group {pgid} survived the shutdown"
    finally:
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=10)


def test_a_port_taken_by_another_process_after_the_check_is_not_taken_for_the_service():
    """The port is free when checked and taken before the service binds it (here: the service never
    binds at all): what answers there is not the service, which is not ready, and is named so."""
    foreign = server("foreign")
    foreign.start()
    try:
        foreign.wait_ready(timeout=20)
        assert foreign.listener() == "this service"
        # The service "binds late": a process that holds no socket, with the foreign server's URL.
        late = Service(
            "modern", [sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ), foreign.url
        )
        late.start()
        try:
            assert late.listener() == "another process"
            assert not late.ready()
            with pytest.raises(
                CutoverError, match="^modern did not start listening at .* another process answers"
            ):
                late.wait_ready(timeout=1)
        finally:
            late.stop(grace=1)
    finally:
        foreign.stop(grace=1)
