"""JSONPath expressions: parsed once, and the common shapes searched without jsonpath-rw's per-node objects.

jsonpath-rw parses and searches every expression; its ``find()`` builds a
``DatumInContext``, a path object and a list for every node it visits,
recursively, which costs seconds on a large body (a ``$..status`` over a
2 MiB array). Two shapes are looked up here instead, with exactly its
results in exactly its order:

- a plain dotted path (``status``, ``$.owner.team``): :func:`field_chain`
  and :func:`follow`;
- one descendant step with plain fields around it (``$..status``,
  ``jobs..state``, ``$.data..job.status``): :func:`descent_plan` and
  :func:`descend`, an iterative walk.

Everything else asks jsonpath-rw. :mod:`httsleep.conditions` decides which.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, List, Optional, Tuple

__all__ = ["MISSING", "compile_expression", "descend", "descent_plan", "field_chain", "follow", "jsonpath_module",
           "parse_jsonpath"]


@functools.lru_cache(maxsize=1024)
def parse_jsonpath(expression: str) -> Any:
    """Parse once per distinct string, however many pollers use it (a parse costs milliseconds).

    jsonpath-rw's expression objects are not changed by ``find()``, so
    pollers can share them.
    """
    from jsonpath_rw import parse  # imported on first use: it is slow to import

    try:
        return parse(expression)
    except AttributeError:  # what jsonpath-rw's parser raises when the input ends mid-expression
        reason = "the expression is empty or ends too early"
    except Exception as error:  # jsonpath-rw raises bare Exceptions for syntax errors
        reason = str(error).strip()
    raise ValueError("invalid JSONPath expression {!r}: {}".format(expression, reason))


def compile_expression(expression: Any) -> Any:
    if isinstance(expression, str):
        return parse_jsonpath(expression)
    if callable(getattr(expression, "find", None)):
        return expression
    raise TypeError(
        "jsonpath expression must be a string or a compiled JSONPath with a find() method, "
        "not {!r}".format(expression)
    )


def jsonpath_module() -> Any:
    import jsonpath_rw.jsonpath  # already imported by parse(); a dict lookup from here on

    return jsonpath_rw.jsonpath


def _single_field(module: Any, node: Any) -> Optional[str]:
    """The name of a ``Fields`` node naming one field that is not the wildcard ``*``, else ``None``."""
    if type(node) is module.Fields and len(node.fields) == 1 and node.fields[0] != "*":
        return str(node.fields[0])
    return None


def _trailing_fields(module: Any, node: Any) -> Optional[Tuple[Tuple[str, ...], Any]]:
    """``(names, inner)`` for ``inner.n1.n2...`` (``Child`` nodes whose right sides are single fields), else ``None``.

    ``names`` are in path order; ``inner`` is what is left of the expression
    once they are taken off (``node`` itself when it is no ``Child``).
    """
    names: List[str] = []
    while type(node) is module.Child:
        name = _single_field(module, node.right)
        if name is None:
            return None
        names.append(name)
        node = node.left
    return tuple(reversed(names)), node


def field_chain(expression: Any) -> Optional[Tuple[str, ...]]:
    """The field names of a plain dotted path (``a.b``, ``$.a.b``) parsed by jsonpath-rw, else ``None``.

    Such a path matches exactly when each name, in turn, indexes the
    value found so far; :meth:`httsleep.conditions._JSONPathItem.matches` does those lookups
    itself, several times faster than ``find()``. ``..`` shapes may take
    :func:`descent_plan`; anything else (wildcards, indexes, slices,
    filters, several fields) goes through ``find()``.
    """
    module = jsonpath_module()
    walked = _trailing_fields(module, expression)
    if walked is None:
        return None
    names, node = walked
    name = _single_field(module, node)
    if name is not None:
        return (name,) + names
    return names if type(node) is module.Root and names else None


def descent_plan(expression: Any) -> Optional[Tuple[Tuple[str, ...], Tuple[str, ...]]]:
    """``(prefix, chain)`` for an expression with one descendant step and plain fields around it, else ``None``.

    The shapes, as jsonpath-rw parses them (it has no leading ``..``; ``$..x`` is the way to say it)::

        $..status            Descendants(Root, status)                    ((), ("status",))
        jobs..state          Descendants(jobs, state)                     (("jobs",), ("state",))
        $.data..job.status   Descendants($.data, Child(job, status))      (("data",), ("job", "status"))
        (a..b).c             Child(Descendants(a, b), c)                  (("a",), ("b", "c"))

    i.e. the left of ``..`` is ``$`` or a plain dotted path (:func:`field_chain`), the right a
    dotted chain of single, non-wildcard field names, and the whole may be followed by more
    such fields. ``(a..b).c`` and ``a..b.c`` find the same values in the same order: both are
    "each node, in pre-order, that has ``b`` whose value has ``c``". Everything else keeps
    jsonpath-rw: ``*``, indexes, slices, field lists (``a,b``), ``|``, ``where``, `` `this` ``,
    ``$`` or `` `parent` `` right of ``..`` (they look outside the node), and a second ``..``
    (whose repeated searches of nested matches are not linear).
    """
    module = jsonpath_module()
    walked = _trailing_fields(module, expression)  # (a..b).c.d: fields looked up in each match, in turn
    if walked is None or type(walked[1]) is not module.Descendants:
        return None
    suffix, node = walked
    if type(node.left) is module.Root:
        prefix: Tuple[str, ...] = ()
    else:
        left = field_chain(node.left)
        if left is None:
            return None
        prefix = left
    walked = _trailing_fields(module, node.right)  # a..b.c parses as Descendants(a, Child(b, c)); no Root, no This
    name = None if walked is None else _single_field(module, walked[1])
    if walked is None or name is None:
        return None
    return prefix, (name,) + walked[0] + suffix


#: No value: what :func:`follow` returns when a field is missing (``None`` is a JSON value).
MISSING: Any = object()
#: The decoded JSON types that have no fields and no children: indexing one by a name raises
#: TypeError (jsonpath-rw's "no such field") and a search does not go into it.
_JSON_SCALARS = frozenset((str, int, float, bool, type(None)))
#: The frames jsonpath-rw's recursive search spends on each level of nesting: ``match_recursively`` and,
#: before Python 3.12 inlined comprehensions (PEP 709), the list comprehension that calls it again.
_FRAMES_PER_LEVEL = 1 if sys.version_info >= (3, 12) else 2


def follow(value: Any, names: Tuple[str, ...]) -> Any:
    """``value[n1][n2]...``, or :data:`MISSING` where jsonpath-rw's ``Fields`` finds nothing."""
    for name in names:
        try:
            value = value[name]
        except (TypeError, KeyError, AttributeError):  # what Fields.get_field_datum catches
            return MISSING
    return value


def _deepest_level_jsonpath_rw_could_reach() -> int:
    """The deepest level under ``..``'s left match that jsonpath-rw's ``find()``, called by our caller's caller
    instead of :func:`descend`, could search without running out of recursion.

    A lower bound of the frames it needs to look at a node ``level`` levels down: the frames already
    on the stack, ``Descendants.find``, (before 3.12) its comprehension, ``match_recursively`` and
    (before 3.12) a comprehension per level, and the right-hand ``find`` it calls at every node --
    ``stack + k * level + k + 2`` with ``k`` = :data:`_FRAMES_PER_LEVEL`. Past the level where that
    exceeds the recursion limit jsonpath-rw certainly raises RecursionError.
    """
    stack = 0
    frame: Any = sys._getframe(2)  # the caller of descend, which would have called find() instead
    while frame is not None:
        stack += 1
        frame = frame.f_back
    k = _FRAMES_PER_LEVEL
    return (sys.getrecursionlimit() - stack - k - 2) // k


def descend(top: Any, chain: Tuple[str, ...]) -> List[Any]:
    """``[m.value for m in parse("<top>..c1.c2...").find(...)]`` without jsonpath-rw: the same values, same order.

    jsonpath-rw's ``Descendants`` visits ``top`` and everything in it in pre-order -- at each
    node, first the chain's match there, then each child in turn (a dict's values in key
    order, a list's items in order), going into ``dict`` and ``list`` (subclasses included)
    and nothing else. This walk does the same without recursion: a stack holds an iterator
    over the children of each container on the way down from ``top``; a node's match is taken
    when the node is reached, and a container with children pushes an iterator over them, so
    its first child is searched, whole, before its second.

    Cost: every node under ``top`` is reached once, with one dict lookup for a dict, plus
    ``len(chain) - 1`` lookups per match: O(nodes + matches x len(chain)) time, plus
    O(frames on the stack) once (:func:`_deepest_level_jsonpath_rw_could_reach`). Nothing is
    built per node (jsonpath-rw builds a ``DatumInContext``, a path object and a list for
    each): memory is one iterator per level of nesting on the way down, and the list of
    matches. A list of JSON scalars only -- no fields, no children, nothing to find -- is
    not walked at all: one pass over its item types, at C speed, tells.

    Nesting: the walk itself has no depth limit, but where jsonpath-rw would certainly run out
    of recursion (:func:`_deepest_level_jsonpath_rw_could_reach`) it raises RecursionError as
    jsonpath-rw does, which :meth:`httsleep.conditions.Condition.evaluate` reports as
    :class:`~httsleep.exceptions.JSONTooDeep`. So it
    never raises where jsonpath-rw finds values; within the few levels that bound leaves out
    (two or three frames' worth, more before Python 3.12, where a call from C code costs
    recursion that the frames do not show), it finds values where jsonpath-rw would have raised.
    """
    name, rest = chain[0], chain[1:]
    deepest = _deepest_level_jsonpath_rw_could_reach()
    if deepest < 0:
        raise RecursionError("no recursion left to search the JSON document")
    scalars = _JSON_SCALARS
    found: List[Any] = []
    # levels[d] iterates over the nodes d levels under top that are still to be searched.
    levels: List[Any] = [iter((top,))]
    while levels:
        for node in levels[-1]:
            kind = type(node)
            children: Any
            if kind is dict:
                value = node.get(name, MISSING)
                if value is not MISSING:
                    if rest:
                        value = follow(value, rest)
                    if value is not MISSING:
                        found.append(value)
                if not node:
                    continue
                children = node.values()
            elif kind is list:
                if not node:
                    continue
                if len(levels) > deepest:
                    raise RecursionError("the JSON document is nested too deeply to search")
                if set(map(type, node)) <= scalars:
                    continue
                children = node
            elif kind in scalars:
                continue
            else:  # not a type json decodes to: do with it exactly what jsonpath-rw does
                value = follow(node, chain)
                if value is not MISSING:
                    found.append(value)
                if isinstance(node, list):
                    children = [node[index] for index in range(len(node))]
                elif isinstance(node, dict):
                    children = [node[key] for key in node.keys()]
                else:
                    continue
                if not children:
                    continue
            if len(levels) > deepest:  # the children are one level deeper than jsonpath-rw could go
                raise RecursionError("the JSON document is nested too deeply to search")
            levels.append(iter(children))
            break  # search the children first; this level's iterator resumes after them
        else:
            levels.pop()  # every node at this level searched
    return found
