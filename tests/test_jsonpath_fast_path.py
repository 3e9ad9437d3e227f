"""Plain dotted JSONPath expressions are matched without jsonpath-rw's find(), with the same results."""

from __future__ import annotations

import pytest
from jsonpath_rw import parse

from httsleep.conditions import Condition

DOCUMENTS = [
    {"status": "SUCCESS", "owner": {"team": "data"}, "items": [1, 2], "n": 0},
    {"status": "PENDING", "owner": {"team": None}, "items": [], "n": None},
    {"status": ["SUCCESS"], "owner": "data", "items": {"0": 1}},
    {"owner": {"team": {"name": "data"}}, "a": {"b": {"c": 3}}},
    {"$": "dollar", "status": None},
    ["SUCCESS"],
    "SUCCESS",
    3,
    None,
]
EXPRESSIONS = [
    "status",
    "$.status",
    "owner.team",
    "$.owner.team",
    "owner.team.name",
    "a.b.c",
    "items",
    "n",
    # not plain dotted paths: these keep going through find()
    "items[0]",
    "items[*]",
    "owner.*",
    "a..c",
    "status,n",
    "$",
]
EXPECTED_VALUES = ["SUCCESS", "data", None, 0, 3, [1, 2], [], {"name": "data"}, ["SUCCESS"], [1, 2, 3]]


def reference_match(compiled: object, expected: object, document: object) -> bool:
    """What the check means, computed with jsonpath-rw's own find()."""
    found = compiled.find(document)  # type: ignore[attr-defined]
    if not found:
        return False
    if len(found) == 1:
        return bool(found[0].value == expected)
    return [match.value for match in found] == expected


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_jsonpath_condition_matches_exactly_like_jsonpath_rw_find(expression):
    compiled = parse(expression)
    for expected in EXPECTED_VALUES:
        condition = Condition({"jsonpath": [{"expression": expression, "value": expected}]})
        (check,) = condition.checks  # parses the string itself
        (item,) = check.items
        for document in DOCUMENTS:
            try:
                reference = reference_match(compiled, expected, document)
            except Exception as error:  # jsonpath-rw's own failures (e.g. [0] on a dict) stay as they were
                with pytest.raises(type(error)):
                    item.matches(document)
                continue
            assert item.matches(document) == reference, (expression, expected, document)


def test_only_plain_dotted_paths_take_the_fast_path():
    """Wildcards, indexes, descendants and field lists are left to jsonpath-rw."""

    def fields(expression):
        (check,) = Condition({"jsonpath": [{"expression": expression, "value": 1}]}).checks
        return check.items[0].fields

    assert fields("status") == ("status",)
    assert fields("$.owner.team") == ("owner", "team")
    for expression in ("items[0]", "items[*]", "owner.*", "a..c", "status,n", "$"):
        assert fields(expression) is None, expression


def test_a_compiled_expression_is_always_asked_to_find():
    """An object with find() given instead of a string is used as it is."""

    class Finder:
        def __init__(self):
            self.calls = 0

        def find(self, data):
            self.calls += 1
            return parse("status").find(data)

    finder = Finder()
    condition = Condition({"jsonpath": [{"expression": finder, "value": "SUCCESS"}]})
    (check,) = condition.checks
    assert check.items[0].matches({"status": "SUCCESS"})
    assert finder.calls == 1
