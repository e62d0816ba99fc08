"""The legacy server's request limits as one source of truth: the manifest, nginx's buffers and checks, the
njs module in the prefix, gunicorn's command line, and which nginx binaries can run them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from gunicorn.config import Config

from cutover import stack
from cutover.proxy.manifest import ProxySettings
from cutover.proxy.nginx import Nginx, NginxError, find_nginx, njs_module
from cutover.proxy.transport import (
    NJS_FILE,
    NJS_SOURCE,
    below,
    gunicorn_args,
    header_buffers,
    line_threshold,
    njs_threshold,
)

from .test_manifest import demo_text


def test_the_defaults_are_gunicorns_own():
    ours, theirs = ProxySettings(), Config()
    for name in ("limit_request_line", "limit_request_fields", "limit_request_field_size"):
        assert getattr(ours, name) == getattr(theirs, name), name


def test_legacy_service_gives_gunicorn_the_manifests_limits(tmp_path: Path):
    manifest = tmp_path / "routes.toml"
    manifest.write_text(
        demo_text().replace(
            "worker_processes = 2",
            "worker_processes = 2\nlimit_request_line = 8000\nlimit_request_fields = 40\n"
            "limit_request_field_size = 4096",
        )
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "legacy_django.settings"}
    argv = stack.legacy_service(stack.StackConfig(manifest=manifest), env).argv
    # gunicorn's own parser reads them back: the option names are gunicorn's
    options = Config().parser().parse_args(list(argv[argv.index("gunicorn") + 1 :]))
    assert (options.limit_request_line, options.limit_request_fields, options.limit_request_field_size) == (
        8000,
        40,
        4096,
    )
    missing = stack.legacy_service(stack.StackConfig(manifest=tmp_path / "none.toml"), env).argv
    assert " ".join(gunicorn_args(ProxySettings())) in " ".join(missing)
    # gunicorn 27's per-user control socket is not opened (every stack would take it from the one before)
    import gunicorn

    assert int(gunicorn.__version__.split(".")[0]) >= 27 and "--no-control-socket" in argv
    assert options.control_socket_disable is True


def test_nginx_buffers_hold_the_largest_head_gunicorn_accepts():
    # each buffer holds two of the longest lines: the most fields, plus room for the request line
    assert header_buffers(ProxySettings()) == (54, 16)
    assert header_buffers(ProxySettings(limit_request_line=8190, limit_request_field_size=1024)) == (54, 16)
    assert header_buffers(ProxySettings(limit_request_fields=16, limit_request_field_size=65536)) == (12, 128)
    for proxy in (ProxySettings(), ProxySettings(limit_request_fields=33, limit_request_field_size=5000)):
        number, size_kib = header_buffers(proxy)
        longest = max(proxy.limit_request_line + 2, proxy.limit_request_field_size)
        assert size_kib * 1024 >= 2 * longest
        assert 2 * (number - 1) >= proxy.limit_request_fields + 1


def test_the_request_line_threshold_counts_the_forwarded_version():
    # "$request_method $request_uri" of 4085 bytes is a forwarded line of 4094 ("GET /x HTTP/1.1")
    assert line_threshold(ProxySettings()) == 4086
    # a limit of 16: "GET /xy HTTP/1.1" passes, "GET /xyz HTTP/1.1" does not
    assert line_threshold(ProxySettings(limit_request_line=16)) == len("GET /xyz")


def test_the_njs_check_is_skipped_only_for_heads_too_short_to_break_a_limit():
    # 96 client fields of 3 bytes ("a:" and LF) plus the 5 nginx adds are 101: such a head is 288 bytes
    assert njs_threshold(ProxySettings(), 5) == 3 * 95
    assert njs_threshold(ProxySettings(limit_request_fields=5000, limit_request_field_size=1000), 5) == 872
    assert njs_threshold(ProxySettings(limit_request_fields=16), 20) == 0


@pytest.mark.parametrize("n", [0, 1, 7, 10, 11, 99, 100, 101, 285, 1000, 8062, 10_000, 31_337])
def test_below_matches_exactly_the_smaller_numbers(n):
    pattern = re.compile(below(n))
    for k in range(0, 2 * n + 20):
        assert bool(pattern.match(str(k))) == (k < n), (n, k)
    assert not pattern.match(f"{n}0") and not pattern.match("")


def test_prepare_writes_the_njs_module_the_configuration_imports(tmp_path: Path):
    nginx = Nginx(tmp_path / "nginx")
    nginx.prepare()
    module = tmp_path / "nginx" / "njs" / NJS_FILE
    assert module.read_text() == NJS_SOURCE
    module.write_text("// edited by hand")
    nginx.prepare()
    assert module.read_text() == NJS_SOURCE


def fake_nginx(tmp_path: Path, configure: str) -> Path:
    binary = tmp_path / "nginx"
    binary.write_text(f"#!/bin/sh\necho 'nginx version: nginx/1.26.0' >&2\necho '{configure}' >&2\n")
    binary.chmod(0o755)
    return binary


def test_the_wheel_nginx_has_njs_compiled_in(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert njs_module(find_nginx()) == ""


def test_a_dynamic_njs_is_loaded_on_the_command_line(tmp_path: Path):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "ngx_http_js_module.so").write_bytes(b"")
    binary = fake_nginx(tmp_path, f"configure arguments: --prefix=/usr/share/nginx --modules-path={modules}")
    argv = Nginx(tmp_path / "prefix", binary=binary).argv()
    assert f"load_module {modules / 'ngx_http_js_module.so'};" in argv[argv.index("-g") + 1]


def test_an_nginx_without_njs_is_refused_in_one_line(tmp_path: Path):
    binary = fake_nginx(tmp_path, "configure arguments: --prefix=/usr/share/nginx --with-http_ssl_module")
    with pytest.raises(NginxError) as exc:
        Nginx(tmp_path / "prefix", binary=binary).argv()
    assert str(exc.value).startswith(f"{binary} has no njs (ngx_http_js_module)")
    assert "\n" not in str(exc.value)
