"""Keep credentials out of everything httsleep shows: messages, reprs, logs, exceptions.

Two kinds of redaction work together:

- **Patterns**, for text of unknown origin (a server's error, a URL in a
  library's exception): the userinfo of URLs (``https://***@host``),
  sensitive query parameters (``?token=***``), ``Basic``/``Bearer``/...
  credentials, and the values of sensitive names in ``name: value``,
  ``name=value``, ``'name': 'value'`` and ``(b'name', b'value')`` forms.
- **Known secrets**, for text that may quote what the caller gave a poll:
  :class:`Secrets` collects the password of the URL, the ``auth=`` password,
  the values of sensitive headers, query parameters and cookies, and
  replaces each of them wherever it appears, however it is quoted.

Which names are sensitive is decided by :func:`is_sensitive_header` and
:func:`is_sensitive_parameter`, from the lists below. Every function here
runs in time linear in the length of its input, so that redacting a
hostile server's 64 KB status line costs milliseconds, not seconds.

Precision: words are kept
-------------------------
A server's explanation is what the user most needs, so the patterns hide
what has the *shape* of a credential and keep words: ``token expired``,
``Basic auth is required``, ``waiting for token refresh`` and
``POST /oauth/token failed`` come out unchanged (tests/redaction_table.py
holds the sentences that must survive and the secrets that must not).

- **Auth schemes.** The word after ``Basic``/``Bearer``/``Token``/
  ``Negotiate``/``NTLM`` is hidden only when it is credential-shaped
  (below). A scheme word that is part of a path (``/oauth/token``) or of a
  longer word is not a scheme; one followed by another scheme word
  (``Bearer token abc123``) leaves the credential to the second.
- **Credential shape.** A value is credential-shaped when one of its
  alphanumeric pieces (split at ``-_.~+/=:`` and the like) mixes letters and
  digits and has 6+ characters (``abc123``, ``sk-live-4eC3...``), is 8+
  digits, mixes cases in a way words do not (``dXNlcjpw``: not ``Token``,
  ``OAuth``, ``ExpiredToken``), or is 24+ characters long; or when it is
  base64 of 8+ characters with ``=`` padding. A sentence made of words, a
  number, a date or a version (``token v2``, ``session: 3600``) is not.
- **Sensitive names.** In ``name: value``, ``name=value`` and
  ``'name': 'value'``, the value of an *unambiguous* name is hidden whatever
  its shape: names containing ``passw``, ``secret`` or ``apikey``; ``pwd``,
  ``authorization``, ``proxy-authorization``, ``cookie``, ``set-cookie``,
  ``sessionid``; and compound names ending in ``token``, ``key``,
  ``signature`` or ``credential`` (``access_token``, ``X-Api-Key``,
  ``X-Amz-Signature``). Only a stop list of non-values survives there:
  :data:`NON_VALUES` (``required``, ``missing``, ``expired``, ``null``...).
  The value of any other sensitive name (``token``, ``session``, ``key``,
  ``auth``, ``sig``, ``jwt``, ``author``, ``max_tokens``...) is hidden only
  when it is credential-shaped: ``{"token": "expired"}`` stays,
  ``{"token": "eyJhbGciOi..."}`` does not. ``Authorization: Bearer x`` hides
  ``x`` whatever its shape.
- **Well-known token formats** are hidden wherever they stand: AWS access
  key ids (``AKIA...``), GitHub (``ghp_...``, ``github_pat_...``), GitLab
  (``glpat-...``), Slack (``xox?-...``), Stripe-style secret keys
  (``sk_live_...``, ``sk-proj-...``), Google API keys (``AIza...``) and JWTs
  (``eyJ....eyJ....``).
- URLs are unchanged: a sensitive query parameter's value is hidden
  whatever it is (``?token=***``); the words of a path are kept.
"""

from __future__ import annotations

import base64
import bisect
import functools
import re
from typing import Any, Callable, Iterable, List, Mapping, Optional, Set, Tuple
from urllib.parse import quote, unquote

from .transient import exception_chain

__all__ = [
    "REDACTED",
    "SENSITIVE_HEADERS",
    "SENSITIVE_HEADER_WORDS",
    "SENSITIVE_PARAMETERS",
    "SENSITIVE_PARAMETER_WORDS",
    "NON_VALUES",
    "DeferredSecrets",
    "Secrets",
    "is_sensitive_header",
    "is_sensitive_parameter",
    "redact_text",
    "redact_url",
    "scrub_exception",
]

#: What a redacted value is replaced with.
REDACTED = "***"

#: Header names whose values are credentials (compared case-insensitively,
#: ``_`` and ``-`` alike).
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-access-token",
        "private-token",
        "x-vault-token",
        "x-amz-security-token",
        "ocp-apim-subscription-key",
    }
)

#: A header whose name contains one of these (after removing ``-`` and
#: ``_``), or ends in ``-key``, is sensitive too.
SENSITIVE_HEADER_WORDS = ("auth", "token", "secret", "passw", "apikey", "cookie", "session", "signature", "credential")

#: Query parameter names whose values are credentials (case-insensitive).
SENSITIVE_PARAMETERS = frozenset(
    {
        "access_token",
        "api_key",
        "api-key",
        "apikey",
        "auth",
        "auth_token",
        "client_secret",
        "id_token",
        "jwt",
        "key",
        "passwd",
        "password",
        "pwd",
        "refresh_token",
        "secret",
        "session",
        "sessionid",
        "session_id",
        "sig",
        "signature",
        "token",
        "x-amz-credential",
        "x-amz-security-token",
        "x-amz-signature",
        "x-goog-credential",
        "x-goog-signature",
    }
)

#: A query parameter whose name contains one of these (after removing ``-``
#: and ``_``), or ends in ``_key`` or ``-key``, is sensitive too.
SENSITIVE_PARAMETER_WORDS = ("token", "secret", "passw", "signature", "apikey", "credential")

_AUTH_SCHEMES = frozenset({"basic", "bearer", "digest", "token", "negotiate", "ntlm"})

# Secrets shorter than this are left to the patterns: replacing "ab" everywhere would garble text.
_MIN_SECRET = 4
_MIN_COOKIE_SECRET = 8

# Where a URL or a word ends in free text.
_TOKEN = re.compile(r"[^\s'\"<>`]+")
# ?name=value, &name=value, ;name=value: the name is bounded, the value runs to the next delimiter.
_PARAMETER = re.compile(r"([?&;#])([^=&#\s?;'\"<>]{1,100})=([^&#\s'\"<>;]*)")
_SCHEME_WORDS = r"basic|bearer|token|negotiate|ntlm"
# Basic xyz, Bearer xyz...: the credential that follows an authentication scheme. Not a scheme: a
# word of a path (/oauth/token), of a longer name (x-token, a.token); not a credential: "***", or
# a scheme word followed by its own value ("Bearer token abc": the match is "token abc").
_SCHEME_CREDENTIAL = re.compile(
    r"(?i)(?<![\w./-])(" + _SCHEME_WORDS + r")([ \t]+)(?!\*\*\*)"
    r"(?!(?:" + _SCHEME_WORDS + r")[ \t])([^\s'\",;)\]}]+)"
)
# name: value / name=value / 'name': 'value' / (b'name', b'value'): the name is bounded (no
# backtracking beyond 64 characters per word), the value runs to a delimiter or a closing quote;
# an unquoted value may start with a scheme word ("Authorization: Bearer xyz").
_NAMED_VALUE = re.compile(
    r"(?<![\w-])([A-Za-z][\w-]{0,63})"
    r"(?:(['\"])([ \t]*[:=,][ \t]*b?)|([ \t]*[:=][ \t]*b?))"
    r"(?:(['\"])([^'\"\r\n]*)|((?:(?i:" + _SCHEME_WORDS + r"|digest)[ \t]+)?[^\s,;&'\"<>)\]}]*))"
)
# "Bearer " or "Basic " at the start of a value.
_SCHEME_PREFIX = re.compile(r"(?i)(?:" + _SCHEME_WORDS + r"|digest)[ \t]+")
# Tokens whose format says what they are, hidden wherever they stand.
_KNOWN_TOKEN = re.compile(
    r"(?<![\w-])(?:"
    r"(?:AKIA|ASIA|AROA|AIDA)[0-9A-Z]{16}(?![0-9A-Za-z])"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|glpat-[\w-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|(?:sk|rk)[_-](?:live|test|proj)[_-][\w-]{8,}"
    r"|AIza[\w-]{30,}"
    r"|eyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*"
    r")"
)
# The alphanumeric pieces of a value; and words as they are cased (lower, UPPER, Capitalised,
# camelCase or PascalCase whose parts have a vowel, an acronym before a word: OAuth, HTTPError).
_PIECE = re.compile(r"[A-Za-z0-9]+")
_WORD_CASED = re.compile(
    r"[a-z]+|[A-Z]+|[A-Z]*[a-z]*[aeiouy][a-z]*(?:[A-Z][a-z]*[aeiouy][a-z]*)*|[A-Z]+s"
)
_PADDED_BASE64 = re.compile(r"[A-Za-z0-9+/]{8,}={1,2}")

#: Values of an unambiguously secret name (``password: required``) that are not secrets but words
#: saying there is none. Anything else after such a name is hidden, whatever its shape.
NON_VALUES = frozenset(
    {"", "required", "missing", "expired", "invalid", "incorrect", "wrong", "revoked", "null", "none", "nil",
     "undefined", "true", "false", "empty", "unset", "hidden", "redacted", REDACTED}
)

# Sensitive names whose value is a secret whatever it looks like (after removing "-" and "_").
_SECRET_NAMES = frozenset(
    {"pwd", "passwd", "authorization", "proxyauthorization", "cookie", "setcookie", "sessionid"}
)
_SECRET_NAME_WORDS = ("passw", "secret", "apikey")
_SECRET_NAME_ENDINGS = ("token", "key", "signature", "credential", "credentials")


def _normalised(name: str) -> str:
    return name.strip().lower().replace("_", "-")


@functools.lru_cache(maxsize=1024)
def is_sensitive_header(name: str) -> bool:
    """Whether a header of this name carries a credential.

    >>> is_sensitive_header("Authorization"), is_sensitive_header("X-Gitlab-Token"), is_sensitive_header("Accept")
    (True, True, False)
    """
    normalised = _normalised(name)
    if normalised in SENSITIVE_HEADERS or normalised.endswith("-key") or normalised == "key":
        return True
    squeezed = normalised.replace("-", "")
    return any(word in squeezed for word in SENSITIVE_HEADER_WORDS)


@functools.lru_cache(maxsize=1024)
def is_sensitive_parameter(name: str) -> bool:
    """Whether a query parameter of this name carries a credential.

    >>> is_sensitive_parameter("X-Amz-Signature"), is_sensitive_parameter("page")
    (True, False)
    """
    normalised = unquote(name).strip().lower()
    if normalised in SENSITIVE_PARAMETERS or normalised.replace("_", "-") in SENSITIVE_PARAMETERS:
        return True
    if normalised.endswith(("_key", "-key")):  # subscription-key, access_key, application_key...
        return True
    squeezed = normalised.replace("-", "").replace("_", "")
    return any(word in squeezed for word in SENSITIVE_PARAMETER_WORDS)


# -- URL userinfo ------------------------------------------------------------------


class _Marks:
    """Where the ``/``, ``?``, ``#`` and ``@`` of a token are, found once: every lookup is a bisection.

    A token may hold thousands of ``://`` (server text quoted in an error);
    searching the rest of the token again for each of them would take
    quadratic time.
    """

    __slots__ = ("length", "delimiters", "ats")

    def __init__(self, token: str) -> None:
        self.length = len(token)
        self.delimiters = [match.start() for match in _DELIMITER.finditer(token)]
        self.ats = [match.start() for match in _AT.finditer(token)]

    def delimiter_from(self, start: int) -> int:
        """The first ``/``, ``?`` or ``#`` at or after ``start``, or the length of the token."""
        index = bisect.bisect_left(self.delimiters, start)
        return self.delimiters[index] if index < len(self.delimiters) else self.length

    def last_at(self, start: int, end: int) -> int:
        """The last ``@`` in ``[start, end)``, or -1."""
        index = bisect.bisect_left(self.ats, end) - 1
        return self.ats[index] if index >= 0 and self.ats[index] >= start else -1

    def first_at(self, start: int) -> int:
        """The first ``@`` at or after ``start``, or -1."""
        index = bisect.bisect_left(self.ats, start)
        return self.ats[index] if index < len(self.ats) else -1


_DELIMITER = re.compile(r"[/?#]")
_AT = re.compile("@")


def _userinfo_end(token: str, start: int, marks: Optional[_Marks] = None) -> int:
    """Where the userinfo of the URL whose authority starts at ``start`` ends (the ``@``), or -1.

    The authority runs to the first ``/``, ``?`` or ``#``; a password may
    hold a raw ``@`` (requests splits at the last one), so the userinfo
    ends at the last ``@`` of the authority. A password may also hold a raw
    ``/``, ``?``, ``#`` (which no parser accepts, but error messages quote):
    when the authority has a ``:`` not followed by a port number, and an
    ``@`` comes later in the same token, that ``@`` ends the userinfo.
    """
    marks = marks or _Marks(token)
    end = marks.delimiter_from(start)
    at = marks.last_at(start, end)
    if at >= 0:
        return at
    colon = token.find(":", start, end)
    if colon < 0 or token[colon + 1 : end].isdigit() or end == len(token):
        return -1
    at = marks.first_at(end)
    if at < 0:
        return -1
    # the password may hold several raw "@": take the last one before the next delimiter
    return marks.last_at(at, marks.delimiter_from(at))


def _password_colon(token: str, start: int, marks: _Marks) -> int:
    """The ``:`` of ``user:pa...`` in an authority cut short by a raw ``#``, ``/`` or ``?``, else -1.

    A ``:`` followed by anything but a port number, in an authority that
    ends at a delimiter with no ``@`` anywhere after it in the token, is
    most likely a password holding that delimiter, its end beyond a space.
    """
    end = marks.delimiter_from(start)
    colon = token.find(":", start, end)
    if colon < 0 or end == len(token) or token[colon + 1 : end].isdigit() or colon + 1 == end:
        return -1
    return colon


def _redact_token(token: str) -> str:
    """Redact the userinfo of every URL in one whitespace-free token."""
    if "://" not in token:
        if "@" not in token:
            return token
        # "user:secret@host/x", as requests quotes a URL it has no adapter for
        at = token.find("/")
        at = token.rfind("@", 0, at if at >= 0 else len(token))
        if at > 0 and ":" in token[:at]:
            start = 0
            while start < at and not (token[start].isalnum() or token[start] in "%-._~"):
                start += 1  # keep an opening bracket or quote
            return token[:start] + REDACTED + token[at:]
        return token
    pieces: List[str] = []
    done = 0
    marks = _Marks(token)
    mark = token.find("://")
    while mark >= 0:
        start = mark + 3
        at = _userinfo_end(token, start, marks)
        if at >= start:
            pieces.append(token[done:start])
            pieces.append(REDACTED)
            done = at
            mark = token.find("://", at)
            continue
        colon = _password_colon(token, start, marks)
        if colon >= 0:  # "user:pa#ss" with the rest of the password beyond a space: hide what is here
            pieces.append(token[done : colon + 1])
            pieces.append(REDACTED)
            done = len(token)
            break
        mark = token.find("://", start)
    pieces.append(token[done:])
    return "".join(pieces)


def redact_url(text: Any) -> str:
    """Hide the userinfo and the sensitive query parameters of every URL in ``text``.

    Parameters in a fragment count too: OAuth's implicit flow puts the
    ``access_token`` there.

    >>> redact_url("https://user:secret@host/x?token=abc&page=2")
    'https://***@host/x?token=***&page=2'
    >>> redact_url("https://app/callback#access_token=abc&state=x")
    'https://app/callback#access_token=***&state=x'
    >>> redact_url("No connection adapters were found for 'user:secret@host/x'")
    "No connection adapters were found for '***@host/x'"
    """
    text = str(text)
    if "@" in text or "://" in text:
        text = _TOKEN.sub(lambda match: _redact_token(match.group(0)), text)
    if "=" in text:
        text = _PARAMETER.sub(_redact_parameter, text)
    return text


# punctuation that ends a sentence or closes a bracket after a URL in prose, not part of a value
_TRAILING_PUNCTUATION = ").,:!]}"


def _redact_parameter(match: re.Match[str]) -> str:
    value = match.group(3).rstrip(_TRAILING_PUNCTUATION)
    if not value or not is_sensitive_parameter(match.group(2)):
        return match.group(0)
    return "{}{}={}{}".format(match.group(1), match.group(2), REDACTED, match.group(3)[len(value) :])


def _credential_shaped(value: str) -> bool:
    """Whether ``value`` looks like a credential rather than words, a number, a date or a version.

    >>> [_credential_shaped(v) for v in ("expired", "auth is required", "v2", "2024-01-05", "OAuth")]
    [False, False, False, False, False]
    >>> [_credential_shaped(v) for v in ("abc123", "dXNlcjpwYXNz", "YWJjZGVmZ2g=", "eyJhbGciOiJIUzI1NiJ9")]
    [True, True, True, True]
    """
    if "=" in value and _PADDED_BASE64.search(value):
        return True
    for piece in _PIECE.findall(value):
        if len(piece) >= 24:
            return True
        if piece.isdigit():
            if len(piece) >= 8:
                return True
        elif not piece.isalpha():  # letters and digits
            if len(piece) >= 6:
                return True
        elif not _WORD_CASED.fullmatch(piece):
            return True
    return False


@functools.lru_cache(maxsize=1024)
def _is_secret_name(name: str) -> bool:
    """Whether a (sensitive) name's value is a secret whatever its shape: ``password``, ``access_token``."""
    squeezed = _normalised(name).replace("-", "")
    if squeezed in _SECRET_NAMES or any(word in squeezed for word in _SECRET_NAME_WORDS):
        return True
    return any(squeezed.endswith(ending) and len(squeezed) > len(ending) for ending in _SECRET_NAME_ENDINGS)


def _redact_named_value(match: re.Match[str]) -> str:
    name = match.group(1)
    group = 6 if match.group(5) is not None else 7
    value = match.group(group)
    if not value or value == REDACTED or value.lower() in _AUTH_SCHEMES:  # "Bearer ***": done already
        return match.group(0)
    if not (is_sensitive_header(name) or is_sensitive_parameter(name)):
        return match.group(0)
    start, end = match.span(group)
    scheme = _SCHEME_PREFIX.match(value)
    if scheme:  # "Authorization: Bearer xyz": the credential is what follows the scheme
        start += scheme.end()
        value = value[scheme.end() :]
    if _is_secret_name(name):
        if value.strip().lower() in NON_VALUES:
            return match.group(0)
    elif not _credential_shaped(value):
        return match.group(0)
    whole_start = match.start(0)
    text = match.group(0)
    return text[: start - whole_start] + REDACTED + text[end - whole_start :]


def _redact_scheme_credential(match: re.Match[str]) -> str:
    if not _credential_shaped(match.group(3)):
        return match.group(0)
    return "{}{}{}".format(match.group(1), match.group(2), REDACTED)


def redact_text(text: Any) -> str:
    """Redact URL credentials, authentication values and sensitive ``name: value`` pairs in free text.

    Words are kept: only what has the shape of a credential is hidden (see the module).

    >>> redact_text("Authorization: Bearer abc.DEF and {'X-Api-Key': 'k123'}")
    "Authorization: Bearer *** and {'X-Api-Key': '***'}"
    >>> redact_text('{"error": "token expired", "hint": "Basic auth is required", "token": "ab12cd34ef"}')
    '{"error": "token expired", "hint": "Basic auth is required", "token": "***"}'
    """
    text = redact_url(text)
    text = _KNOWN_TOKEN.sub(REDACTED, text)
    text = _SCHEME_CREDENTIAL.sub(_redact_scheme_credential, text)
    if ":" in text or "=" in text:
        text = _NAMED_VALUE.sub(_redact_named_value, text)
    return text


# -- known secrets -------------------------------------------------------------------


def _password_of(url: str) -> Optional[str]:
    """The password (or lone token) in the userinfo of ``url``, however badly it is encoded.

    The caller's own URL is known to be one URL, so unlike in free text a
    space does not end it: ``https://user:pass word@host`` has the password
    ``pass word``.
    """
    mark = url.find("://")
    if mark < 0:
        return None
    start = mark + 3
    at = _userinfo_end(url, start)
    if at < start:
        return None
    userinfo = url[start:at]
    _, colon, password = userinfo.partition(":")
    return password if colon else userinfo


def _variants(secret: str) -> Iterable[str]:
    """The ways a secret may be quoted: as is, stripped, percent-encoded or decoded, escaped by repr()."""
    yield secret
    stripped = secret.strip()
    yield stripped
    yield quote(stripped, safe="")
    yield unquote(stripped)
    yield repr(stripped)[1:-1]
    yield repr(secret)[1:-1]


class Secrets:
    """The credentials of one poll, replaced wherever they appear; then :func:`redact_text`.

    Call it on any text before showing it::

        secrets = Secrets.of_request(url, headers=headers, auth=("user", "pass"))
        print(secrets("failed: " + str(error)))

    Secrets shorter than 4 characters are left to the patterns, and so are
    cookie values shorter than 8 (``lang=en-GB``, ``ready=true``: words
    that would be blanked all over a message) unless the cookie's name
    looks like a credential's.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[str] = ()) -> None:
        found: Set[str] = set()
        for value in values:
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if isinstance(value, str):
                found.update(variant for variant in _variants(value) if len(variant) >= _MIN_SECRET)
        self._values: Tuple[str, ...] = tuple(sorted(found, key=len, reverse=True))

    @classmethod
    def of_request(
        cls,
        url: Any = None,
        *,
        headers: Optional[Mapping[str, Any]] = None,
        auth: Any = None,
        params: Any = None,
        cookies: Any = None,
        proxies: Optional[Mapping[str, Any]] = None,
    ) -> Secrets:
        """The secrets in the parts of a request: URL userinfo and query, headers, auth, params, cookies."""
        values: List[str] = []
        for text in [url, *(proxies or {}).values()]:
            if isinstance(text, str) or text is not None:
                text = str(text)
                password = _password_of(text)
                if password:
                    values.append(password)
                values.extend(_parameter_values(text))
        for name, value in _pairs(headers):
            if is_sensitive_header(str(name)):
                values.extend(_header_secrets(str(value)))
        for name, value in _pairs(params):
            if is_sensitive_parameter(str(name)):
                values.append(str(value))
        for name, value in _pairs(cookies):
            # a session id is long; "lang=en" or "seen=true" is not a secret, and would blank words
            if len(str(value)) >= _MIN_COOKIE_SECRET or is_sensitive_parameter(str(name)):
                values.append(str(value))
        if isinstance(auth, (tuple, list)) and len(auth) == 2:
            user, password = (item.decode("latin-1") if isinstance(item, bytes) else str(item) for item in auth)
            values.append(password)
            values.append(base64.b64encode("{}:{}".format(user, password).encode("latin-1", "replace")).decode())
        return cls(values)

    def __add__(self, other: Secrets) -> Secrets:
        combined = Secrets()
        combined._values = tuple(sorted(set(self._values) | set(other._values), key=len, reverse=True))
        return combined

    def __bool__(self) -> bool:
        return bool(self._values)

    def __call__(self, text: Any) -> str:
        text = str(text)
        for secret in self._values:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return redact_text(text)

    def __repr__(self) -> str:
        return "<Secrets: {} value(s)>".format(len(self._values))


def _pairs(items: Any) -> Iterable[Tuple[Any, Any]]:
    """(name, value) pairs from a mapping, a list of pairs or a cookie jar; nothing from anything else."""
    if items is None or isinstance(items, (str, bytes)):
        return ()
    if hasattr(items, "items") and callable(items.items):
        try:
            return list(items.items())
        except Exception:  # a cookie jar with duplicate names: iterate its cookies instead
            pass
    pairs = []
    try:
        for item in items:
            if hasattr(item, "name") and hasattr(item, "value"):  # http.cookiejar.Cookie
                pairs.append((item.name, item.value))
            elif isinstance(item, (tuple, list)) and len(item) == 2:
                pairs.append((item[0], item[1]))
    except TypeError:
        return ()
    return pairs


def _parameter_values(url: str) -> List[str]:
    """The values of the sensitive parameters of ``url``'s query and fragment."""
    before, _, fragment = url.partition("#")
    values = []
    for part in before.partition("?")[2].split("&") + fragment.split("&"):
        name, equals, value = part.partition("=")
        if equals and value and is_sensitive_parameter(name):
            values.append(value)
    return values


def _header_secrets(value: str) -> List[str]:
    """A header value, and its parts: ``Bearer X`` gives X (not the whole, so that ``Bearer ***`` stays readable).

    ``Basic X`` also gives the password X encodes: a server may echo it decoded.
    """
    words = re.split(r"[\s;,]+", value.strip())
    found = [] if words and words[0].lower() in _AUTH_SCHEMES else [value]
    for word in words:
        if word.lower() in _AUTH_SCHEMES:
            continue
        found.append(word)
        name, equals, rest = word.partition("=")
        if equals:
            found.append(rest)
    if len(words) > 1 and words[0].lower() == "basic":
        password = _basic_password(words[1])
        if password:
            found.append(password)
    return found


def _basic_password(token: str) -> Optional[str]:
    """The password of a ``Basic`` credential (UTF-8, else Latin-1, as requests encodes it); ``None`` if none."""
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)  # some clients leave out the "="
    except ValueError:  # binascii.Error: not base64
        return None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")
    _, colon, password = text.partition(":")
    return password if colon else None


def scrub_exception(exc: BaseException, redact: Callable[[str], str] = redact_text) -> BaseException:
    """Redact, in place, the text of ``exc`` and of every exception it wraps; return ``exc``.

    Used on the errors of the HTTP libraries before they reach the caller,
    so that neither ``str(exc)`` nor a printed traceback shows a password
    from the URL, a token from a header, or a signature from the query.
    """
    for current in exception_chain(exc):  # each one is scrubbed before what it wraps is looked at
        try:
            args = current.args
            scrubbed = tuple(redact(arg) if isinstance(arg, str) else arg for arg in args)
            if scrubbed != args:
                current.args = scrubbed
            # str() of an OSError is made from these, and aiohttp's errors show their ``message``, not their args
            names = ("strerror", "filename", "filename2") if isinstance(current, OSError) else ()
            for name in names + ("message",):
                value = getattr(current, name, None)
                if isinstance(value, str):
                    setattr(current, name, redact(value))
        except Exception:  # pragma: no cover - an exception type with read-only attributes
            pass
    return exc


class DeferredSecrets:
    """:class:`Secrets` worked out the first time they are needed, then kept.

    A poll that succeeds shows nothing, so it need not gather its secrets;
    call this like :class:`Secrets`. ``make(*args)`` runs at most once.
    (Arguments rather than a closure: a poll keeps this for its whole life,
    and thousands of polls at once make every object count.)

    >>> secrets = DeferredSecrets(Secrets.of_request, "http://u:hunter22@host/")
    >>> secrets("logged in with hunter22")
    'logged in with ***'
    """

    __slots__ = ("_pending", "_secrets")

    def __init__(self, make: Callable[..., Secrets], *args: Any) -> None:
        self._pending: Optional[Tuple[Callable[..., Secrets], Tuple[Any, ...]]] = (make, args)
        self._secrets: Optional[Secrets] = None

    def resolve(self) -> Secrets:
        """The secrets (worked out now if they were not yet). Safe from several threads at once."""
        pending = self._pending  # one read: the function and its arguments together
        if pending is not None:  # two threads may both make them: the same secrets, either is right
            make, args = pending
            self._secrets = make(*args)
            self._pending = None  # let go of what they were made from, once they are kept
        secrets = self._secrets
        assert secrets is not None
        return secrets

    def __call__(self, text: Any) -> str:
        return self.resolve()(text)

    def __repr__(self) -> str:
        return "<DeferredSecrets: {}>".format("not worked out yet" if self._secrets is None else self._secrets)


def __getattr__(name: str) -> Any:
    """``printable`` and ``excerpt``, which moved to :mod:`httsleep.messages` (httsleep 1.1), still importable here."""
    if name in ("printable", "excerpt"):
        from . import messages

        return getattr(messages, name)
    raise AttributeError("module 'httsleep.redaction' has no attribute {!r}".format(name))
