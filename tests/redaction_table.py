"""The redaction table (issue point 17): sentences that must survive redaction, secrets that must not.

``ORDINARY``: what servers and logs say, words around ``token``, ``Basic``,
``password``, ``session``, ``key``... that :func:`httsleep.redaction.redact_text`
must leave exactly as they are. ``CREDENTIALS``: ``(text, secret)`` pairs,
a credential in the shapes servers, clients and logs show it; ``secret`` (the
credential, or the part of it that identifies it) must be gone after redaction.
Every entry is shorter than the 200 characters a give-up message shows of a body.
"""

from __future__ import annotations

from typing import List, Tuple

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFsaWNlIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

ORDINARY: List[str] = [
    '{"error": "token expired", "hint": "Basic auth is required"}',
    "token expired",
    "Basic auth is required",
    "Basic plan selected",
    "waiting for token refresh",
    "POST /oauth/token failed",
    "GET https://auth.example.com/oauth/token?grant=x returned 401",
    "session timed out",
    "password too short",
    "invalid api key format",
    "authorization header missing",
    "Bearer token required",
    "secret santa",
    "the key was rotated",
    "token: expired",
    '{"token": "expired"}',
    '{"error": "invalid_token", "error_description": "The access token expired"}',
    'WWW-Authenticate: Bearer realm="api", error="invalid_token"',
    "password: required",
    '{"password": null, "api_key": "missing"}',
    "Authorization: missing",
    "session: active",
    "key: value",
    '{"author": "alice", "max_tokens": 512, "token_type": "Bearer"}',
    '{"code": "ExpiredToken", "message": "The security token included in the request is expired"}',
    "Token refresh failed: upstream timeout, retry in 30 seconds",
    "NTLM authentication is not supported by this proxy",
    "Negotiate failed: no Kerberos credentials available",
    "Bearer Token Required",
    "the session key will be rotated at midnight",
    "token v2 is deprecated, use token v3",
    "session: 3600",
    "auth: failed",
    "Please sign in again: your token has been revoked",
    "Your Basic subscription does not include API access",
    "401 Unauthorized: token missing or malformed",
    "rate limit exceeded for key owner alice@example.com",
    "job 42 is RUNNING (step 3 of 7), token bucket empty",
    "cookie policy: strict",
    "Set up OAuth before requesting a token",
]

CREDENTIALS: List[Tuple[str, str]] = [
    ("Authorization: Basic YWxpY2U6aHVudGVyMg==", "YWxpY2U6aHVudGVyMg=="),
    ("basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    ("Authorization: Bearer " + JWT, "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
    ("Bearer " + JWT, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"),
    ("bearer 8f14e45fceea167a5a36dedd4bea2543", "8f14e45fceea167a5a36dedd4bea2543"),
    ("Authorization: Bearer opaque.Tok-en", "opaque.Tok-en"),
    ("token=ghp_16C7e42F292c6912E7710c838347Ae178B4a", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
    ("api_key: sk-live-4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    ('{"password": "hunter2"}', "hunter2"),
    ("password=hunter2", "hunter2"),
    ("Authorization: Token abc123", "abc123"),
    ("X-Api-Key: k123", "k123"),
    ("GET https://api.example.com/me?access_token=ya29.A0ARrdaM&page=2", "ya29.A0ARrdaM"),
    ('{"access_token": "ya29.A0ARrdaM-x", "expires_in": 3599}', "ya29.A0ARrdaM-x"),
    ("aws_access_key_id=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("Cookie: session=3f9a2c7e1b; lang=en", "3f9a2c7e1b"),
    ("Set-Cookie: session=abc; Path=/; HttpOnly", "session=abc"),
    ("client_secret=s3cr3tValue", "s3cr3tValue"),
    ('{"refresh_token": "rt-Zx81Qw"}', "rt-Zx81Qw"),
    ("Proxy-Authorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==",
     "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=="),
    ("WWW-Authenticate: Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEF",
     "YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEF"),
    ("pwd=letmein", "letmein"),
    ("token: abc123XYZ", "abc123XYZ"),
    ('{"token": "' + JWT + '"}', "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFsaWNlIn0"),
    ("{'X-Auth-Token': 'short'}", "short"),
    ("X-Gitlab-Token: glpat-xxxxxxxxxxxxxxxxxxxx", "glpat-xxxxxxxxxxxxxxxxxxxx"),
    ("private_token=abc", "private_token=abc"),
    ("auth failed for glpat-Abc123Def456Ghi789Jk", "glpat-Abc123Def456Ghi789Jk"),
    ("slack says invalid_auth for xoxb-123456789012-abcdefABCDEF", "xoxb-123456789012-abcdefABCDEF"),
    ("key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"),
    ("https://alice:hunter2@example.com/job", "hunter2"),
    ("signature=7d8e9f0a1b2c3d4e5f", "7d8e9f0a1b2c3d4e5f"),
    ('{"secret": "correct horse battery staple"}', "correct horse battery staple"),
    ("spring.datasource.password=changeme", "changeme"),
    ('{"sessionid": "42"}', '"42"'),
    ("Bearer token c2VjcmV0LXRva2VuLTE", "c2VjcmV0LXRva2VuLTE"),
    ("session: 9b2f0c1e-5d3a-4c8e-a6f1-2b7d9e0c4a11", "9b2f0c1e-5d3a-4c8e-a6f1-2b7d9e0c4a11"),
    ("X-Amz-Security-Token: FQoGZXIvYXdzEJr", "FQoGZXIvYXdzEJr"),
    ("Authorization: Bearer abcdefgh", "abcdefgh"),
]
