"""The manifest ``cutover init`` writes, through real nginx: it passes ``nginx -t``, and a sample request
for every endpoint reaches the route Django's resolver implies (named in ``X-Cutover-Route``), for the
demo's URLconf and for one with every kind of pattern."""

from __future__ import annotations

import pytest
import tomlkit

from cutover.init.manifest_file import new_manifest
from cutover.init.routes import propose_routes
from cutover.init.samples import missing_path, sample_path
from cutover.init.urlconf import endpoints, pinned_prefixes
from cutover.proxy.render import ROUTE_HEADER
from tests.cutover.proxy.conftest import door_kind, echo_backends, make_front_door  # noqa: F401  (fixtures)


@pytest.mark.parametrize("urlconf", [None, "tests.cutover.init.urls_sample"])
def test_every_endpoint_reaches_its_route_through_nginx(urlconf, settings, echo_backends, make_front_door):  # noqa: F811
    if urlconf:
        settings.ROOT_URLCONF = urlconf
    routes, _ = propose_routes(endpoints(), pinned_prefixes())
    text = tomlkit.dumps(
        new_manifest(routes, legacy=echo_backends.legacy.address, modern=echo_backends.modern.address)
    )
    door = make_front_door(text)  # rendered and checked with nginx -t, then started
    checked = []
    with door.client() as client:
        for route in routes:
            if route.endpoint is None:
                continue
            methods = [m for m in route.methods if m not in ("HEAD", "OPTIONS", "*")] or ["GET"]
            for path in filter(None, (sample_path(route.endpoint), missing_path(route.endpoint))):
                answer = client.request(methods[0], path)
                assert answer.headers[ROUTE_HEADER] == route.id, (route.id, methods[0], path)
                checked.append(path)
        assert client.get("/admin/login/").headers[ROUTE_HEADER] == (
            "admin" if urlconf is None else "default"
        )
    assert len(checked) >= (5 if urlconf is None else 25)
