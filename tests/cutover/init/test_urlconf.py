"""``cutover init``'s reading of a URLconf: every endpoint through includes, namespaces and DRF routers, the
methods its view takes, and a front-door route that sends exactly the paths Django resolves to it."""

from __future__ import annotations

import pytest
from django.urls import Resolver404, resolve
from hypothesis import given, settings
from hypothesis import strategies as st

from cutover.init.routes import propose_routes
from cutover.init.samples import Sample, missing_path, sample, sample_path
from cutover.init.urlconf import Endpoint, UnsupportedPattern, endpoints, frontdoor_regex, literal_path
from cutover.parity.generated import route_for
from cutover.proxy.manifest import parse_manifest


def proposed(urlconf=None):
    from cutover.init.urlconf import pinned_prefixes

    return propose_routes(endpoints(urlconf), pinned_prefixes(urlconf))


def test_the_demo_api_and_its_pins():
    routes, skipped = proposed()
    by_id = {r.id: r for r in routes}
    assert skipped == []
    assert (by_id["admin"].match, by_id["admin"].path, by_id["admin"].pinned) == ("prefix", "/admin/", True)
    assert (by_id["static"].match, by_id["static"].path, by_id["static"].pinned) == (
        "prefix",
        "/static/",
        True,
    )
    assert (by_id["user-list"].match, by_id["user-list"].path) == ("exact", "/api/users/")
    assert by_id["user-list"].methods == ("GET", "HEAD", "POST", "OPTIONS")
    assert (by_id["user-me"].match, by_id["user-me"].path) == ("exact", "/api/users/me/")
    assert (by_id["user-detail"].match, by_id["user-detail"].path) == ("pattern", "^/api/users/([^/.]+)/$")
    assert by_id["user-detail"].methods == ("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS")
    assert by_id["auth-token"].methods == ("POST", "OPTIONS")
    assert by_id["user-list"].description.startswith("Open sign-up")
    assert not any(r.path.startswith("/admin/") and not r.pinned for r in routes)  # the admin is one pin


def test_every_kind_of_pattern(sample_urls):
    routes, skipped = proposed()
    by_id = {r.id: (r.match, r.path, r.methods) for r in routes}
    assert by_id["article-year"] == ("pattern", "^/articles/([0-9]+)/$", ("*",))
    assert by_id["article-archive"][1] == "^/articles/([0-9]{4})/archive/$"  # the registered converter
    assert by_id["blog-post"] == ("pattern", "^/blog/([-a-zA-Z0-9_]+)/$", ("GET", "HEAD", "POST", "OPTIONS"))
    assert by_id["file"][1] == "^/files/(.+)$"
    assert by_id["item"][1].startswith("^/items/([0-9a-f]{8}-")
    # @api_view(["GET", "DELETE"]) lists its methods: DRF answers HEAD there with 405
    assert by_id["tag"] == ("pattern", "^/tags/([^/]+)/$", ("GET", "DELETE", "OPTIONS"))
    assert by_id["about"][:2] == ("exact", "/about/")  # unnamed: an id from its path
    assert by_id["legacy-code"][1] == "^/legacy/([A-Z]{3})/?$"  # an optional trailing slash
    assert by_id["v2-deep-ping"][:2] == ("exact", "/v2/deep/ping/")  # namespaces joined
    assert by_id["thing-polish"] == ("pattern", "^/api/things/([^/.]+)/polish/$", ("POST", "OPTIONS"))
    assert by_id["thing-detail-format"][1] == r"^/api/things/([^/.]+)\.([a-z0-9]+)/?$"
    assert by_id["api-root"][:2] == ("exact", "/api/")
    assert [s.route for s in skipped] == ["^twice/(?P<a>[a-z]+)/(?P=a)/$"]
    assert "back-reference" in skipped[0].reason
    parse_manifest(_manifest(routes))  # every route is one the manifest takes


def test_a_function_view_is_named_and_described_as_its_module_has_it(sample_urls):
    found = {e.name: e for e in endpoints()}
    assert found["tag"].view == "tests.cutover.init.urls_sample.tag"  # not DRF's WrappedAPIView
    assert found["tag"].description == "A tag by its name."
    assert found["blog-post"].view == "tests.cutover.init.urls_sample.BlogPost"
    # no docstring of its own: not its base's (as DRF's ObtainAuthToken would show Django's View's)
    assert found["blog-draft"].description == ""


def test_sample_paths_resolve_to_their_endpoint_and_route(sample_urls):
    routes, _ = proposed()
    manifest = parse_manifest(_manifest(routes))
    checked = 0
    for route in routes:
        if route.endpoint is None:
            continue
        path = sample_path(route.endpoint)
        assert path is not None, route.id
        assert resolve(path).view_name == route.endpoint.name or route.endpoint.name is None
        method = (
            next(m for m in route.methods if m not in ("HEAD", "OPTIONS"))
            if route.methods != ("*",)
            else "GET"
        )
        assert route_for(manifest.routes, method, path) == route.id, (route.id, path)
        missing = missing_path(route.endpoint)
        if missing is not None:
            assert route_for(manifest.routes, method, missing) == route.id
        checked += 1
    assert checked >= 18


def test_a_parameter_that_is_no_primary_key_gets_a_value_plainly_made_up(sample_urls):
    routes, _ = proposed()
    samples = {r.id: sample(r.endpoint) for r in routes if r.endpoint is not None}
    slug = {"slug": "example-slug"}
    assert samples["article-detail"] == Sample("/api/articles/example-slug/", slug)  # DRF's lookup_field
    assert samples["article-detail-format"] == Sample("/api/articles/example-slug.json", slug)
    assert samples["blog-post"] == Sample("/blog/example-slug/", slug)  # <slug:slug>
    assert samples["tag"] == Sample("/tags/example-name/", {"name": "example-name"})  # <str:name>
    assert samples["thing-detail"] == Sample("/api/things/1/", {"pk": "1"})  # a primary key: the first row
    assert samples["v2-deep-echo"] == Sample("/v2/deep/echo/1/", {"n": "1"})  # <int:n>: no other value fits
    assert samples["legacy-code"] == Sample("/legacy/ABC", {"code": "ABC"})  # [A-Z]{3}, the slash optional
    assert samples["thing-list"] == Sample("/api/things/")  # nothing to fill
    assert missing_path(routes[[r.id for r in routes].index("article-detail")].endpoint) == (
        "/api/articles/999999999/"
    )


SEGMENTS = ["articles", "2024", "12", "abc", "archive", "blog", "my-post", "a b", "files", "x.txt", "items",
            "00000000-0000-4000-8000-000000000001", "tags", "legacy", "ABC", "AB", "v2", "deep", "ping", "echo",
            "status", "api", "things", "1", "1.json", "polish", "polish.json", ".json", "about", "twice", "x"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=5), st.booleans())
def test_the_routes_send_a_path_where_django_resolves_it(sample_urls_module, segments, slash):
    """Any path: the route the front door picks is the route of the endpoint Django resolves it to, and a
    path Django does not resolve reaches no route of an endpoint (it falls to [default], the legacy)."""
    routes, manifest, route_of = sample_urls_module
    path = "/" + "/".join(segments) + ("/" if slash else "")
    try:
        match = resolve(path)
    except Resolver404:
        expected = None
    else:
        expected = route_of.get(match.route)
    got = route_for(manifest.routes, "GET", path)
    if expected is None:
        assert got is None or got not in route_of.values(), path
    else:
        assert got == expected, path


@pytest.fixture(scope="module")
def sample_urls_module():
    from django.conf import settings as django_settings
    from django.urls import clear_url_caches

    from .conftest import SAMPLE_URLCONF

    previous = django_settings.ROOT_URLCONF
    django_settings.ROOT_URLCONF = SAMPLE_URLCONF
    clear_url_caches()
    try:
        routes, _ = proposed()
        manifest = parse_manifest(_manifest(routes))
        get_routes = [
            r for r in routes if r.endpoint is not None and ("GET" in r.methods or r.methods == ("*",))
        ]
        route_of = {_django_route(r.endpoint): r.id for r in get_routes}
        yield routes, manifest, route_of
    finally:
        django_settings.ROOT_URLCONF = previous
        clear_url_caches()


def _django_route(endpoint: Endpoint) -> str:
    """The ``ResolverMatch.route`` Django reports for an endpoint (its patterns joined)."""
    return endpoint.route


def test_a_back_reference_or_inline_flags_are_refused():
    def endpoint(regex):
        return Endpoint("x", regex, regex, "v", ("*",), "")

    with pytest.raises(UnsupportedPattern, match="back-reference"):
        frontdoor_regex(endpoint(r"^a/(?P<x>\w+)/(?P=x)/\Z"))
    with pytest.raises(UnsupportedPattern, match="flags"):
        frontdoor_regex(endpoint(r"^(?i)a/\Z"))
    assert frontdoor_regex(endpoint(r"^a/(?P<x>[0-9]+)/b/(?P<x2>[^/]+)/\Z")) == "^/a/([0-9]+)/b/([^/]+)/$"


@pytest.mark.parametrize(
    "regex, literal",
    [(r"^api/users/\Z", "/api/users/"), (r"^api/users/$", "/api/users/"), (r"^a\.b/\Z", "/a.b/"),
     (r"^api/users/?$", None), (r"^a/(?P<x>\d+)/\Z", None), (r"^a/", None), (r"^a/.\Z", None)],
)  # fmt: skip
def test_a_literal_path_only_where_the_pattern_has_nothing_but_literal_text(regex, literal):
    assert literal_path(Endpoint(None, regex, "", "", (), "")) == literal


def _manifest(routes) -> str:
    import tomlkit

    from cutover.init.manifest_file import new_manifest

    return tomlkit.dumps(new_manifest(routes, legacy="127.0.0.1:1", modern="127.0.0.1:2"))
