"""Success and alarm conditions, compiled once at construction.

A condition is a dict of checks, all of which must hold (AND); a list of
such dicts matches when any of them does (OR). The five checks are
``status_code``, ``text``, ``json``, ``jsonpath`` and ``callback``.

:func:`compile_conditions` validates the user's dicts, parses JSONPath
strings and returns :class:`Condition` objects; the user's dicts are never
changed. Evaluating a condition needs only what ``requests.Response`` and
``httpx.Response`` share: ``status_code``, ``text`` and ``json()``.

A response whose body is not JSON cannot be judged by a ``json`` or
``jsonpath`` check: such a condition is *undecidable* for that response
(:meth:`Condition.evaluate` returns ``None``), and the caller decides what
to do once every other condition has had its say (see
:func:`evaluate_response`).
"""

from __future__ import annotations

import copy
import json as jsonlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Dict, List, Optional, Tuple, Union

from ._jsonpath import (
    MISSING,
    compile_expression,
    descend,
    descent_plan,
    field_chain,
    follow,
    jsonpath_module,
    parse_jsonpath,
)
from ._validate import is_coroutine_function, shorten
from .exceptions import JSONTooDeep

__all__ = [
    "CONDITION_KEYS",
    "SHORTHAND",
    "UNSET",
    "Condition",
    "ConditionSpec",
    "FINDINGS_MAX_BODY",
    "Verdict",
    "compile_conditions",
    "describe_findings",
    "evaluate_response",
    "parse_jsonpath",
    "shorthand_conditions",
]

#: The checks a condition dict may contain, in the order they are evaluated
#: (cheapest first; the callback, which may have side effects, last).
CONDITION_KEYS: Tuple[str, ...] = ("status_code", "text", "json", "jsonpath", "callback")

#: What ``until`` and ``alarms`` accept: one condition dict or a list of them.
ConditionSpec = Union[Mapping, Sequence[Mapping], None]


class _NotJSON(Exception):
    """The body could not be decoded as JSON (wraps the decoder's ValueError)."""

    def __init__(self, error: ValueError) -> None:
        super().__init__(error)
        self.error = error


class _Body:
    """Decodes a response's JSON body at most once, however many checks need it."""

    __slots__ = ("response", "_decoded", "_error", "_done")

    def __init__(self, response: Any) -> None:
        self.response = response
        self._done = False
        self._decoded: Any = None
        self._error: Optional[ValueError] = None

    def json(self) -> Any:
        if not self._done:
            self._done = True
            try:
                self._decoded = self.response.json()
            except ValueError as error:  # requests' and httpx's decode errors are ValueErrors
                self._error = error if isinstance(error, jsonlib.JSONDecodeError) else _as_decode_error(
                    error, self.response)
            except RecursionError:  # [[[[... deeper than the parser's recursion limit
                self._error = JSONTooDeep(response=self.response)
        if self._error is not None:
            raise _NotJSON(self._error)
        return self._decoded

    def too_deep(self) -> None:
        """A check ran out of recursion searching the decoded body: it cannot be judged either."""
        if self._error is None:
            self._error = JSONTooDeep(
                "the JSON body is nested too deeply to search or compare", response=self.response
            )


def _as_decode_error(error: ValueError, response: Any) -> ValueError:
    """A body that the JSON parser refused with a plain ``ValueError`` (an integer of over 4,300 digits), as the
    JSON decode error of the response's library: ``requests.exceptions.JSONDecodeError`` for requests, else
    :class:`json.JSONDecodeError`, so that ``ignore_exceptions`` (and the CLI) treat it as any body that is not JSON.
    """
    kind: Any = jsonlib.JSONDecodeError
    if type(response).__module__.split(".")[0] == "requests":
        import requests.exceptions

        kind = getattr(requests.exceptions, "JSONDecodeError", kind)
    decode_error: ValueError = kind("the body is not JSON a parser accepts: {}".format(error), "", 0)
    decode_error.__cause__ = error
    return decode_error


# -- the five checks ---------------------------------------------------------


class _StatusCode:
    """``status_code``: a code (``200``, ``"200"``), a class (``"2xx"``), or a list of them (any may match)."""

    __slots__ = ("expected", "codes", "classes")
    key = "status_code"

    def __init__(self, value: Any) -> None:
        items = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
        if not items:
            raise ValueError("status_code must name at least one status code, not {}".format(shorten(value)))
        normalised = [_status_item(item, value) for item in items]
        self.codes = frozenset(item for item in normalised if isinstance(item, int))
        self.classes = frozenset(int(item[0]) for item in normalised if isinstance(item, str))
        self.expected: Any = normalised[0] if not isinstance(value, (list, tuple, set, frozenset)) else normalised

    def normalised(self) -> Any:
        return copy.copy(self.expected)

    def __call__(self, body: _Body) -> bool:
        status = body.response.status_code
        return status in self.codes or (isinstance(status, int) and status // 100 in self.classes)

    def __repr__(self) -> str:
        if isinstance(self.expected, list):
            return "status_code in [{}]".format(", ".join(str(item) for item in self.expected))
        if isinstance(self.expected, str):
            return "status_code is {}".format(self.expected)
        return "status_code == {!r}".format(self.expected)


_STATUS_CODE_EXPECTED = "status_code must be an integer, a class such as '2xx', or a list of them, not {}"


def _status_item(item: Any, value: Any) -> Any:
    """One status code as an int, or a class as ``"2xx"``; a ValueError/TypeError naming ``value`` otherwise."""
    if isinstance(item, bool):
        raise TypeError(_STATUS_CODE_EXPECTED.format(shorten(value)))
    if isinstance(item, str):
        text = item.strip().lower()
        if len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
            return text
    try:
        code = int(item)
    except (ValueError, OverflowError):  # "abc", inf: a ValueError, as int() raised in 0.3.1
        raise ValueError(_STATUS_CODE_EXPECTED.format(shorten(value))) from None
    except TypeError:
        raise TypeError(_STATUS_CODE_EXPECTED.format(shorten(value))) from None
    if not isinstance(item, (int, str)) and item != code:
        raise ValueError("status_code must be a whole number, not {}".format(shorten(value)))
    return code


class _Text:
    __slots__ = ("expected",)
    key = "text"

    def __init__(self, value: Any) -> None:
        if not isinstance(value, str):
            raise TypeError("text must be a string, not {!r}".format(value))
        self.expected = value

    def normalised(self) -> Any:
        return self.expected

    def __call__(self, body: _Body) -> bool:
        return bool(body.response.text == self.expected)

    def __repr__(self) -> str:
        return "text == {}".format(_short(self.expected))


class _JSON:
    __slots__ = ("expected",)
    key = "json"

    def __init__(self, value: Any) -> None:
        self.expected = copy.deepcopy(value)

    def normalised(self) -> Any:
        return copy.deepcopy(self.expected)

    def __call__(self, body: _Body) -> bool:
        return bool(body.json() == self.expected)

    def __repr__(self) -> str:
        return "json == {}".format(_short(self.expected))


class _JSONPathItem:
    __slots__ = ("source", "expression", "expected", "fields", "descent")

    def __init__(self, item: Any, index: int) -> None:
        if not isinstance(item, Mapping):
            raise TypeError(
                "jsonpath item {} must be a dict with 'expression' and 'value', not {!r}".format(index, item)
            )
        unknown = sorted(set(item) - {"expression", "value"}, key=str)
        if unknown:
            raise ValueError("jsonpath item {!r} has unknown key(s) {}".format(dict(item), unknown))
        if "expression" not in item:
            raise ValueError("jsonpath item {!r} has no 'expression'".format(dict(item)))
        if "value" not in item:
            raise ValueError("jsonpath item {!r} has no 'value' to compare with".format(dict(item)))
        self.source = item["expression"]
        self.expected = copy.deepcopy(item["value"])
        self.expression = compile_expression(self.source)
        self.fields = field_chain(self.expression) if isinstance(self.source, str) else None
        self.descent = descent_plan(self.expression) if isinstance(self.source, str) else None

    def matches(self, data: Any) -> bool:
        fields = self.fields
        if fields is not None and jsonpath_module().auto_id_field is None:
            # A plain dotted path: the lookups jsonpath-rw would make, without its wrappers.
            value = follow(data, fields)
            return value is not MISSING and bool(value == self.expected)
        found = self.values(data)
        if not found:
            return False
        if len(found) == 1:
            return bool(found[0] == self.expected)
        return found == self.expected

    def values(self, data: Any) -> List[Any]:
        """The values the expression finds in ``data``, in jsonpath-rw's order: ``[m.value for m in find(data)]``.

        Plain dotted paths (:func:`field_chain`) and ``<dotted>..<field>[.<field>...]`` shapes
        (:func:`descent_plan`) are looked up here, without jsonpath-rw's per-node objects, unless
        jsonpath-rw's ``auto_id_field`` is set (it changes what a field finds); everything else asks
        jsonpath-rw. :raises RecursionError: the search is too deep (see :func:`descend`).
        """
        if jsonpath_module().auto_id_field is None:
            if self.fields is not None:
                value = follow(data, self.fields)
                return [] if value is MISSING else [value]
            if self.descent is not None:
                prefix, chain = self.descent
                top = follow(data, prefix)
                return [] if top is MISSING else descend(top, chain)
        return [match.value for match in self.expression.find(data)]

    def normalised(self) -> Dict[str, Any]:
        return {"expression": self.source, "value": copy.deepcopy(self.expected)}

    def __repr__(self) -> str:
        return "{} == {}".format(self.source, _short(self.expected))


class _JSONPath:
    __slots__ = ("items",)
    key = "jsonpath"

    def __init__(self, value: Any) -> None:
        if isinstance(value, Mapping):
            value = [value]
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise TypeError(
                "jsonpath must be a list of {{'expression': ..., 'value': ...}} dicts, not {!r}".format(value)
            )
        if not value:
            raise ValueError("jsonpath must contain at least one {'expression': ..., 'value': ...} dict")
        self.items = tuple(_JSONPathItem(item, index) for index, item in enumerate(value))

    def normalised(self) -> Any:
        return [item.normalised() for item in self.items]

    def __call__(self, body: _Body) -> bool:
        data = body.json()
        return all(item.matches(data) for item in self.items)

    def __repr__(self) -> str:
        return "jsonpath[{}]".format(" and ".join(repr(item) for item in self.items))


class _Callback:
    __slots__ = ("function",)
    key = "callback"

    def __init__(self, value: Any) -> None:
        if not callable(value):
            raise TypeError("callback must be callable, not {!r}".format(value))
        if is_coroutine_function(value):
            raise TypeError(
                "callback: {} is a coroutine function, which would never be awaited: conditions are checked "
                "on both front ends without awaiting; use a plain function of the response".format(shorten(value))
            )
        self.function = value

    def normalised(self) -> Any:
        return self.function

    def __call__(self, body: _Body) -> bool:
        # 001/002: only a return value of True is a match.
        return self.function(body.response) is True

    def __repr__(self) -> str:
        name = getattr(self.function, "__qualname__", None) or repr(self.function)
        return "callback {}(response) is True".format(name)


_CHECKS = {cls.key: cls for cls in (_StatusCode, _Text, _JSON, _JSONPath, _Callback)}


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- conditions --------------------------------------------------------------


class Condition:
    """One condition dict, compiled: all its checks must hold.

    :ivar source: the dict as the caller wrote it (not copied, never changed).
    """

    __slots__ = ("source", "checks")

    def __init__(self, source: Mapping) -> None:
        if not isinstance(source, Mapping):
            raise TypeError("a condition must be a dict, not {!r}".format(source))
        unknown = [key for key in source if key not in _CHECKS]
        if unknown:
            raise ValueError(
                "invalid key(s) {} in condition {!r}; valid keys are {}".format(
                    ", ".join(repr(key) for key in unknown), dict(source), ", ".join(CONDITION_KEYS)
                )
            )
        self.source = source
        self.checks = tuple(_CHECKS[key](source[key]) for key in CONDITION_KEYS if key in source)

    @classmethod
    def of(cls, source: Mapping, checks: Tuple[Any, ...]) -> Condition:
        """A condition of ``source`` whose checks were compiled already (from an equal spec)."""
        condition = cls.__new__(cls)
        condition.source = source
        condition.checks = checks
        return condition

    @property
    def spec(self) -> Dict[str, Any]:
        """A fresh normalised copy in the caller's dict form (``status_code`` an
        ``int``, ``jsonpath`` always a list); changing it changes nothing here."""
        return {check.key: check.normalised() for check in self.checks}

    def evaluate(self, body: _Body) -> Optional[bool]:
        """``True``/``False``, or ``None`` when a JSON check met a body that is not JSON.

        Checks run cheapest first and stop at the first that fails; the
        callback runs only when every other check held.
        """
        undecidable = False
        for check in self.checks:
            if undecidable and check.key == "callback":
                break
            try:
                if not check(body):
                    return False
            except _NotJSON:
                undecidable = True
            except RecursionError:
                if check.key == "callback":  # the caller's own code: its error is its own
                    raise
                body.too_deep()
                undecidable = True
        return None if undecidable else True

    def matches(self, response: Any) -> bool:
        """Whether ``response`` meets this condition.

        :raises ValueError: a JSON check met a body that is not JSON.
        """
        body = _Body(response)
        result = self.evaluate(body)
        if result is None and body._error is not None:
            raise body._error
        return bool(result)

    def __repr__(self) -> str:
        return "<Condition {}>".format(" and ".join(repr(check) for check in self.checks))


def compile_conditions(value: ConditionSpec, what: str = "until") -> Tuple[Condition, ...]:
    """Validate and compile ``until``/``alarms``: a dict (AND) or a list of dicts (OR).

    Empty dicts are skipped, as in httsleep 0.3.1. The compiled checks of
    the last few hundred specs are kept (:func:`_frozen` says which specs
    can be): a thousand polls created with the same conditions compile them
    once, each :class:`Condition` keeping its own caller's dict as ``source``.

    :raises TypeError: ``value`` or one of its entries has the wrong type.
    :raises ValueError: an unknown key, a JSONPath that does not parse, a
        jsonpath item without ``value``, ...
    """
    if value is None:
        return ()
    if isinstance(value, Mapping):
        items: List[Any] = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise TypeError("{} must be a dict or a list of dicts, not {!r}".format(what, value))
    items = [item for item in items if not (isinstance(item, Mapping) and not item)]
    key = _frozen(items)
    if key is not None:
        known = _COMPILED.get(key)
        if known is not None:
            return tuple(Condition.of(item, checks) for item, checks in zip(items, known))
    conditions = tuple(Condition(item) for item in items)
    if key is not None:
        with _COMPILED_LOCK:
            if len(_COMPILED) >= _COMPILED_KEPT:
                del _COMPILED[next(iter(_COMPILED))]  # the oldest
            _COMPILED[key] = tuple(condition.checks for condition in conditions)
    return conditions


#: the compiled checks of recent condition specs, by :func:`_frozen` spec; the oldest goes first
_COMPILED: Dict[Any, Tuple[Tuple[Any, ...], ...]] = {}
_COMPILED_KEPT = 256
_COMPILED_LOCK = threading.Lock()
_SCALARS = (str, int, float, bool, type(None))


class _Same:
    """A value compared by identity in a spec's key (a function, a parsed JSONPath); holds it, so its id stays its."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value

    def __hash__(self) -> int:
        return id(self.value)


def _frozen(value: Any, depth: int = 0) -> Any:
    """A hashable stand-in for a condition spec, equal only for specs that compile alike; ``None``: not kept.

    Types are part of it (``1``, ``1.0`` and ``True`` differ, as do a list
    and a tuple); functions and parsed JSONPaths count by identity; any
    other object, or a spec nested deeper than a few levels, is not kept.
    """
    if depth > 8:
        return None
    kind = type(value)
    if kind in _SCALARS:
        return (kind, value)
    if kind in (dict, list, tuple):
        pairs = value.items() if kind is dict else enumerate(value)
        frozen = []
        for name, item in pairs:
            item_key = _frozen(item, depth + 1)
            if item_key is None or type(name) not in _SCALARS:
                return None
            frozen.append((name, item_key))
        return (kind, tuple(frozen))
    if callable(value) or hasattr(value, "find"):
        return _Same(value)
    return None


class Verdict:
    """What the conditions say about one response."""

    __slots__ = ("alarm", "success", "undecided")

    def __init__(
        self, alarm: Optional[Condition], success: bool, undecided: Optional[ValueError]
    ) -> None:
        #: the first alarm that matched, if any
        self.alarm = alarm
        #: whether a success condition matched (and no alarm did)
        self.success = success
        #: the JSON decode error, when nothing matched and some condition
        #: could not be judged because the body is not JSON
        self.undecided = undecided


def evaluate_response(
    response: Any, alarms: Sequence[Condition], until: Sequence[Condition]
) -> Verdict:
    """Judge one response: alarms first, then success conditions.

    A condition that cannot be judged because the body is not JSON does not
    stop the others; the decode error is reported only when nothing matched.
    """
    body = _Body(response)
    undecided = False
    for condition in alarms:
        result = condition.evaluate(body)
        if result:
            return Verdict(condition, False, None)
        undecided = undecided or result is None
    for condition in until:
        result = condition.evaluate(body)
        if result:
            return Verdict(None, True, None)
        undecided = undecided or result is None
    return Verdict(None, False, body._error if undecided else None)


# -- the shorthand keywords (status_code=200, json=..., as one AND condition) ----------------


class _Unset:
    """Marks a shorthand condition keyword that was not given (``None`` is a valid JSON value)."""

    def __repr__(self) -> str:
        return "<not given>"


UNSET: Any = _Unset()
SHORTHAND = ("status_code", "text", "json", "jsonpath", "callback")


def shorthand_conditions(status_code: Any, text: Any, json: Any, jsonpath: Any, callback: Any) -> dict:
    """The shorthand condition keywords that were given, as one ``until`` dict.

    ``None`` means "not given" for all but ``json``, whose ``None`` is a
    condition (the body is JSON ``null``): it is not given when it is :data:`UNSET`.
    """
    given = {key: value for key, value in zip(SHORTHAND, (status_code, text, None, jsonpath, callback))
             if value is not None}
    if json is not UNSET:
        given["json"] = json
    return {key: given[key] for key in SHORTHAND if key in given}


# -- what the JSONPath checks found, for a give-up message -------------------------------------


#: The largest body whose JSONPath findings a give-up message reports: searching it again costs time.
FINDINGS_MAX_BODY = 64 * 1024


def describe_findings(conditions: Sequence[Condition], response: Any) -> str:
    """What the JSONPath checks of ``conditions`` found in ``response``, for the message of a poll that gave up.

    ``status found nothing``; ``status found 'RUNNING'``; ``jobs[*].status found 2 values, ['done', 'running'],
    which the value must equal as one list``. Each expression is reported once. Empty when no condition has a
    JSONPath check, or the body is not JSON or larger than :data:`FINDINGS_MAX_BODY` bytes.
    """
    items = [item for condition in conditions for check in condition.checks
             if isinstance(check, _JSONPath) for item in check.items]
    content = getattr(response, "content", None)
    if not items or not isinstance(content, (bytes, bytearray)) or len(content) > FINDINGS_MAX_BODY:
        return ""
    try:
        data = response.json()
    except (ValueError, RecursionError):
        return ""
    said: List[str] = []
    for item in items:
        name = item.source if isinstance(item.source, str) else str(item.expression)
        if any(line.startswith(name + " found") for line in said):
            continue
        try:
            values = item.values(data)
        except RecursionError:
            continue
        if not values:
            said.append("{} found nothing".format(name))
        elif len(values) == 1:
            said.append("{} found {}".format(name, _short(values[0])))
        else:
            said.append("{} found {} values, {}, which the value must equal as one list".format(
                name, len(values), _short(values)))
    return "; ".join(said)
