"""The catalog's ported routes answer exactly as its Django app does, over real HTTP.

Both apps run on the same database (the example's own, migrated by its own migrations and loaded with
its fixture): Django 4.2 under gunicorn, the FastAPI port under uvicorn. Every case is one request sent
to each; the status, the headers that matter and the body bytes must be equal (``http_parity``). A
case that writes is run from the fixture for each app, and the rows each app wrote must be equal too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from .catalog_env import uvicorn
from .conftest import Catalog
from .http_parity import Request, differences


@dataclass(frozen=True)
class Case:
    id: str
    status: int  # the legacy's, checked first: a case must reach what it is named for
    build: Callable[[Catalog], Request]
    writes: bool = False

    def __str__(self) -> str:
        return self.id


def get(path: str, auth: str | None = None, **headers: str) -> Callable[[Catalog], Request]:
    def build(catalog: Catalog) -> Request:
        sent = dict(headers)
        if auth is not None:
            sent.update(catalog.bearer(auth))
        return Request("GET", path, sent)

    return build


def with_token(path: str, method: str = "GET", **claims: Any) -> Callable[[Catalog], Request]:
    """A token made by the test with the apps' key (or ``key=``/``alg=``), claims changed as given."""
    key = claims.pop("key", None)
    alg = claims.pop("alg", "HS256")
    return lambda c: Request(method, path, c.forged(key, alg, **claims))


def raw_auth(
    path: str, value: str | Callable[[Catalog], str], method: str = "GET"
) -> Callable[[Catalog], Request]:
    return lambda c: Request(method, path, {"Authorization": value(c) if callable(value) else value})


def post(
    body: Any = None, auth: str | None = "alice", raw: bytes | None = None, **headers: str
) -> Callable[[Catalog], Request]:
    def build(catalog: Catalog) -> Request:
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        if auth is not None:
            sent.update(catalog.bearer(auth))
        if raw is not None:
            return Request("POST", "/api/products/", sent, body=raw)
        return Request("POST", "/api/products/", sent, json=body)

    return build


VALID = {"name": "Pour-over kettle", "slug": "pour-over-kettle", "price": "34.00", "category_slug": "kitchen"}

DETAIL = [
    Case("detail-unicode-microseconds", 200, get("/api/products/7/")),
    Case("detail-no-tags", 200, get("/api/products/3/")),
    Case("detail-three-tags-by-name", 200, get("/api/products/4/")),
    Case("detail-nobody-created-it", 200, get("/api/products/10/")),
    Case("detail-largest-price", 200, get("/api/products/17/")),
    Case("detail-zero-price-inactive-staff", 200, get("/api/products/20/", "admin")),
    Case("detail-leading-zeros", 200, get("/api/products/007/")),
    Case("detail-as-alice", 200, get("/api/products/1/", "alice")),
    Case("detail-inactive-anonymous", 404, get("/api/products/11/")),
    Case("detail-inactive-alice", 404, get("/api/products/11/", "alice")),
    Case("detail-inactive-staff", 200, get("/api/products/11/", "admin")),
    Case("detail-missing", 404, get("/api/products/999/")),
    Case("detail-beyond-bigint", 404, get("/api/products/99999999999999999999/")),
    Case("detail-head", 200, lambda c: Request("HEAD", "/api/products/1/")),
    Case("detail-no-trailing-slash", 301, get("/api/products/5")),
    Case("detail-format-json", 200, get("/api/products/5/?format=json")),
    Case("detail-format-xml", 404, get("/api/products/5/?format=xml")),
    Case("detail-accept-html", 406, get("/api/products/5/", Accept="text/html")),
    Case("detail-accept-json-indent", 200, get("/api/products/5/", Accept="application/json; indent=4")),
    Case("detail-accept-any-indent", 200, get("/api/products/5/", Accept="text/html, */*; indent=2")),
    Case("detail-accept-json-q", 200, get("/api/products/5/", Accept="application/*;q=0.5")),
    Case("detail-accept-empty", 406, get("/api/products/5/", Accept="")),
    Case(
        "detail-disallowed-host", 400, lambda c: Request("GET", "/api/products/5/", {"Host": "evil.example"})
    ),
    Case(
        "detail-disallowed-forwarded-host",
        400,
        get("/api/products/5/", **{"X-Forwarded-Host": "evil.example"}),
    ),
    # simplejwt's answers, one per way a token fails
    Case("token-garbage", 401, raw_auth("/api/products/5/", "Bearer not-a-token")),
    Case("token-bearer-alone", 401, raw_auth("/api/products/5/", "Bearer")),
    Case("token-three-parts", 401, raw_auth("/api/products/5/", "Bearer a b")),
    Case("token-empty-header", 200, raw_auth("/api/products/5/", "")),
    Case("token-other-scheme-is-anonymous", 404, raw_auth("/api/products/11/", "Token abc")),
    Case(
        "token-lowercase-bearer-is-anonymous",
        404,
        raw_auth("/api/products/11/", lambda c: "bearer " + c.tokens("admin")["access"]),
    ),
    Case(
        "token-refresh-as-access",
        401,
        raw_auth("/api/products/5/", lambda c: "Bearer " + c.tokens("alice")["refresh"]),
    ),
    Case("token-expired", 401, with_token("/api/products/5/", exp=1_600_000_000)),
    Case("token-other-key", 401, with_token("/api/products/5/", key="another-secret-key")),
    Case("token-alg-none", 401, with_token("/api/products/5/", alg="none")),
    Case("token-hs512", 401, with_token("/api/products/5/", alg="HS512")),
    Case("token-no-exp", 401, with_token("/api/products/5/", exp=...)),
    Case("token-no-jti", 401, with_token("/api/products/5/", jti=...)),
    Case("token-no-type", 401, with_token("/api/products/5/", token_type=...)),
    Case("token-sliding-type", 401, with_token("/api/products/5/", token_type="sliding")),
    Case("token-no-user-id", 401, with_token("/api/products/5/", user_id=...)),
    Case("token-unknown-user", 401, with_token("/api/products/5/", user_id="999")),
    Case("token-user-id-beyond-integer", 401, with_token("/api/products/5/", user_id="99999999999")),
    Case("token-user-id-null", 401, with_token("/api/products/5/", user_id=None)),
    Case("token-user-id-number-staff", 200, with_token("/api/products/11/", user_id=1)),
    Case("token-user-id-not-a-number", 500, with_token("/api/products/5/", user_id="two")),
    Case("token-inactive-user", 401, with_token("/api/products/5/", user_id="4")),
]

LIST = [
    Case("list-first-page", 200, get("/api/products/")),
    Case("list-limit-offset", 200, get("/api/products/?limit=5&offset=5")),
    Case("list-last-page", 200, get("/api/products/?offset=20")),
    Case("list-past-the-end", 200, get("/api/products/?offset=100")),
    Case("list-limit-over-max", 200, get("/api/products/?limit=500")),
    Case("list-limit-zero", 200, get("/api/products/?limit=0")),
    Case("list-limit-negative", 200, get("/api/products/?limit=-3&offset=2")),
    Case("list-limit-garbage", 200, get("/api/products/?limit=ten&offset=two")),
    Case("list-limit-spaces-underscores", 200, get("/api/products/?limit=%201_0&offset=+3")),
    Case("list-previous-is-first-page", 200, get("/api/products/?limit=5&offset=3")),
    Case(
        "list-other-params-kept-sorted", 200, get("/api/products/?zeta=1&limit=2&alpha=b%20c&offset=2&alpha=")
    ),
    Case("list-repeated-limit-last-wins", 200, get("/api/products/?limit=2&limit=3")),
    Case("list-category", 200, get("/api/products/?category=kitchen&limit=3")),
    Case("list-tag", 200, get("/api/products/?tag=gift&limit=3&offset=1")),
    Case("list-category-and-tag", 200, get("/api/products/?category=board-games&tag=bestseller")),
    Case("list-unknown-category", 200, get("/api/products/?category=nothing")),
    Case("list-empty-category-filter", 200, get("/api/products/?category=&tag=")),
    Case("list-staff-sees-inactive", 200, get("/api/products/?limit=50", "admin")),
    Case("list-alice", 200, get("/api/products/?offset=10", "alice")),
    Case(
        "list-forwarded-host-and-proto",
        200,
        get("/api/products/?limit=4", **{"X-Forwarded-Host": "localhost:9000", "X-Forwarded-Proto": "https"}),
    ),
    Case("list-non-ascii-query", 200, get("/api/products/?limit=2&q=cr%C3%A8me")),
    Case("list-head", 200, lambda c: Request("HEAD", "/api/products/?limit=2")),
    Case("list-no-trailing-slash", 301, get("/api/products")),
    Case("list-no-trailing-slash-query", 301, get("/api/products?limit=2&offset=4")),
    Case("list-accept-indent", 200, get("/api/products/?limit=1", Accept="application/json; indent=2")),
    Case("list-accept-xml", 406, get("/api/products/", Accept="application/xml")),
    Case("list-bad-token", 401, raw_auth("/api/products/", "Bearer x.y.z")),
    Case("list-1000-query-fields", 200, get("/api/products/?limit=2" + "&a" * 999)),
    Case("list-1001-query-fields-crash", 500, get("/api/products/?limit=2" + "&a" * 1000)),
    Case("detail-1001-query-fields-crash", 500, get("/api/products/1/?" + "&" * 1000, "alice")),
]

CREATE = [
    Case("create-anonymous", 401, post(VALID, auth=None)),
    Case(
        "create-anonymous-malformed", 401, post(auth=None, raw=b'{"name": ', Content_Type="application/json")
    ),
    Case("create-anonymous-accept-html", 406, post(VALID, auth=None, Accept="text/html")),
    Case(
        "create-bad-token",
        401,
        lambda c: Request("POST", "/api/products/", {"Authorization": "Bearer nope"}, json=VALID),
    ),
    Case(
        "create-inactive-user",
        401,
        lambda c: Request("POST", "/api/products/", c.forged(user_id="4"), json=VALID),
    ),
    Case(
        "create-valid",
        201,
        post({**VALID, "description": "  Gooseneck.  ", "stock": 12, "tag_slugs": ["new", "sale", "new"]}),
        writes=True,
    ),
    Case("create-minimal", 201, post(VALID), writes=True),
    Case("create-by-staff", 201, post({**VALID, "is_active": False}, auth="admin"), writes=True),
    Case(
        "create-lenient-types",
        201,
        post({**VALID, "name": 42, "price": 4.5, "stock": "3.0", "is_active": "Yes"}),
        writes=True,
    ),
    Case("create-exponent-price", 201, post({**VALID, "price": "1e3"}), writes=True),
    Case("create-negative-zero-price", 201, post({**VALID, "price": "-0.00"}), writes=True),
    Case("create-slug-case-differs", 201, post({**VALID, "slug": "Dune"}), writes=True),
    Case("create-tags-as-dict-keys", 201, post({**VALID, "tag_slugs": {"eco": 1, "gift": 2}}), writes=True),
    Case("create-no-tags", 201, post({**VALID, "tag_slugs": []}), writes=True),
    Case(
        "create-read-only-fields-ignored",
        201,
        post(
            {
                **VALID,
                "id": 1,
                "created_at": "2000-01-01T00:00:00Z",
                "category": {"id": 1},
                "tags": [1],
                "created_by": "bob",
                "extra": True,
            }
        ),
        writes=True,
    ),
    Case(
        "create-latin-1-body",
        201,
        post(
            auth="alice",
            raw='{"name": "Café", "slug": "cafe", "price": "2", "category_slug": "kitchen"}'.encode(
                "latin-1"
            ),
            Content_Type="application/json; charset=latin-1",
        ),
        writes=True,
    ),
    Case(
        "create-indented-answer",
        201,
        post({**VALID, "tag_slugs": ["eco"]}, Accept="application/json; indent=4"),
        writes=True,
    ),
    Case("create-empty-object", 400, post({})),
    Case("create-null", 400, post(auth="alice", raw=b"null", Content_Type="application/json")),
    Case("create-list", 400, post([VALID])),
    Case("create-string", 400, post("product")),
    Case(
        "create-malformed-json",
        400,
        post(auth="alice", raw=b'{"name": "x",', Content_Type="application/json"),
    ),
    Case(
        "create-nan",
        400,
        post(auth="alice", raw=b'{"name": "x", "price": NaN}', Content_Type="application/json"),
    ),
    Case(
        "create-invalid-utf-8",
        400,
        post(auth="alice", raw=b'{"name": "\xff"}', Content_Type="application/json"),
    ),
    Case("create-text-plain", 415, post(auth="alice", raw=b"name=x", Content_Type="text/plain")),
    Case("create-no-content-type", 415, post(auth="alice", raw=b'{"name": "x"}')),
    Case("create-no-body", 400, post(auth="alice", raw=b"", Content_Type="application/json")),
    Case(
        "create-errors-everywhere",
        400,
        post(
            {
                "name": "",
                "slug": "dune",
                "price": "1.234",
                "stock": -1,
                "is_active": "maybe",
                "category_slug": "nope",
                "tag_slugs": "sale",
            }
        ),
    ),
    Case(
        "create-errors-everywhere-2",
        400,
        post(
            {
                "name": "x\u0000y",
                "slug": "not a slug",
                "price": "123456789.00",
                "stock": 3.5,
                "category_slug": None,
                "tag_slugs": ["sale", "nope"],
            }
        ),
    ),
    Case(
        "create-blank-and-null",
        400,
        post(
            {
                "name": "   ",
                "slug": None,
                "description": None,
                "price": None,
                "stock": None,
                "is_active": None,
                "category_slug": "",
                "tag_slugs": None,
            }
        ),
    ),
    Case(
        "create-wrong-types",
        400,
        post(
            {
                "name": True,
                "slug": ["a"],
                "description": {"a": 1},
                "price": True,
                "stock": True,
                "is_active": [1],
                "category_slug": True,
                "tag_slugs": 5,
            }
        ),
    ),
    Case("create-too-long", 400, post({**VALID, "name": "n" * 201, "slug": "s" * 201})),
    Case("create-whole-digits", 400, post({**VALID, "price": "123456789"})),
    Case("create-price-not-a-number", 400, post({**VALID, "price": "Infinity", "stock": "2147483648"})),
    Case("create-lookups-by-type", 400, post({**VALID, "category_slug": 5, "tag_slugs": [None, "sale"]})),
    Case(
        "create-lookups-by-structure",
        400,
        post({**VALID, "category_slug": ["kitchen"], "tag_slugs": [["sale"]]}),
    ),
    Case("create-lookup-empty-item", 400, post({**VALID, "tag_slugs": [""]})),
    Case(
        "create-surrogates",
        400,
        post(
            auth="alice",
            raw=b'{"name": "a\\ud800", "slug": "b\\udc00", "price": "1", "category_slug": "k\\ud800"}',
            Content_Type="application/json",
        ),
    ),
    Case("create-nul-slug-is-a-400", 400, post({**VALID, "slug": "a\u0000b"})),
    Case("create-nul-category-is-a-500", 500, post({**VALID, "category_slug": "kit\u0000chen"})),
    Case("create-slug-taken", 400, post({**VALID, "slug": "dune"})),
]

CASES = DETAIL + LIST + CREATE


def new_rows(catalog: Catalog) -> tuple[list[Any], list[Any], list[Any]]:
    """What a create wrote: the product rows, their tag rows, and the shape of their timestamps."""
    products = catalog.rows(
        "SELECT id, name, slug, description, price::text, stock, is_active, category_id, created_by_id"
        " FROM products_product WHERE id > %s ORDER BY id",
        catalog.baseline["products_product"],
    )
    tags = catalog.rows(
        "SELECT id, product_id, tag_id FROM products_product_tags WHERE id > %s ORDER BY id",
        catalog.baseline["products_product_tags"],
    )
    stamps = catalog.rows(
        "SELECT created_at > now() - interval '1 minute', updated_at >= created_at,"
        " updated_at - created_at < interval '1 second' FROM products_product WHERE id > %s ORDER BY id",
        catalog.baseline["products_product"],
    )
    return products, tags, stamps


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.mark.parametrize("case", CASES, ids=str)
def test_same_answer(case: Case, catalog: Catalog, client: httpx.Client) -> None:
    request = case.build(catalog)
    if case.writes:
        catalog.reset()
    legacy = request.send(client, catalog.legacy.url)
    legacy_rows = new_rows(catalog) if case.writes else None
    if case.writes:
        catalog.reset()
    modern = request.send(client, catalog.modern.url)
    modern_rows = new_rows(catalog) if case.writes else None
    if case.writes:
        catalog.reset()
    assert legacy.status_code == case.status, f"{case.id}: the legacy answered {legacy.status_code}"
    found = differences(legacy, modern)
    assert not found, f"{case.id}: {request.method} {request.path}\n" + "\n".join(found)
    if legacy_rows is not None:
        assert legacy_rows == modern_rows
        assert legacy_rows[0], "the case wrote no product"
        assert all(all(shape) for shape in legacy_rows[2])


# What the broken port (broken_port.py) must be caught at, and where it must still pass: the difference
# each mismatch shows, or None for a case its regressions do not touch.
BROKEN = {
    "detail-missing": 'legacy b\'{"detail":"No Product matches the given query."}\'',
    "detail-beyond-bigint": "No Product matches the given query.",
    "detail-format-xml": None,  # "Not found." from content negotiation in both, not from the lookup
    "detail-unicode-microseconds": '"2024-02-05T09:45:12.123456+00:00"',
    "detail-nobody-created-it": '"created_by":null',
    "detail-head": None,  # no body to differ in
    "token-garbage": None,
    "token-inactive-user": None,
    "list-first-page": '"2024-03-06T10:00:00+00:00"',
    "list-past-the-end": None,  # no products on the page
    "list-unknown-category": None,
    "create-anonymous": None,
    "create-malformed-json": None,
    "create-empty-object": "status: legacy 400, modern 422",
    "create-valid": "<now dddd-dd-ddTdd:dd:dd.dddddd+dd:dd>",  # a new product's timestamps keep their shape
}


def test_a_broken_port_is_caught_where_it_is_broken(
    catalog: Catalog, client: httpx.Client, tmp_path: Path
) -> None:
    env = {**catalog.env, "PYTHONPATH": str(Path(__file__).parent)}
    broken = uvicorn(catalog.bin, env, tmp_path / "broken.log", app="broken_port:app")
    by_id = {case.id: case for case in CASES}
    found: dict[str, str | None] = {}
    try:
        for case_id in BROKEN:
            case = by_id[case_id]
            request = case.build(catalog)
            if case.writes:
                catalog.reset()
            legacy = request.send(client, catalog.legacy.url)
            if case.writes:
                catalog.reset()
            modern = request.send(client, broken.url)
            catalog.reset()
            found[case_id] = "\n".join(differences(legacy, modern)) or None
    finally:
        broken.stop()
    for case_id, expected in BROKEN.items():
        if expected is None:
            assert found[case_id] is None, f"{case_id} should match:\n{found[case_id]}"
        else:
            assert expected in (found[case_id] or ""), f"{case_id}:\n{found[case_id]}"
