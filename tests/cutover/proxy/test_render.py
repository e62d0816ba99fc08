"""The rendered nginx configuration, checked by the real `nginx -t` in every mode."""

from __future__ import annotations

import json
import re

import pytest

from cutover.proxy.apply import check_rendered
from cutover.proxy.live import LiveError
from cutover.proxy.manifest import parse_manifest, set_route_mode
from cutover.proxy.nginx import NginxError
from cutover.proxy.render import render
from cutover.proxy.transport import NJS_SOURCE

from .test_manifest import demo_text

MODES = [("legacy", None), ("canary", 10), ("canary", 75), ("modern", None)]


@pytest.mark.parametrize(("mode", "percent"), MODES)
def test_nginx_accepts_the_demo_in_every_mode(mode, percent):
    text = demo_text()
    for route_id in ("auth-token", "users", "users-me", "user-detail"):
        text = set_route_mode(text, route_id, mode, percent, source="routes.toml")
    check_rendered(render(parse_manifest(text), listen="127.0.0.1:18999"))


def test_mixed_modes_and_sticky_keys_render_each_routes_state_and_one_key_per_sticky_kind():
    text = demo_text()
    # the demo's sticky keys: auth-token by client address, the others by Authorization header
    for route_id, percent in [("auth-token", 10), ("users", 10), ("users-me", 30)]:
        text = set_route_mode(text, route_id, "canary", percent, source="r")
    text = set_route_mode(text, "user-detail", "modern", None, source="r")
    conf = render(parse_manifest(text), revision="rev1")
    check_rendered(conf)
    # no JavaScript per request: nginx's split_clients into 100 buckets per sticky kind, the manifest's
    # state as a map of route and bucket, the live state as a file test in each movable route's location
    assert "js_set $cutover_live_backend" not in conf
    assert conf.count(" split_clients $") == 2 and conf.count("1% 98;\n        * 99;\n") == 2
    rendered = conf.split('map "$cutover_route:$cutover_route_bucket" $cutover_rendered_backend {', 1)[1]
    rendered = rendered.split("}", 1)[0]
    modern = {line.strip().split()[0].strip('"') for line in rendered.splitlines() if "modern" in line}
    assert {f"auth-token:{b}" for b in range(10)} <= modern and "auth-token:10" not in modern
    assert {f"users-me:{b}" for b in range(30)} <= modern and "users-me:30" not in modern
    assert "~^user\\\\-detail:" in modern and len(modern) == 10 + 10 + 30 + 1
    assert '    user-detail "live/rev1/user-detail/$cutover_route_bucket";' in conf
    detail = conf.split('location ~ "^/api/users/[^/]+/$" {', 1)[1].split("\n        }\n", 1)[0]
    assert "if (-f $cutover_live_file.modern)" in detail and "if (-f $cutover_live_file.legacy)" in detail
    admin = conf.split('location ^~ "/admin/" {', 1)[1].split("}", 1)[0]
    assert "cutover_live" not in admin  # a pinned route's location reads no live state
    assert conf.count("$cutover_key_authorization {") == 1 and conf.count("$cutover_key_client {") == 1
    # pinned routes and the default route are static: legacy, no JavaScript
    backend_map = conf.split("map $cutover_route $cutover_backend {", 1)[1].split("}", 1)[0]
    assert "admin" not in backend_map and "static" not in backend_map
    assert "    users $cutover_live_backend;" in backend_map


def test_the_admin_server_listens_on_loopback_only_and_is_not_rendered_without_an_address():
    manifest = parse_manifest(demo_text())
    assert "js_content" not in render(manifest)
    conf = render(manifest, listen="127.0.0.1:18999", admin="127.0.0.1:18998", revision="rev1")
    check_rendered(conf)
    assert "    listen 127.0.0.1:18998;" in conf and "js_content cutover_routing.admin;" in conf
    for address in ("0.0.0.0:18998", "10.1.2.3:18998", "example.com:18998", "[::]:18998"):
        with pytest.raises(LiveError):
            render(manifest, admin=address)


def test_the_configuration_has_what_both_apps_rely_on():
    conf = render(parse_manifest(demo_text()), listen="127.0.0.1:8000")
    for directive in (
        "listen 127.0.0.1:8000;",
        "keepalive 128;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Forwarded-Host $cutover_forwarded_host;",
        "proxy_connect_timeout 2s;",
        "proxy_read_timeout 60s;",
        "proxy_next_upstream error timeout;",
        "add_header X-Cutover-Route $cutover_route always;",
        "add_header X-Cutover-Backend $cutover_served_by always;",
        "access_log logs/access.log cutover_json buffer=32k flush=1s;",
        "pcre_jit on;",
        "server 127.0.0.1:8001 backup;",  # failover to Django
    ):
        assert directive in conf, directive
    assert "non_idempotent" not in conf.replace("(no non_idempotent)", "")
    assert 'location = "/api/users/me/"' in conf
    assert 'location ~ "^/api/users/[^/]+/$"' in conf
    assert 'location ^~ "/admin/"' in conf
    assert 'location = "/admin"' in conf  # no nginx-made 301 for the path without its slash


def test_render_is_deterministic_and_machine_independent():
    manifest = parse_manifest(demo_text())
    first = render(manifest)
    assert first == render(manifest)
    assert "/work/" not in first and "/tmp/" not in first  # paths are relative to the nginx prefix


def test_quotes_and_backslashes_in_a_pattern_reach_nginx_intact():
    text = demo_text().replace('"^/api/users/[^/]+/$"', "'^/api/users/\\d+\\.json$'")
    conf = render(parse_manifest(text))
    assert 'location ~ "^/api/users/\\\\d+\\\\.json$"' in conf  # nginx unescapes \\ back to \
    check_rendered(conf)


def test_nginx_rejection_is_one_line_with_its_reason():
    conf = render(parse_manifest(demo_text())).replace(
        "proxy_http_version 1.1;", "proxy_http_version banana;"
    )
    with pytest.raises(NginxError) as exc:
        check_rendered(conf)
    assert str(exc.value).startswith("nginx rejected the configuration: ")
    assert 'invalid value "banana"' in str(exc.value) and "\n" not in str(exc.value)


LIMITS = "worker_processes = 2\nlimit_request_line = 8190\nlimit_request_fields = 30\nlimit_request_field_size = 12000"


def test_the_request_limits_are_rendered_from_the_manifest():
    conf = render(parse_manifest(demo_text()))
    for directive in (
        "large_client_header_buffers 54 16k;",
        '"~^(?s).{4086}" 414;',  # "$request_method $request_uri" + " HTTP/1.1" longer than 4094
        '"~^[A-Z_-]{3,20} [!-~]+$" "";',
        "js_import cutover_transport from cutover_transport.js;",
        "js_set $cutover_forwarded_fields cutover_transport.forwardedFields;",
        '"~^(?:\\\\d{1,2}|1\\\\d{2}|2[0-7]\\\\d{1}|28[0-4])$" "";',  # heads under 285 bytes skip njs
        '"~*^100-continue$" "";',
        "if ($cutover_request_line = 414) {",
        "if ($cutover_request_line = 400) {",
        "if ($cutover_header_fields) {",
        "if ($cutover_expectation) {",
        "error_page 494 =431 @cutover_header_too_large;",
        '"" nginx;',  # X-Cutover-Backend and served_by say nginx when no app was asked
    ):
        assert directive in conf, directive
    custom = render(parse_manifest(demo_text().replace("worker_processes = 2", LIMITS)))
    assert "large_client_header_buffers 19 24k;" in custom
    assert '"~^(?s).{8182}" 414;' in custom
    assert 'js_var $cutover_header_limits "30 12000";' in custom
    check_rendered(custom)


def test_the_refusals_run_before_any_location_and_in_gunicorns_order():
    conf = render(parse_manifest(demo_text()))
    server = conf[conf.index("    server {") :]
    order = [
        server.index(text)
        for text in (
            "set $cutover_location default;",
            "if ($cutover_request_line = 414)",
            "if ($cutover_request_line = 400)",
            "if ($cutover_header_fields)",
            "if ($cutover_expectation)",
            "\n        location ",
        )
    ]
    assert order == sorted(order)


def test_njs_counts_what_nginx_forwards():
    """Every header the configuration sets or drops is one the njs module never counts from the client, and
    the headers it adds are exactly the ones set with a value, each read from the same variable."""
    conf = render(parse_manifest(demo_text()))
    proxied = dict(re.findall(r"^\s*proxy_set_header (\S+) (\S+);$", conf, re.MULTILINE))
    replaced = json.loads(re.search(r"^const REPLACED = (.*);$", NJS_SOURCE, re.MULTILINE).group(1))
    counted = json.loads(re.search(r"^const SET = (.*);$", NJS_SOURCE, re.MULTILINE).group(1))
    assert {name.lower() for name in proxied} <= set(replaced)
    # nginx's own proxy defaults, whatever the configuration says
    assert {"content-length", "transfer-encoding", "te", "keep-alive", "expect", "upgrade"} <= set(replaced)
    aliases = dict(re.findall(r"^\s*map \$(\S+) \$(\S+) \{ default \$\1; \}$", conf, re.MULTILINE))
    assert [name for name, _ in counted] == [name for name, value in proxied.items() if value != '""']
    for name, variable in counted:
        source = proxied[name].lstrip("$")
        assert variable in (source, aliases.get(source)), name
    assert 'js_var $cutover_header_limits "100 8190";' in conf


def test_scheme_headers_from_the_client_are_dropped():
    conf = render(parse_manifest(demo_text()))
    assert 'proxy_set_header X-Forwarded-Ssl "";' in conf
    assert 'proxy_set_header X-Forwarded-Protocol "";' in conf
