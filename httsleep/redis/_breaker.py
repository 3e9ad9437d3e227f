"""Circuit breakers kept in Redis, shared by every process that names the same circuit.

:class:`RedisCircuitBreaker` (blocking, for :class:`~httsleep.HttSleeper`
and :meth:`CircuitBreaker.call`-style code) and
:class:`AsyncRedisCircuitBreaker` (:mod:`redis.asyncio`, for
:class:`~httsleep.AsyncHttSleeper`) make the decisions of the local
:class:`~httsleep.CircuitBreaker`, with its state in one Redis hash per
circuit, so that a whole fleet of pollers breaks together. Both use the
same two Lua scripts and the same keys: a mixed fleet shares one circuit.

The scripts (``admit`` and ``settle``) read the clock of Redis (``TIME``)
and change the state in one round trip, atomically:

- ``gen``: the generation, a new number at every state change (never
  reused, even after the hash is lost): a ticket remembers the generation
  it was admitted in, and its outcome is ignored once it has changed;
- ``opened``: when the circuit broke (microseconds; absent: closed);
- ``fails``: the times of the failures in the window (closed);
- ``trials``: the trial leases (half-open), ``id:admitted``; a lease older
  than ``reset_timeout`` is dropped at the next admission, freeing its slot;
- ``seq``: the last trial id given; ``last``: the last failure, for messages.

When Redis cannot be reached in time (down, stopped, a network partition),
no error reaches the poll: the breaker falls back (``fallback=``) and
probes Redis again at most every ``probe_interval`` seconds (plus up to
20 % of jitter, so that a fleet does not probe in step).
"""

from __future__ import annotations

import time
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import redis
import redis.asyncio

from .. import instrumentation
from .._logs import log
from .._validate import ArgumentTypeError, positive_int, seconds, shorten
from ..exceptions import CircuitBrokenError
from ..messages import excerpt
from ..resilience import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, Ticket
from ._backend import Backend
from ._client import BACKEND_ERRORS, DEFAULT_SOCKET_TIMEOUT, async_client, sync_client
from ._client import socket_timeout as check_socket_timeout

__all__ = [
    "FALLBACKS",
    "AsyncRedisCircuitBreaker",
    "AsyncRedisTicket",
    "RedisCircuitBreaker",
    "RedisTicket",
]

#: What a breaker does while Redis cannot be reached.
FALLBACKS = ("local", "open", "closed")

DEFAULT_KEY_PREFIX = "httsleep:breaker:"
DEFAULT_PROBE_INTERVAL = 5.0
_TEXT_LIMIT = 200

# -- the scripts ------------------------------------------------------------------------

# Shared by both scripts: the time (Redis TIME plus the offset tests give, in microseconds),
# numbers written as whole decimals (Lua's tostring keeps 14 digits, a time in microseconds has 16),
# the generation (made once per hash, from the time, so that it is never reused after a FLUSHALL),
# and the state at a given time: 0 closed, 1 half-open, 2 open (and the microseconds left).
_PRELUDE = """
local key = KEYS[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2]) + tonumber(ARGV[1])
local reset = tonumber(ARGV[2])
local function whole(n) return string.format('%.0f', n) end
local opened, gen, fails, trials, last = unpack(redis.call('HMGET', key, 'opened', 'gen', 'fails', 'trials', 'last'))
if opened then opened = tonumber(opened) else opened = nil end
if not gen then
  gen = whole(now)
  redis.call('HSET', key, 'gen', gen)
end
last = last or ''
local function status()
  if not opened then return 0, 0 end
  if now < opened + reset then return 2, opened + reset - now end
  return 1, 0
end
local function words(text)
  local found = {}
  if text then
    for word in string.gmatch(text, '%S+') do found[#found + 1] = word end
  end
  return found
end
local function bump()
  gen = whole(math.max(tonumber(gen) + 1, now))
end
"""

# ARGV: offset, reset (microseconds), half_open_trials.
# Returns {verdict, generation, trial id, microseconds until a trial, failures in the window, last failure};
# verdict: 0 admitted (closed), 1 admitted as a trial, 2 refused (open), 3 refused (half-open, slots taken).
_ADMIT = _PRELUDE + """
local slots = tonumber(ARGV[3])
local state, remaining = status()
if state == 0 then
  local counted = 0
  for _, at in ipairs(words(fails)) do
    if tonumber(at) >= now - reset then counted = counted + 1 end
  end
  return {0, gen, 0, 0, counted, last}
end
if state == 2 then
  return {2, gen, 0, remaining, 0, last}
end
local kept = {}
for _, lease in ipairs(words(trials)) do
  local at = tonumber(string.match(lease, ':(%d+)$'))
  if now - at < reset then kept[#kept + 1] = lease end
end
if #kept < slots then
  local ident = redis.call('HINCRBY', key, 'seq', 1)
  kept[#kept + 1] = ident .. ':' .. whole(now)
  redis.call('HSET', key, 'trials', table.concat(kept, ' '))
  return {1, gen, ident, 0, 0, last}
end
redis.call('HSET', key, 'trials', table.concat(kept, ' '))
return {3, gen, 0, 0, 0, last}
"""

# ARGV: offset, reset (microseconds), outcome ('success', 'failure' or 'cancel'), the ticket's generation,
# its trial id (0: not a trial), threshold, the failure's description.
# Returns {failures in the window before this one, state after (0/1/2), microseconds until a trial, generation,
# last failure, failures in the window now}.
_SETTLE = _PRELUDE + """
local outcome, ticket_gen, ident = ARGV[3], ARGV[4], ARGV[5]
local threshold = tonumber(ARGV[6])
local function open(why)
  opened = now
  bump()
  last = why
  redis.call('HSET', key, 'opened', whole(now), 'gen', gen, 'last', why)
  redis.call('HDEL', key, 'fails', 'trials')
  fails = false
end
local function close()
  opened = nil
  bump()
  last = ''
  redis.call('HSET', key, 'gen', gen)
  redis.call('HDEL', key, 'opened', 'fails', 'trials', 'last')
  fails = false
end
local function reply(before)
  local state, remaining = status()
  local counted = 0
  if state == 0 then
    for _, at in ipairs(words(fails)) do
      if tonumber(at) >= now - reset then counted = counted + 1 end
    end
  end
  return {before, state, remaining, gen, last, counted}
end
local pending = false
if ident ~= '0' then
  local kept = {}
  for _, lease in ipairs(words(trials)) do
    if string.match(lease, '^(%d+):') == ident then pending = true else kept[#kept + 1] = lease end
  end
  if pending then
    if #kept > 0 then redis.call('HSET', key, 'trials', table.concat(kept, ' '))
    else redis.call('HDEL', key, 'trials') end
  end
end
if ticket_gen ~= gen or outcome == 'cancel' then return reply(0) end
if ident ~= '0' then
  if pending then
    if outcome == 'success' then close() else open(ARGV[7]) end
  end
  return reply(0)
end
if outcome == 'success' then return reply(0) end
local kept = {}
for _, at in ipairs(words(fails)) do
  if tonumber(at) >= now - reset then kept[#kept + 1] = at end
end
local before = #kept
kept[#kept + 1] = whole(now)
if #kept >= threshold then
  open(ARGV[7])
else
  last = ARGV[7]
  fails = table.concat(kept, ' ')
  redis.call('HSET', key, 'fails', fails, 'last', last)
end
return reply(before)
"""

_STATES = {0: CLOSED, 1: HALF_OPEN, 2: OPEN, 3: HALF_OPEN}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _failure_text(exc: Union[BaseException, str, None]) -> str:
    if exc is None:
        return ""
    return excerpt(exc if isinstance(exc, str) else repr(exc), _TEXT_LIMIT)


def _offset(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentTypeError("time_offset must be a number of seconds, not {}".format(shorten(value)))
    return float(value)


def _circuit_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("name must be a non-empty string (the circuit every process shares), not {}".format(
            shorten(value)))
    if "{" in value or "}" in value:
        raise ValueError("name must not contain braces (it becomes the Redis Cluster hash tag), not {}".format(
            shorten(value)))
    return value


# -- what both breakers share ------------------------------------------------------------


class _Circuit:
    """The arguments, the cached state and the fallback of one breaker; no I/O.

    The front classes do the Redis calls and hand the replies here.
    """

    def __init__(
        self,
        owner: str,
        name: Any,
        threshold: Any,
        reset_timeout: Any,
        half_open_trials: Any,
        key_prefix: Any,
        fallback: Any,
        probe_interval: Any,
        on_backend: Any,
        time_offset: Any,
    ) -> None:
        self.name = _circuit_name(name)
        self.threshold = positive_int(threshold, "threshold")
        self.reset_timeout = seconds(reset_timeout, "reset_timeout", positive=True)
        self.half_open_trials = positive_int(half_open_trials, "half_open_trials")
        if not isinstance(key_prefix, str):
            raise TypeError("key_prefix must be a string, not {}".format(shorten(key_prefix)))
        if fallback not in FALLBACKS:
            raise ValueError("fallback must be one of {}, not {}".format(", ".join(map(repr, FALLBACKS)),
                                                                        shorten(fallback)))
        self.fallback: str = fallback
        self.backend = Backend(self.name, probe_interval, on_backend)
        self.time_offset = _offset(time_offset)
        self.owner = owner
        #: The Redis key of the circuit: one hash, its name the Redis Cluster hash tag.
        self.key = "{}{{{}}}".format(key_prefix, self.name)
        self._reset_us = int(round(self.reset_timeout * 1e6))
        self._state = CLOSED  # as Redis last reported it
        self._open_until: Optional[float] = None  # monotonic time the reported open period ends
        self._failures = 0
        self._last_failure = ""
        self._local: Optional[CircuitBreaker] = None

    # -- arguments of the scripts

    def _offset_us(self) -> int:
        return int(round(self.time_offset * 1e6))

    def admit_args(self) -> List[Any]:
        return [self._offset_us(), self._reset_us, self.half_open_trials]

    def settle_args(self, outcome: str, generation: str, trial: int, exc: Union[BaseException, str, None]) -> List[Any]:
        return [self._offset_us(), self._reset_us, outcome, generation, trial, self.threshold, _failure_text(exc)]

    # -- replies

    def admitted(self, reply: Sequence[Any]) -> Tuple[str, int]:
        """The generation and trial id of an admission, or :class:`CircuitBrokenError` for a refusal."""
        verdict, generation, trial, remaining_us, failures, last = reply
        with self.backend.lock:
            was = self._state
            self._remember(_STATES[int(verdict)], int(remaining_us), _text(last))
            if verdict == 0:
                self._failures = int(failures)
        self._report_change(was, _STATES[int(verdict)])
        if verdict in (0, 1):
            if verdict == 1:
                log.info("%s: half-open, letting trial call %s through", self.name, int(trial))
            return _text(generation), int(trial)
        if verdict == 3:
            message = "{} is half-open and its trial call{} in progress".format(
                self.name, " is" if self.half_open_trials == 1 else "s are")
            remaining = 0.0
        else:
            remaining = int(remaining_us) / 1e6
            message = "{} is open: {:.3g}s until a trial call".format(self.name, remaining)
        last_text = _text(last)
        if last_text:
            message += " (last failure: {})".format(last_text)
        instrumentation.breaker_refused(self.name, OPEN if remaining > 0 else HALF_OPEN, remaining)
        raise CircuitBrokenError(message, remaining)

    def settled(self, reply: Sequence[Any], outcome: str) -> int:
        before, state, remaining_us, _, last, counted = reply
        with self.backend.lock:
            was = self._state
            self._remember(_STATES[int(state)], int(remaining_us), _text(last))
            if int(state) == 0:
                self._failures = int(counted)
        now_state = _STATES[int(state)]
        if now_state != was:
            if now_state == OPEN:
                log.warning("%s: circuit broken for %gs", self.name, self.reset_timeout)
            elif now_state == CLOSED:
                log.info("%s: trial call succeeded, circuit closed", self.name)
        self._report_change(was, now_state)
        return int(before)

    def _report_change(self, was: str, now: str) -> None:
        """Tell the instrumentation of a change this process saw (each process of a fleet reports what it sees)."""
        if now != was:
            instrumentation.breaker_state_changed(self.name, was, now)

    def _remember(self, state: str, remaining_us: int, last: str) -> None:
        self._state = state
        self._open_until = time.monotonic() + remaining_us / 1e6 if state == OPEN else None
        self._last_failure = last
        if state != CLOSED:
            self._failures = 0

    # -- what the breaker shows, without I/O

    def state(self) -> str:
        with self.backend.lock:
            if self.backend.degraded and self._local is not None:
                return self._local.state
            if self._state == OPEN and (self._open_until is None or time.monotonic() >= self._open_until):
                return HALF_OPEN
            return self._state

    def time_remaining(self) -> float:
        with self.backend.lock:
            if self.backend.degraded and self._local is not None:
                return self._local.time_remaining
            if self._open_until is None:
                return 0.0
            return max(self._open_until - time.monotonic(), 0.0)

    def failures(self) -> int:
        with self.backend.lock:
            if self.backend.degraded and self._local is not None:
                return self._local.failures
            return self._failures

    @property
    def degraded(self) -> bool:
        return self.backend.degraded

    # -- Redis trouble

    def use_redis(self) -> bool:
        return self.backend.use_redis()

    def failed(self, exc: BaseException) -> None:
        """Redis did not answer: fall back (the first time), and wait before the next probe."""
        self.backend.failed(exc, self._fall_back, "a local breaker" if self.fallback == "local"
                            else "'{}'".format(self.fallback))

    def _fall_back(self) -> None:
        if self.fallback == "local":
            self._local = self._seeded_local()

    def _seeded_local(self) -> CircuitBreaker:
        local = CircuitBreaker(threshold=self.threshold, reset_timeout=self.reset_timeout,
                               half_open_trials=self.half_open_trials, name=self.name)
        remaining = 0.0 if self._open_until is None else max(self._open_until - time.monotonic(), 0.0)
        local.restore(self._state, time_remaining=remaining, failures=self._failures,
                      last_failure=self._last_failure)
        return local

    def answered(self) -> None:
        """Redis answered: back on the shared circuit, if the breaker had fallen back."""
        self.backend.answered(self._recover)

    def _recover(self) -> None:
        self._local = None

    def fallback_admit(self) -> Optional[Ticket]:
        """While Redis is unreachable: a local ticket, ``None`` (``fallback="closed"``), or a refusal."""
        with self.backend.lock:
            local = self._local
        wait = self.backend.seconds_to_probe()
        if self.fallback == "local" and local is not None:
            return local.admit()
        if self.fallback == "closed":
            return None
        raise CircuitBrokenError(
            "{} is unreachable in Redis and falls back to 'open': {:.3g}s until Redis is asked again".format(
                self.name, wait), wait)

    def describe(self, kind: str) -> str:
        return "<{} {!r} {} threshold={} reset_timeout={:g}{}>".format(
            kind, self.name, self.state(), self.threshold, self.reset_timeout,
            " (Redis unreachable: fallback={!r})".format(self.fallback) if self.backend.degraded else "")


_ARGUMENTS_DOC = """
    :param redis_url_or_client: a Redis URL (``redis://host:6379/0``,
        ``rediss://...``, ``unix:///path/to/socket``): the client built from
        it waits ``socket_timeout`` seconds at most to connect and for each
        reply, and does not retry; or a client of your own (a
        :class:`RedisTimeoutWarning` says so when it has no socket timeout).
    :param name: the circuit: every breaker given the same name (and
        ``key_prefix``) on the same Redis shares it.
    :param threshold: failures within ``reset_timeout`` that break the circuit.
    :param reset_timeout: seconds the circuit stays broken, the length of the
        failure window, and of a trial's lease.
    :param half_open_trials: trial calls let through at once when half-open.
    :param key_prefix: the start of the Redis key; the key is
        ``key_prefix + "{" + name + "}"`` (the Redis Cluster hash tag).
    :param fallback: while Redis does not answer: ``"local"`` (a local
        :class:`~httsleep.CircuitBreaker` per process, starting in the state
        Redis last reported), ``"open"`` (refuse every call) or ``"closed"``
        (admit every call).
    :param probe_interval: seconds between attempts to reach Redis again
        while fallen back (each plus up to 20 % of jitter).
    :param on_backend: called with ``"degraded"`` when the breaker falls
        back, and ``"recovered"`` when Redis answers again.
    :param socket_timeout: the connect and read timeout of a client built
        from a URL.
    :param time_offset: seconds added to Redis' clock: for tests that move
        time without sleeping.
"""


class RedisTicket:
    """Permission for one call from a :class:`RedisCircuitBreaker`: report the outcome once.

    Later reports are ignored, and so is the outcome of a call admitted
    before the circuit last changed state (its generation is older).
    """

    __slots__ = ("breaker", "trial", "generation", "_local", "_settled")

    def __init__(self, breaker: Any, generation: Optional[str], trial: int, local: Optional[Ticket] = None) -> None:
        self.breaker = breaker
        #: The trial id (0: not a trial).
        self.trial = trial
        #: The generation it was admitted in (``None``: admitted by a fallback).
        self.generation = generation
        self._local = local
        self._settled = False

    @property
    def settled(self) -> bool:
        """Whether an outcome was reported (later ones are ignored)."""
        return self._settled

    def _claim(self) -> bool:
        if self._settled:
            return False
        self._settled = True
        return True

    def success(self) -> None:
        """The call succeeded; a successful trial closes the circuit."""
        if self._claim():
            self.breaker._settle(self, "success", None)

    def failure(self, exc: Union[BaseException, str, None] = None) -> int:
        """The call failed; return the failures counted in the window before this one."""
        return self.breaker._settle(self, "failure", exc) if self._claim() else 0

    def cancel(self) -> None:
        """Forget the call (it proved nothing about the service); frees a trial slot."""
        if self._claim():
            self.breaker._settle(self, "cancel", None)

    def __repr__(self) -> str:
        return "<{} {}{}>".format(type(self).__name__, "trial " if self.trial else "",
                                  "settled" if self._settled else "open")


class AsyncRedisTicket(RedisTicket):
    """Permission for one call from an :class:`AsyncRedisCircuitBreaker`; its methods are coroutines."""

    __slots__ = ()

    async def success(self) -> None:  # type: ignore[override]
        """The call succeeded; a successful trial closes the circuit."""
        if self._claim():
            await self.breaker._settle(self, "success", None)

    async def failure(self, exc: Union[BaseException, str, None] = None) -> int:  # type: ignore[override]
        """The call failed; return the failures counted in the window before this one."""
        return await self.breaker._settle(self, "failure", exc) if self._claim() else 0

    async def cancel(self) -> None:  # type: ignore[override]
        """Forget the call (it proved nothing about the service); frees a trial slot."""
        if self._claim():
            await self.breaker._settle(self, "cancel", None)


def _settle_local(ticket: RedisTicket, outcome: str, exc: Union[BaseException, str, None]) -> Optional[int]:
    """The outcome of a ticket a fallback gave: to the local breaker (``None``: it came from Redis)."""
    if ticket.generation is not None:
        return None
    local = ticket._local
    if local is None:  # fallback="closed"
        return 0
    if outcome == "success":
        local.success()
        return 0
    if outcome == "failure":
        return local.failure(exc)
    local.cancel()
    return 0


class _Breaker:
    """What both breakers show: the cached state, no I/O."""

    _circuit: _Circuit

    @property
    def name(self) -> str:
        """The circuit's name."""
        return self._circuit.name

    @property
    def key(self) -> str:
        """The Redis key of the circuit's hash."""
        return self._circuit.key

    @property
    def threshold(self) -> int:
        return self._circuit.threshold

    @property
    def reset_timeout(self) -> float:
        return self._circuit.reset_timeout

    @property
    def half_open_trials(self) -> int:
        return self._circuit.half_open_trials

    @property
    def fallback(self) -> str:
        return self._circuit.fallback

    @property
    def time_offset(self) -> float:
        """Seconds added to Redis' clock (tests only); may be changed at any time."""
        return self._circuit.time_offset

    @time_offset.setter
    def time_offset(self, value: float) -> None:
        self._circuit.time_offset = _offset(value)

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"``, as last seen (no I/O: Redis may know better)."""
        return self._circuit.state()

    @property
    def time_remaining(self) -> float:
        """Seconds until a trial, as last seen (cached: never a Redis call)."""
        return self._circuit.time_remaining()

    @property
    def failures(self) -> int:
        """Failures in the window, as last seen (0 unless closed)."""
        return self._circuit.failures()

    @property
    def degraded(self) -> bool:
        """Whether Redis did not answer and the breaker is on its fallback."""
        return self._circuit.degraded


class RedisCircuitBreaker(_Breaker):
    """A :class:`~httsleep.CircuitBreaker` whose state is in Redis, shared by every process of a fleet.

    ::

        jobs_api = RedisCircuitBreaker("redis://redis:6379/0", name="jobs-api", threshold=5, reset_timeout=60)
        httsleep(url, status_code=200, circuit_breaker=jobs_api)

    It makes the decisions of :class:`~httsleep.CircuitBreaker` (the same
    sliding window of failures, half-open trials, leases and fencing of
    late outcomes), on Redis' clock, each in one round trip. It blocks on
    the network: with :class:`~httsleep.AsyncHttSleeper`, use
    :class:`AsyncRedisCircuitBreaker` (same arguments, same circuit).
    Thread-safe; safe across ``fork`` (redis-py reconnects in the child).
    """ + _ARGUMENTS_DOC

    #: What the asyncio front end should be given instead (it refuses this blocking breaker).
    asyncio_counterpart = "httsleep.redis.AsyncRedisCircuitBreaker"

    def __init__(
        self,
        redis_url_or_client: Union[str, redis.Redis],
        *,
        name: str,
        threshold: int = 5,
        reset_timeout: float = 60,
        half_open_trials: int = 1,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        fallback: str = "local",
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        on_backend: Optional[Callable[[str], Any]] = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        time_offset: float = 0.0,
    ) -> None:
        self._circuit = _Circuit(type(self).__name__, name, threshold, reset_timeout, half_open_trials, key_prefix,
                                 fallback, probe_interval, on_backend, time_offset)
        self.client = sync_client(redis_url_or_client, check_socket_timeout(socket_timeout), type(self).__name__)
        self._own_client = isinstance(redis_url_or_client, str)
        self._admit_script = self.client.register_script(_ADMIT)
        self._settle_script = self.client.register_script(_SETTLE)

    def admit(self) -> RedisTicket:
        """Ask to make one call; report its outcome on the returned :class:`RedisTicket`.

        :raises CircuitBrokenError: the circuit is open, or half-open with
            every trial slot taken; the call must not be made. Never a Redis
            error: without Redis, the fallback decides.
        """
        circuit = self._circuit
        if circuit.use_redis():
            try:
                reply = self._admit_script(keys=[circuit.key], args=circuit.admit_args())
            except BACKEND_ERRORS as exc:
                circuit.failed(exc)
            else:
                circuit.answered()
                generation, trial = circuit.admitted(reply)
                return RedisTicket(self, generation, trial)
        return RedisTicket(self, None, 0, circuit.fallback_admit())

    def _settle(self, ticket: RedisTicket, outcome: str, exc: Union[BaseException, str, None]) -> int:
        local = _settle_local(ticket, outcome, exc)
        if local is not None:
            return local
        circuit = self._circuit
        if circuit.degraded:  # the outcome cannot be told: dropped (the fallback decides until Redis is back)
            return 0
        assert ticket.generation is not None
        try:
            reply = self._settle_script(keys=[circuit.key],
                                        args=circuit.settle_args(outcome, ticket.generation, ticket.trial, exc))
        except BACKEND_ERRORS as error:
            circuit.failed(error)
            return 0
        return circuit.settled(reply, outcome)

    def reset(self) -> None:
        """Close the circuit for the whole fleet (delete its hash); ignored when Redis does not answer."""
        try:
            self.client.delete(self._circuit.key)
        except BACKEND_ERRORS as exc:
            log.warning("%s: could not reset the circuit in Redis: %r", self.name, exc)

    def close(self) -> None:
        """Close the connections of the client built from a URL (a client you gave is yours to close)."""
        if self._own_client:
            self.client.close()

    def __repr__(self) -> str:
        return self._circuit.describe(type(self).__name__)


class AsyncRedisCircuitBreaker(_Breaker):
    """:class:`RedisCircuitBreaker` for asyncio (:mod:`redis.asyncio`): never blocks the event loop.

    ::

        jobs_api = AsyncRedisCircuitBreaker("redis://redis:6379/0", name="jobs-api", threshold=5, reset_timeout=60)
        await async_httsleep(url, status_code=200, circuit_breaker=jobs_api)

    ``admit()`` and its tickets' methods are coroutines, which
    :class:`~httsleep.AsyncHttSleeper` awaits. Same arguments, same keys and
    scripts as :class:`RedisCircuitBreaker`: a fleet mixing both shares one
    circuit. Use it within one event loop (its client's connections belong
    to the loop that opened them).
    """ + _ARGUMENTS_DOC

    def __init__(
        self,
        redis_url_or_client: Union[str, redis.asyncio.Redis],
        *,
        name: str,
        threshold: int = 5,
        reset_timeout: float = 60,
        half_open_trials: int = 1,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        fallback: str = "local",
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        on_backend: Optional[Callable[[str], Any]] = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        time_offset: float = 0.0,
    ) -> None:
        self._circuit = _Circuit(type(self).__name__, name, threshold, reset_timeout, half_open_trials, key_prefix,
                                 fallback, probe_interval, on_backend, time_offset)
        self.client = async_client(redis_url_or_client, check_socket_timeout(socket_timeout), type(self).__name__)
        self._own_client = isinstance(redis_url_or_client, str)
        self._admit_script = self.client.register_script(_ADMIT)
        self._settle_script = self.client.register_script(_SETTLE)

    async def admit(self) -> AsyncRedisTicket:
        """Ask to make one call; report its outcome on the returned :class:`AsyncRedisTicket` (awaiting it).

        :raises CircuitBrokenError: the circuit is open, or half-open with
            every trial slot taken. Never a Redis error.
        """
        circuit = self._circuit
        if circuit.use_redis():
            try:
                reply = await self._admit_script(keys=[circuit.key], args=circuit.admit_args())
            except BACKEND_ERRORS as exc:
                circuit.failed(exc)
            else:
                circuit.answered()
                generation, trial = circuit.admitted(reply)
                return AsyncRedisTicket(self, generation, trial)
        return AsyncRedisTicket(self, None, 0, circuit.fallback_admit())

    async def _settle(self, ticket: RedisTicket, outcome: str, exc: Union[BaseException, str, None]) -> int:
        local = _settle_local(ticket, outcome, exc)
        if local is not None:
            return local
        circuit = self._circuit
        if circuit.degraded:
            return 0
        assert ticket.generation is not None
        try:
            reply = await self._settle_script(keys=[circuit.key],
                                              args=circuit.settle_args(outcome, ticket.generation, ticket.trial, exc))
        except BACKEND_ERRORS as error:
            circuit.failed(error)
            return 0
        return circuit.settled(reply, outcome)

    async def reset(self) -> None:
        """Close the circuit for the whole fleet (delete its hash); ignored when Redis does not answer."""
        try:
            await self.client.delete(self._circuit.key)
        except BACKEND_ERRORS as exc:
            log.warning("%s: could not reset the circuit in Redis: %r", self.name, exc)

    async def aclose(self) -> None:
        """Close the connections of the client built from a URL (a client you gave is yours to close)."""
        if self._own_client:
            await self.client.aclose()

    def __repr__(self) -> str:
        return self._circuit.describe(type(self).__name__)

