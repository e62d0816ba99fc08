"""A scenario's template: placeholders filled the same way for the preflight (Python) and the load (Lua)."""

from __future__ import annotations

import pytest

from cutover.bench.dataset import Dataset
from cutover.bench.scenarios import Scenario, Template, _lua, check_values, title
from cutover.config import BenchScenario
from cutover.dburl import DatabaseURL
from cutover.errors import CutoverError

URL = DatabaseURL.parse("postgresql://u@127.0.0.1/bench")


def test_path_values_are_percent_encoded_and_other_braces_kept():
    template = Template.path("/things/{id}/?q={term}&raw={}")
    assert template.names == {"id", "term"}
    assert template.render({"id": 7, "term": "a b/c"}) == "/things/7/?q=a%20b%2Fc&raw={}"


def test_body_placeholders_are_json_escaped_inside_their_strings():
    template = Template.body({"name": '{unique} "x"', "tags": ["{n}"], "count": 3, "nested": {"k": "{v}"}})
    assert template.names == {"unique", "n", "v"}
    text = template.render({"unique": "u1", "n": 2, "v": 'say "hi"\n'})
    assert text == '{"name":"u1 \\"x\\"","tags":["2"],"count":3,"nested":{"k":"say \\"hi\\"\\n"}}'


def test_a_scenario_naming_an_unknown_value_is_one_line_naming_it():
    with pytest.raises(CutoverError, match=r"bench scenario 'detail' uses \{id\}, which is neither built in"):
        Scenario.make(BenchScenario("detail", "GET", "/x/{id}/"), {"page": [1]})


def test_the_preflight_request_is_the_load_s_first_shape():
    config = BenchScenario("create", "POST", "/things/?page={page}", body={"name": "{unique}@{domain}"})
    scenario = Scenario.make(config, {"page": [3, 4], "domain": "example.org"}, [("X-Key", "k")])
    request = scenario.request("run1pre")
    assert request.path == "/things/?page=3"
    assert request.body == '{"name":"run1pre@example.org"}'
    assert request.headers == (("X-Key", "k"), ("Content-Type", "application/json"))
    lua = scenario.lua("run1")
    assert 'path={"/things/?page=",{1}}' in lua
    assert '{"unique"}' in lua and 'lists={{"3","4"},{"example.org"}}' in lua
    assert 'prefix="run1"' in lua and 'method="POST"' in lua


def test_lua_strings_escape_everything_but_printable_ascii():
    assert _lua('a"b\\c\nü') == '"a\\034b\\092c\\010\\195\\188"'


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([1, 2], "must return a mapping"),
        ({"n": 1}, "'n' is not a placeholder name"),
        ({"Bad": 1}, "'Bad' is not a placeholder name"),
        ({"ids": []}, "ids must be a string, a number or a non-empty list"),
        ({"flag": True}, "flag must be a string, a number"),
    ],
)
def test_dataset_values_are_checked(raw, message):
    with pytest.raises(CutoverError, match=message):
        check_values(raw, "the bench dataset x:y")


def test_cookie_credentials_carry_the_csrf_cookie_and_on_unsafe_methods_the_header():
    dataset = Dataset(
        URL,
        credentials={"session:alice": {"headers": [], "cookies": [["sessionid", "s1"]]},
                     "token:bob": {"headers": [["Authorization", "Token t"]], "cookies": []}},
        csrf={"cookie": "csrftoken", "secret": "S", "header": "X-Csrftoken", "token": "T"},
    )  # fmt: skip
    assert dataset.headers("session:alice", "GET") == [("Cookie", "sessionid=s1; csrftoken=S")]
    assert dataset.headers("session:alice", "POST") == [
        ("Cookie", "sessionid=s1; csrftoken=S"),
        ("X-Csrftoken", "T"),
    ]
    assert dataset.headers("token:bob", "POST") == [("Authorization", "Token t")]
    assert dataset.headers(None, "POST") == []


def test_titles_name_method_path_and_identity():
    assert title(BenchScenario("d", "GET", "/x/{id}/", identity="jwt:alice")) == "GET /x/{id}/ as jwt:alice"
    assert title({"method": "POST", "path": "/x/"}) == "POST /x/"
