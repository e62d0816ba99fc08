"""The targets are built from the stack's own service definitions, on free ports, with equal workers."""

from __future__ import annotations

import dataclasses
import tomllib

from cutover import stack
from cutover.bench.targets import ALL_TARGETS, Target, _through_nginx, benchmarked_routes, build_targets
from cutover.config import load_config

ENV = {"DATABASE_URL": "postgresql://u@127.0.0.1/bench"}


def test_legacy_and_floor_use_the_stack_command_lines_at_equal_workers(tmp_path):
    servers = build_targets(["legacy", "floor"], ENV, tmp_path, workers=3, threads=5)
    legacy, floor = servers.targets["legacy"], servers.targets["floor"]
    config = stack.StackConfig(legacy_workers=3, legacy_threads=5, app_access_logs=False)
    expected = stack.legacy_service(config, ENV).argv
    # The same command as `cutover up`, only on another port and without the console access log.
    assert "--access-logfile" not in legacy.services[0].argv
    assert [a for a in legacy.services[0].argv if "127.0.0.1" not in a] == [
        a for a in expected if "127.0.0.1" not in a
    ]
    argv = floor.services[0].argv
    assert argv[argv.index("--workers") + 1] == "3"
    assert {"uvloop", "httptools", "bench_demo.floor:app"} <= set(argv)  # the config's [bench] floor
    ports = {t.base_url.rsplit(":", 1)[1] for t in servers.targets.values()}
    assert len(ports) == 2 and not ports & {"8000", "8001", "8002"}


def test_the_benchmarked_app_servers_keep_no_console_access_log(tmp_path):
    # As behind nginx in production: the front door's JSON access log is the record (cutover.stack).
    servers = build_targets(["legacy", "modern"], ENV, tmp_path, workers=2, threads=4)
    assert "--access-logfile" not in servers.targets["legacy"].services[0].argv
    assert "--no-access-log" in servers.targets["modern"].services[0].argv
    # `cutover up` keeps both on the console.
    dev = stack.StackConfig()
    assert "--access-logfile" in stack.legacy_service(dev, ENV).argv
    assert "--no-access-log" not in stack.modern_service(dev, ENV).argv


def test_a_target_missing_from_the_stack_is_marked_not_faked(tmp_path, monkeypatch):
    monkeypatch.delattr(stack, "modern_service", raising=False)
    servers = build_targets(["modern", "modern+nginx"], ENV, tmp_path, workers=2, threads=4)
    assert servers.services == []
    assert "no modern_service" in (servers.targets["modern"].missing or "")
    assert "upstream modern is missing" in (servers.targets["modern+nginx"].missing or "")


def test_nginx_targets_route_the_users_api_to_their_upstream(tmp_path):
    servers = build_targets(["legacy+nginx"], ENV, tmp_path, workers=2, threads=4)
    target = servers.targets["legacy+nginx"]
    assert target.nginx is not None and target.nginx in servers.services
    assert target.services == servers.targets.get("legacy", target).services
    manifest = tomllib.loads((tmp_path / "legacy-nginx.toml").read_text())
    assert {r["id"]: r["mode"] for r in manifest["routes"]}["user-detail"] == "legacy"


def test_without_a_floor_in_the_config_the_floor_is_missing_not_started(tmp_path):
    project = dataclasses.replace(load_config(), bench=dataclasses.replace(load_config().bench, floor=None))
    servers = build_targets(["floor"], ENV, tmp_path, workers=2, threads=4, project=project)
    assert servers.services == []
    assert "no [bench] floor" in (servers.targets["floor"].missing or "")


DEMO_REQUESTS = [("GET", "/api/users/7/"), ("GET", "/api/users/?page=2&search=x"), ("POST", "/api/users/")]


def test_the_benchmarked_routes_are_the_ones_the_front_door_sends_the_scenarios_to():
    manifest = load_config().proxy.manifest
    assert benchmarked_routes(manifest.read_text(), str(manifest), DEMO_REQUESTS) == ["user-detail", "users"]
    assert benchmarked_routes(manifest.read_text(), str(manifest), [("GET", "/nowhere")]) == []


def test_the_modern_nginx_target_moves_exactly_the_benchmarked_routes(tmp_path):
    upstream = Target("modern", "http://127.0.0.1:1", [])
    config = stack.StackConfig(manifest=load_config().proxy.manifest)
    target = _through_nginx("modern+nginx", "modern", upstream, config, ENV, tmp_path, DEMO_REQUESTS)
    assert target.missing is None and target.nginx is not None
    modes = {
        r["id"]: r["mode"] for r in tomllib.loads((tmp_path / "modern-nginx.toml").read_text())["routes"]
    }
    assert modes.pop("users") == modes.pop("user-detail") == "modern"
    assert set(modes.values()) == {"legacy"}  # admin, static, token, me: untouched


def test_a_modern_nginx_target_that_would_move_nothing_is_missing(tmp_path):
    upstream = Target("modern", "http://127.0.0.1:1", [])
    config = stack.StackConfig(manifest=load_config().proxy.manifest)
    target = _through_nginx("modern+nginx", "modern", upstream, config, ENV, tmp_path, [("GET", "/x")])
    assert target.nginx is None and "no route of" in (target.missing or "")


def test_every_target_has_a_name_the_report_knows():
    assert ALL_TARGETS == ("legacy", "modern", "legacy+nginx", "modern+nginx", "modern+nginx+shadow", "floor")
