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
from typing import Any

__all__ = ["MAX_COOKIES", "MAX_COOKIES_PER_DOMAIN", "MAX_COOKIE_SIZE", "BoundedCookiePolicy", "bound"]

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
        if len(cookie.name) + len(cookie.value or "") > MAX_COOKIE_SIZE:
            return False
        jar = self._jar()
        if jar is not None:
            total = same_domain = 0
            for kept in jar:
                if (kept.domain, kept.path, kept.name) == (cookie.domain, cookie.path, cookie.name):
                    break  # it replaces a cookie the jar holds: the counts do not grow
                total += 1
                same_domain += kept.domain == cookie.domain
            else:
                if total >= MAX_COOKIES or same_domain >= MAX_COOKIES_PER_DOMAIN:
                    return False
        return bool(super().set_ok(cookie, request))


def bound(jar: CookieJar) -> None:
    """Give ``jar`` (one httsleep opened) a :class:`BoundedCookiePolicy`."""
    jar.set_policy(BoundedCookiePolicy(jar))
