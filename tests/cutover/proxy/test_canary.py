"""Canaries: a sticky split on the route's sticky key through each real front door (nginx's
``split_clients``; Envoy's Lua, the same hash).

Backends: two tiny real uvicorn servers (``echo_app.py``); the app does not matter here, only which
server answered (checked against ``X-Cutover-Backend``).
"""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from cutover.proxy.apply import move_route

from .conftest import BOTH_DOORS

pytestmark = BOTH_DOORS

KEYS = 2000


def backend_for(client: httpx.Client, path: str, **kwargs) -> str:
    response = client.get(path, **kwargs)
    assert response.status_code == 200
    assert response.headers["x-cutover-backend"] == response.json()["backend"]
    return response.headers["x-cutover-backend"]


def split(front_door, path: str, header: str, keys: list[str]) -> dict[str, str]:
    """Which backend each key lands on (4 client threads, each with its own keep-alive connection)."""

    def run(chunk: list[str]) -> dict[str, str]:
        with front_door.client() as client:
            return {key: backend_for(client, path, headers={header: key}) for key in chunk}

    chunks = [keys[i::4] for i in range(4)]
    result: dict[str, str] = {}
    with ThreadPoolExecutor(4) as pool:
        for part in pool.map(run, chunks):
            result.update(part)
    return result


def share(assignment: dict[str, str]) -> float:
    return 100 * sum(b == "modern" for b in assignment.values()) / len(assignment)


@pytest.mark.parametrize("percent", [10, 50])
def test_share_of_distinct_keys_matches_the_percentage_and_each_key_is_stable(front_door, percent):
    move_route(front_door.manifest, front_door.door, "user-detail", "canary", percent)
    keys = [f"Token {i:040x}" for i in range(KEYS)]
    first = split(front_door, "/api/users/7/", "Authorization", keys)
    assert abs(share(first) - percent) <= 3, share(first)
    again = split(front_door, "/api/users/8/", "Authorization", keys)  # another request, same keys
    assert again == first


def test_raising_the_percentage_only_adds_keys(front_door):
    keys = [f"Token k{i}" for i in range(KEYS)]
    move_route(front_door.manifest, front_door.door, "users-me", "canary", 20)
    at_20 = split(front_door, "/api/users/me/", "Authorization", keys)
    move_route(front_door.manifest, front_door.door, "users-me", "canary", 60)
    at_60 = split(front_door, "/api/users/me/", "Authorization", keys)
    assert abs(share(at_20) - 20) <= 3 and abs(share(at_60) - 60) <= 3
    # nobody who was on modern goes back to legacy when the canary grows
    assert all(at_60[k] == "modern" for k, backend in at_20.items() if backend == "modern")


def test_session_cookie_is_a_sticky_key(front_door):
    text = front_door.manifest.read_text()
    front_door.manifest.write_text(text.replace('sticky = "authorization"', 'sticky = "session"'))
    move_route(front_door.manifest, front_door.door, "users", "canary", 50)
    sessions = [f"s{i:032x}" for i in range(400)]
    seen: dict[str, set[str]] = {}
    with front_door.client() as client:
        for _ in range(3):
            for sid in sessions:
                client.cookies.set("sessionid", sid)
                seen.setdefault(sid, set()).add(backend_for(client, "/api/users/"))
    assert all(len(backends) == 1 for backends in seen.values())
    assert 0.35 < sum(b == {"modern"} for b in seen.values()) / len(sessions) < 0.65


def backend_from(address: str, port: int, path: str) -> str:
    """One anonymous GET from the source ``address`` (a bare HTTP request over a socket)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(address, 0)) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())  # 1.0: not chunked
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    headers = dict(line.decode().lower().split(": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
    assert head.split(b" ", 2)[1] == b"200", head
    assert json.loads(body)["backend"] == headers["x-cutover-backend"]
    return headers["x-cutover-backend"]


def test_client_address_is_a_sticky_key_and_the_fallback_for_anonymous_requests(front_door):
    # Loopback has a whole /8: distinct source addresses are distinct clients.
    move_route(front_door.manifest, front_door.door, "user-detail", "canary", 50)
    addresses = [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(400)]
    seen: dict[str, set[str]] = {}
    for _ in range(2):
        for address in addresses:  # no Authorization header: the client address is the key
            seen.setdefault(address, set()).add(backend_from(address, front_door.port, "/api/users/3/"))
    assert all(len(backends) == 1 for backends in seen.values())
    on_modern = sum(b == {"modern"} for b in seen.values())
    assert 0.35 * len(addresses) < on_modern < 0.65 * len(addresses)
