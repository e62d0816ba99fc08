"""The shadow store on SQLite and on a real PostgreSQL: counts, thresholds, retention, ``since``, redaction,
and several writers on one database."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from cutover.dburl import DatabaseURL
from cutover.shadow.store import (
    Comparison,
    FieldDifference,
    ShadowStore,
    StoreNotFound,
    Thresholds,
    engine_url,
    redact_text,
)

T0 = 1_800_000_000.0  # on a minute boundary
ROUTE = "users-list"
TABLES = ("shadow_route_counts", "shadow_field_counts", "shadow_kept", "shadow_kept_values")


def compared(
    outcome: str, *, time: float = T0, route: str = ROUTE, target: str = "/api/users/", **kw
) -> Comparison:
    return Comparison(route=route, method="GET", target=target, time=time, outcome=outcome, **kw)


def different(n: int = 0, *, time: float = T0, path: str = "body.results[0].username") -> Comparison:
    return compared(
        "different",
        time=time,
        target=f"/api/users/?page={n}",
        differences=(FieldDifference(path, f"zoë-{n}", f"zoe-{n}"),),
        candidate_paths=(path,),
    )


def rows(url: str, table: str) -> list[tuple]:
    engine = sa.create_engine(engine_url(url))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    finally:
        engine.dispose()


def test_outcomes_are_counted_and_compared_leaves_errors_out(store_url: str):
    with ShadowStore(store_url, clock=lambda: T0) as store:
        store.mirrored(ROUTE, 7)
        store.mirrored(ROUTE)
        store.dropped(ROUTE, 2)
        for outcome, times in (("match", 3), ("different", 2), ("noise", 4), ("error", 1)):
            for _ in range(times):
                store.record(compared(outcome))
        store.record(compared("match", route="users-me"))
        [users, me] = store.summary()
    assert (users.route, users.mirrored, users.dropped) == (ROUTE, 8, 2)
    assert (users.matched, users.different, users.noise, users.errors) == (3, 2, 4, 1)
    assert users.compared == 9
    assert (me.route, me.compared, me.mirrored) == ("users-me", 1, 0)
    assert users.as_dict()["compared"] == 9


def test_the_sqlite_store_creates_its_directory(tmp_path: Path):
    path = tmp_path / "a" / "b" / "shadow.sqlite3"
    ShadowStore(f"sqlite:///{path}").close()
    assert path.is_file()


def test_a_field_is_reported_only_where_the_candidate_clearly_differs_more_than_the_legacy(store_url: str):
    # 200 comparisons. generated_at: the legacy differs from itself every time (noise). username: only the
    # candidate differs, 6 times (reported). email: 6 against the legacy's 4 (absolute 0.01, relative 1/3:
    # reported). etag: 12 against 10 (relative 1/6 < 0.2: noise). bio: once, never the legacy (0.005 <
    # 0.01: below the thresholds, and no noise either).
    with ShadowStore(store_url) as store:
        for i in range(200):
            cand = ["body.generated_at"]
            sec = ["body.generated_at"]
            cand += ["body.username"] if i < 6 else []
            cand += ["body.email"] if i < 6 else []
            sec += ["body.email"] if i < 4 else []
            cand += ["headers.etag"] if i < 12 else []
            sec += ["headers.etag"] if i < 10 else []
            cand += ["body.bio"] if i == 0 else []
            outcome = "different" if i < 6 else "noise"
            store.record(compared(outcome, candidate_paths=tuple(cand), secondary_paths=tuple(sec)))
        [summary] = store.summary()
    fields = {f.path: f for f in summary.fields}
    assert {p for p, f in fields.items() if f.reported} == {"body.username", "body.email"}
    assert {f.path for f in summary.noise_fields} == {"body.generated_at", "headers.etag"}
    assert [f.path for f in summary.rare_fields] == ["body.bio"]
    assert summary.has_differences
    email = fields["body.email"]
    assert (email.candidate_count, email.secondary_count) == (6, 4)
    assert (email.candidate_rate, email.secondary_rate) == (0.03, 0.02)
    assert fields["body.generated_at"].secondary_rate == 1.0
    assert [d.path for d in summary.differing] == ["body.email", "body.username"]  # by count, then path
    # Configurable: a stricter absolute threshold turns email into noise, a looser one reports bio.
    with ShadowStore(store_url) as store:
        strict = store.summary(thresholds=Thresholds(absolute=0.02))[0]
        loose = store.summary(thresholds=Thresholds(absolute=0.005, relative=0.2))[0]
    assert {f.path for f in strict.fields if f.reported} == {"body.username"}
    assert "body.email" in {f.path for f in strict.noise_fields}
    assert {f.path for f in loose.fields if f.reported} == {"body.username", "body.email", "body.bio"}
    # Only matches and noise: nothing reported, whatever the noise.
    with ShadowStore(store_url) as store:
        store.record(compared("noise", route="users-me", candidate_paths=("a",), secondary_paths=("a",)))
        [_, me] = store.summary()
    assert not me.has_differences and me.as_dict()["has_differences"] is False


@pytest.mark.parametrize(
    "candidate, secondary, compared_, reported",
    [
        (3, 2, 100, True),  # excess exactly 0.01 of the comparisons (not 0.00999... from subtracted rates)
        (3, 2, 101, False),  # just under 0.01
        (5, 4, 100, True),  # relative exactly 0.2
        (6, 5, 100, False),  # relative 1/6
        (1, 0, 100, True),
        (0, 0, 100, False),
        (2, 3, 100, False),  # the legacy differs from itself more often than from the candidate
        (1, 0, 0, False),
    ],
)
def test_thresholds_at_their_edges(candidate, secondary, compared_, reported):
    assert Thresholds().reports(candidate, secondary, compared_) is reported


def test_a_path_counts_once_per_comparison_and_errors_count_no_fields(store_url: str):
    with ShadowStore(store_url) as store:
        store.record(compared("different", candidate_paths=("status", "status"), secondary_paths=()))
        store.record(compared("error", candidate_paths=("status",), error="candidate: ConnectError"))
        [summary] = store.summary()
    [status] = summary.fields
    assert (status.candidate_count, status.candidate_rate) == (1, 1.0)
    assert summary.errors == 1


def test_only_the_last_keep_differences_keep_values_and_the_counts_count_all(store_url: str):
    keep, extra = 5, 7
    with ShadowStore(store_url, keep=keep) as store:
        for n in range(keep + extra):
            store.record(different(n))
        for n in range(keep + 2):
            store.record(compared("error", error=f"candidate: ReadTimeout {n}"))
        [summary] = store.summary()
    assert summary.different == keep + extra
    assert summary.fields[0].candidate_count == keep + extra
    kept = rows(store_url, "shadow_kept")
    assert len([r for r in kept if r[2] == "different"]) == keep
    assert len([r for r in kept if r[2] == "error"]) == keep
    assert sorted(r[4] for r in kept if r[2] == "different") == sorted(
        f"/api/users/?page={n}" for n in range(extra, keep + extra)
    )  # the newest stay
    assert len(rows(store_url, "shadow_kept_values")) == keep  # values of deleted ones go with them
    [field] = summary.differing
    assert [e.target for e in field.examples] == [f"/api/users/?page={n}" for n in (11, 10, 9)]
    assert [(e.primary, e.candidate) for e in field.examples][0] == ("zoë-11", "zoe-11")
    assert [e.error for e in summary.recent_errors] == [f"candidate: ReadTimeout {n}" for n in (6, 5, 4)]


def test_retention_is_per_route(store_url: str):
    with ShadowStore(store_url, keep=2) as store:
        for n in range(4):
            store.record(different(n))
        store.record(compared("different", route="users-me", candidate_paths=("status",)))
    assert sorted(r[1] for r in rows(store_url, "shadow_kept")) == [ROUTE, ROUTE, "users-me"]


def test_since_filters_counters_and_examples_by_the_minute(store_url: str):
    clock = [T0 - 7200]
    with ShadowStore(store_url, clock=lambda: clock[0]) as store:
        store.mirrored(ROUTE, 10)
        store.record(different(1, time=T0 - 7200))
        store.record(compared("match", time=T0 - 7200))
        clock[0] = T0 + 30
        store.mirrored(ROUTE, 2)
        store.record(different(2, time=T0 + 30))
        store.record(compared("match", route="users-me", time=T0 - 7200))
        everything = store.summary()
        recent = store.summary(since=T0 + 59)  # within the minute of T0: the whole minute counts
        later = store.summary(since=T0 + 60)
        only_me = store.summary(route="users-me")
    assert [(s.route, s.mirrored, s.compared) for s in everything] == [(ROUTE, 12, 3), ("users-me", 0, 1)]
    [users] = recent
    assert (users.mirrored, users.compared, users.different) == (2, 1, 1)
    assert [e.target for e in users.differing[0].examples] == ["/api/users/?page=2"]
    assert users.differing[0].count == 1
    assert later == []
    assert [s.route for s in only_me] == ["users-me"]


def test_secrets_never_reach_the_store(store_url: str, tmp_path: Path):
    token = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # a DRF token key
    session = "k3v9x2m8q7w1z5j4h6n0p2r8t1y7u3e5"  # a Django session id
    password = "demo-password-123"
    known = "tok_live_51HvLpQ2eZvKYlo2C"  # a secret only the caller knows to be one
    comparison = Comparison(
        route=ROUTE,
        method="GET",
        target=f"/api/users/?page=2&token={token}&sessionid={session}&password={password}&q={known}",
        time=T0,
        outcome="different",
        differences=(
            FieldDifference("body.token", token, None),  # not redacted by a careless caller
            FieldDifference(
                "body.results[0].profile", {"sessionid": session, "name": "zoë"}, {"name": "zoe"}
            ),
            FieldDifference("body.results[1].note", f"mine is {known}", "x"),
            FieldDifference("headers.authorization", f"Token {token}", "Token x"),
            FieldDifference("body.access_token", session, password),
            FieldDifference("body.results[2].bio", f"password={password}", "ok"),
        ),
        candidate_paths=("body.token", "body.results[0].profile", f"rows.authtoken_token.{token}.row.key"),
        secondary_paths=(),
    )
    with ShadowStore(store_url, secrets=[known, token, session]) as store:
        store.record(comparison)
        store.record(
            compared(
                "error",
                target=f"/api/users/me/?api_key={token}",
                error=f"candidate: 401 for Token {token}\n{known}",
            )
        )
        [summary] = store.summary()
    assert summary.different == 1 and summary.errors == 1  # recorded, not dropped
    if store_url.startswith("sqlite"):
        stored = b"".join(p.read_bytes() for p in (tmp_path / "data").iterdir())  # the file, any WAL left
        assert b"page=2" in stored and b"***" in stored  # what is no secret is there: the check can fail
        secret_strings = [token, session, password, known]
        found = [s for s in secret_strings if s.encode() in stored]
    else:
        stored_text = repr([rows(store_url, table) for table in TABLES])
        assert "page=2" in stored_text and "***" in stored_text
        found = [s for s in (token, session, password, known) if s in stored_text]
    assert found == []
    # The names stay, for the reader; the values are gone.
    assert sorted(r[4] for r in rows(store_url, "shadow_kept")) == [
        "/api/users/?page=2&token=***&sessionid=***&password=***&q=***",
        "/api/users/me/?api_key=***",
    ]
    assert "rows.authtoken_token.***.row.key" in {f.path for f in summary.fields}
    values = {d.path: d.examples[0] for d in summary.differing if d.examples}
    assert values["body.results[0].profile"].primary == {"sessionid": "***", "name": "zoë"}
    assert summary.recent_errors[0].error == "candidate: 401 for Token *** ***"


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/api/users/?page=2&access_token=abc&api_key=k", "/api/users/?page=2&access_token=***&api_key=***"),
        (
            "/a/?sessionid=s&csrfmiddlewaretoken=c&new_password=p",
            "/a/?sessionid=***&csrfmiddlewaretoken=***&new_password=***",
        ),
        (
            "/a/?clientSecret=s&X-CSRFToken=c&auth=a&key=k",
            "/a/?clientSecret=***&X-CSRFToken=***&auth=***&key=***",
        ),
        ("/a/?access%5Ftoken=abc", "/a/?access%5Ftoken=***"),  # the name as the server decodes it
        ("/a/?search=zo%C3%AB&ordering=-date_joined&page", "/a/?search=zo%C3%AB&ordering=-date_joined&page"),
        ("/a/?token=", "/a/?token="),  # nothing to hide
        ("/a/", "/a/"),
    ],
)
def test_secret_query_values_are_masked_and_the_rest_kept_byte_for_byte(target, expected):
    assert redact_text(target) == expected


def test_secret_pairs_are_masked_in_any_text():
    text = 'GET http://legacy/?access_token=abc&page=2 failed: {"password": "p4ss", "username": "zoë"}'
    assert (
        redact_text(text)
        == 'GET http://legacy/?access_token=***&page=2 failed: {"password": "***", "username": "zoë"}'
    )


def test_a_huge_value_is_clipped(store_url: str):
    huge = {"results": [{"username": f"user{i}", "bio": "x" * 100} for i in range(200)]}
    with ShadowStore(store_url) as store:
        store.record(
            compared("different", differences=(FieldDifference("body", huge, {}),), candidate_paths=("body",))
        )
        [example] = store.summary()[0].differing[0].examples
    assert isinstance(example.primary, str) and example.primary.endswith("characters of JSON, clipped)")
    assert len(example.primary) < 4200
    assert example.candidate == {}


def test_bad_input_is_refused(store_url: str):
    with ShadowStore(store_url) as store:
        with pytest.raises(ValueError, match="unknown outcome 'mismatch'"):
            store.record(compared("mismatch"))
        with pytest.raises(ValueError, match="cannot be negative"):
            store.mirrored(ROUTE, -1)
        assert store.summary() == []
    with pytest.raises(ValueError, match="keep must be at least 1"):
        ShadowStore(store_url, keep=0)


def test_a_store_opened_for_reading_creates_nothing(tmp_path: Path, pg_database: DatabaseURL):
    missing = tmp_path / "nowhere" / "shadow.sqlite3"
    with pytest.raises(StoreNotFound):
        ShadowStore(f"sqlite:///{missing}", create=False)
    assert not missing.parent.exists()
    with ShadowStore(pg_database.libpq(), create=False) as store:
        assert store.summary() == []
    with psycopg.connect(pg_database.libpq()) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    assert tables == []


def test_postgresql_urls_use_psycopg_3():
    assert engine_url("postgresql://u:p@db/shadow").drivername == "postgresql+psycopg"
    assert engine_url("postgres://u@db/shadow").drivername == "postgresql+psycopg"
    assert engine_url("postgresql+asyncpg://u@db/shadow").drivername == "postgresql+psycopg"
    assert engine_url("sqlite:////x/shadow.sqlite3").drivername == "sqlite"
    with pytest.raises(ValueError, match="sqlite:///PATH or postgresql://"):
        engine_url("mysql://u@db/shadow")


def test_several_writers_on_one_store_add_up(store_url: str):
    """Two stores on one URL (two front doors' comparators), each written from several threads at once."""
    per_thread, threads = 15, 3
    with ThreadPoolExecutor(2) as pool:  # created at once: the tables are made exactly once
        stores = list(pool.map(lambda _: ShadowStore(store_url, keep=10), range(2)))
    start = threading.Barrier(len(stores) * threads)

    def write(store: ShadowStore, thread: int) -> None:
        start.wait()
        for n in range(per_thread):
            store.mirrored(ROUTE)
            store.record(different(thread * 100 + n) if n % 3 == 0 else compared("match"))

    try:
        with ThreadPoolExecutor(len(stores) * threads) as pool:
            futures = [pool.submit(write, s, t) for s in stores for t in range(threads)]
            for future in futures:
                future.result()
        [from_first] = stores[0].summary()
        [from_second] = stores[1].summary()
    finally:
        for store in stores:
            store.close()
    total = len(stores) * threads * per_thread
    assert from_first == from_second
    assert (from_first.mirrored, from_first.compared) == (total, total)
    assert from_first.different == total // 3
    assert from_first.fields[0].candidate_count == total // 3
    assert len(rows(store_url, "shadow_kept")) == 10
