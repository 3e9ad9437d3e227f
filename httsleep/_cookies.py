"""Cookie jars a server cannot grow without bound. No I/O here.

Every ``Set-Cookie`` of every response goes into the session's jar, and
every cookie in the jar goes back on every request. A hostile server that
sets ninety 60 KB cookies per answer would make a poll's memory (and its
requests) grow with every attempt. The sessions and clients httsleep opens
itself use :class:`BoundedCookiePolicy`, which refuses what RFC 6265 (5.3,
"Storage Model", and 6.1, "Limits") lets a user agent refuse: cookies
larger than 4096 bytes, more than 50 per domain, more than 3000 in all.
A jar of the caller's own keeps the policy the caller gave it.
"""

from __future__ import annotations

import weakref
from http.cookiejar import Cookie, CookieJar, DefaultCookiePolicy
from typing import Any, Optional, Sequence, Tuple

__all__ = ["MAX_COOKIES", "MAX_COOKIES_PER_DOMAIN", "MAX_COOKIE_SIZE", "BoundedCookiePolicy", "admits", "limit_cookies"]

#: The largest cookie kept, name and value together, in characters.
MAX_COOKIE_SIZE = 4096
#: The most cookies kept for one domain.
MAX_COOKIES_PER_DOMAIN = 50
#: The most cookies kept in one jar.
MAX_COOKIES = 3000


class BoundedCookiePolicy(DefaultCookiePolicy):
    """The standard policy, and size and count limits on the jar it guards (see the module)."""

    def __init__(self, jar: CookieJar) -> None:
        super().__init__()
        self._jar = weakref.ref(jar)

    def set_ok(self, cookie: Cookie, request: Any) -> bool:
        jar = self._jar()
        kept = [] if jar is None else [(held.domain, held.path, held.name) for held in jar]
        if not admits(cookie.name, cookie.value, (cookie.domain, cookie.path, cookie.name), kept):
            return False
        return bool(super().set_ok(cookie, request))


def admits(name: str, value: Optional[str], key: Tuple[str, str, str], kept: Sequence[Tuple[str, str, str]]) -> bool:
    """Whether a jar holding cookies ``kept`` (``(domain, path, name)`` each) may store the cookie ``key``.

    A cookie larger than :data:`MAX_COOKIE_SIZE` never; one that replaces a
    cookie the jar holds always; a new one while the jar is below its limits.
    """
    if len(name) + len(value or "") > MAX_COOKIE_SIZE:
        return False
    if key in kept:
        return True
    same_domain = sum(1 for domain, _, _ in kept if domain == key[0])
    return len(kept) < MAX_COOKIES and same_domain < MAX_COOKIES_PER_DOMAIN


def limit_cookies(jar: CookieJar) -> None:
    """Give ``jar`` (one httsleep opened) a :class:`BoundedCookiePolicy`."""
    jar.set_policy(BoundedCookiePolicy(jar))
