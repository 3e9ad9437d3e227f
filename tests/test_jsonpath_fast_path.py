"""Plain dotted JSONPath expressions, and ``<dotted>..<field>[.<field>...]`` searches, are matched without
jsonpath-rw's find(), with the same results."""

from __future__ import annotations

import json

import jsonpath_rw.jsonpath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonpath_rw import parse

from httsleep import JSONTooDeep
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
    """Wildcards, indexes, descendants and field lists are not plain dotted paths."""

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


# -- descendant searches: <dotted>..<field>[.<field>...] ------------------------------------------------------------


def item_of(expression, value=1):
    (check,) = Condition({"jsonpath": [{"expression": expression, "value": value}]}).checks
    (item,) = check.items
    return item


def jsonpath_rw_values(item, document):
    """What jsonpath-rw finds, asked from where ``item.values()`` would ask it (the same depth of stack)."""
    return [match.value for match in item.expression.find(document)]


class JSONResponse:
    status_code = 200

    def __init__(self, text):
        self.text = text

    def json(self):
        return json.loads(self.text)


KEYS = ("a", "b", "status")
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["done", "a", ""]), st.sampled_from([0.0, 1.5])
)
JSON_DOCUMENTS = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.sampled_from(KEYS), children, max_size=3)
    ),
    max_leaves=25,
)


@st.composite
def descendant_expressions(draw):
    """``$..f``, ``a.b..f``, ``$.a..f.g``, ``(a..f).g``: the shapes searched without jsonpath-rw."""
    prefix = draw(st.lists(st.sampled_from(KEYS), max_size=2))
    if not prefix or draw(st.booleans()):
        prefix = ["$"] + prefix
    left = ".".join(prefix) + ".." + draw(st.sampled_from(KEYS))
    rest = draw(st.lists(st.sampled_from(KEYS), max_size=2))
    if rest and draw(st.booleans()):
        return "({}).{}".format(left, ".".join(rest))
    return ".".join([left] + rest)


@settings(max_examples=300, deadline=None)
@given(document=JSON_DOCUMENTS, expression=descendant_expressions(), data=st.data())
def test_a_descendant_search_finds_what_jsonpath_rw_finds_in_the_same_order(document, expression, data):
    item = item_of(expression)
    assert item.descent is not None, expression  # searched without find()
    reference = jsonpath_rw_values(item, document)
    found = item.values(document)
    assert len(found) == len(reference) and all(a is b for a, b in zip(found, reference)), (expression, document)
    candidates = [JSON_DOCUMENTS, st.just(list(reference))]
    if reference:
        candidates.append(st.sampled_from(reference))
    expected = data.draw(st.one_of(candidates), label="expected")
    checked = item_of(expression, expected)
    assert checked.matches(document) == reference_match(checked.expression, expected, document)


ORDERED_DOCUMENT = {
    "status": 0,
    "a": {"status": 1, "b": {"status": 2}},
    "b": [{"status": 3, "x": [{"status": 4}]}, [{"status": 5}], {"a": {"status": {"status": 6}}}],
    "c": {"status": 7},
}


@pytest.mark.parametrize(
    "expression, values",
    [
        ("$..status", [0, 1, 2, 3, 4, 5, {"status": 6}, 6, 7]),
        ("b..status", [3, 4, 5, {"status": 6}, 6]),
        ("$..a.status", [1, {"status": 6}]),
        ("($..a).status", [1, {"status": 6}]),
        ("$..status.status", [6]),
        ("$..a.status.status", [6]),
        ("(b..a).status.status", [6]),
        ("$..b.status", [2]),
        ("nothing..status", []),
    ],
)
def test_a_descendant_search_goes_node_first_then_children_in_order(expression, values):
    """Pre-order, as jsonpath-rw: a node's own match, then each child's whole subtree, dict keys in insertion order."""
    item = item_of(expression)
    assert item.descent is not None
    assert item.values(ORDERED_DOCUMENT) == jsonpath_rw_values(item, ORDERED_DOCUMENT) == values


def test_the_descendant_shapes_searched_without_jsonpath_rw():
    assert item_of("$..status").descent == ((), ("status",))
    assert item_of("jobs..state").descent == (("jobs",), ("state",))
    assert item_of("$.data..job.status").descent == (("data",), ("job", "status"))
    assert item_of("a.b..c.d.e").descent == (("a", "b"), ("c", "d", "e"))
    assert item_of("(a..b).c").descent == (("a",), ("b", "c"))
    assert item_of('$.."x y"').descent == ((), ("x y",))
    assert item_of("a.b").descent is None  # plain dotted paths have their own way
    assert item_of("a.b").fields == ("a", "b")


NOT_SEARCHED_WITHOUT_JSONPATH_RW = [
    "$..*",  # every value: a wildcard
    '$.."*"',  # jsonpath-rw reads a quoted * as the wildcard too
    "$..[0]",
    "$..[*]",
    "$..a[0]",
    "$..a[*]",
    "$..a.*",
    "a[*].b",
    "$..a,b",  # a field list
    "$..a|b",  # a union
    "$..a where b",
    "$..a..b",  # a second descent
    "$.a..b..c",
    "`this`..a",
    "a..$",
    "$..a.$",
    "$..`parent`",
    "a.(b..c)",
    "$",
]
DESCENT_DOCUMENTS = DOCUMENTS + [
    {"a": {"a": {"b": 1, "status": "done"}}, "b": [{"a": {"b": 2}}, [0, {"b": 3}]]},
    [{"a": 1}, {"a": [{"a": 2}]}, {"b": {"a": {"a": 3}}}],
]


@pytest.mark.parametrize("expression", NOT_SEARCHED_WITHOUT_JSONPATH_RW)
def test_other_expressions_still_ask_jsonpath_rw_and_match_as_before(expression):
    compiled = parse(expression)
    assert item_of(expression).descent is None and item_of(expression).fields is None
    for expected in EXPECTED_VALUES + [[1, 2], [1], 1]:
        item = item_of(expression, expected)
        for document in DESCENT_DOCUMENTS:
            try:
                reference = reference_match(compiled, expected, document)
            except Exception as error:  # e.g. [0] on a dict: jsonpath-rw's own failures stay as they were
                with pytest.raises(type(error)):
                    item.matches(document)
                continue
            assert item.matches(document) == reference, (expression, expected, document)


def test_with_jsonpath_rw_auto_id_field_set_descendant_searches_ask_jsonpath_rw(monkeypatch):
    """auto_id_field makes a field of that name find made-up ids: only jsonpath-rw knows them."""
    document = {"a": {"b": 1}, "id": "x"}
    item = item_of("$..id", ["x", "x.a", "x.a.b", "x.id"])
    assert item.values(document) == ["x"] and not item.matches(document)
    monkeypatch.setattr(jsonpath_rw.jsonpath, "auto_id_field", "id")
    assert item.values(document) == jsonpath_rw_values(item, document) == ["x", "x.a", "x.a.b", "x.id"]
    assert item.matches(document)


class DatumInContextBuilt(AssertionError):
    pass


@pytest.fixture
def no_datum_in_context(monkeypatch):
    """jsonpath-rw's find() builds a DatumInContext for every node it visits: here, building one fails."""

    class Refused(jsonpath_rw.jsonpath.DatumInContext):
        def __init__(self, *args, **kwargs):
            raise DatumInContextBuilt("jsonpath-rw's find() was asked")

    monkeypatch.setattr(jsonpath_rw.jsonpath, "DatumInContext", Refused)
    with pytest.raises(DatumInContextBuilt):
        parse("$..status").find([0])


ZEROS = "[" + ", ".join(["0"] * 700_000) + "]"  # 2 MiB


def test_a_descendant_search_of_a_2_mib_array_of_zeros_builds_nothing_per_node(no_datum_in_context):
    assert len(ZEROS) >= 2 * 1024 * 1024
    condition = Condition({"jsonpath": [{"expression": "$..status", "value": "done"}]})
    assert condition.matches(JSONResponse(ZEROS)) is False
    condition = Condition({"jsonpath": [{"expression": "$..status", "value": 0}]})
    assert condition.matches(JSONResponse("[" + ZEROS + ", {\"status\": 0}]")) is True


def test_a_descendant_search_of_700_000_nodes_in_small_objects_builds_nothing_per_node(no_datum_in_context):
    text = "[" + ", ".join(['{"id": 0, "tags": [{}, "x"]}'] * 140_000 + ['0, {"job": {"status": "done"}}']) + "]"
    document = json.loads(text)
    item = item_of("$..job.status", "done")
    assert item.values(document) == ["done"]
    assert item.matches(document)
    assert Condition({"jsonpath": [{"expression": "$..status", "value": "done"}]}).matches(JSONResponse(text))


def nested(levels, leaf):
    """``leaf`` ``levels`` levels under the top: dicts and lists in turn."""
    node = leaf
    for level in range(levels):
        node = {"x": node} if level % 2 else [node]
    return node


def test_a_descendant_search_answers_wherever_jsonpath_rw_answers_however_deep():
    """The walk has no recursion; it gives up only where jsonpath-rw's recursion certainly would."""
    item = item_of("$..status")
    low, high = 1, 20_000  # jsonpath-rw answers at low and not at high
    while high - low > 1:
        middle = (low + high) // 2
        try:
            jsonpath_rw_values(item, nested(middle, {"status": 1}))
        except RecursionError:
            high = middle
        else:
            low = middle
    for levels in range(low - 3, low + 1):
        document = nested(levels, {"status": 1})
        assert item.values(document) == jsonpath_rw_values(item, document) == [1]
    # A few levels past where jsonpath-rw gives up (more before Python 3.12, whose calls from C code
    # cost recursion that the count of frames does not see), the search gives up too.
    with pytest.raises(RecursionError):
        item.values(nested(low + 50, {"status": 1}))


def test_a_document_too_deep_for_jsonpath_rw_to_search_is_json_too_deep():
    """Deeper than jsonpath-rw could search: RecursionError, as before, which a condition reports as JSONTooDeep."""
    import sys

    document = nested(sys.getrecursionlimit(), 0)
    item = item_of("$..status")
    with pytest.raises(RecursionError):
        jsonpath_rw_values(item, document)
    with pytest.raises(RecursionError):
        item.values(document)

    class Deep:
        status_code = 200
        text = ""

        def json(self):
            return document

    with pytest.raises(JSONTooDeep):
        Condition({"jsonpath": [{"expression": "$..status", "value": 1}]}).matches(Deep())
