"""Regression tests for the fixes made in the final code review."""

from __future__ import annotations

import pytest

import httsleep
from httsleep._redact import redact_text, redact_url


def test_a_password_containing_an_at_sign_is_redacted_whole(httpserver, fake_time):
    """requests splits userinfo at the last '@': the redaction must hide everything before it."""
    httpserver.expect_request("/job").respond_with_data("busy", status=503)
    url = httpserver.url_for("/job").replace("http://", "http://user:p@ss@")
    with pytest.raises(httsleep.StopPolling) as caught:
        httsleep.httsleep(url, status_code=200, max_retries=1)
    message = str(caught.value)
    assert "ss@" not in message and "user" not in message
    assert "GET http://***@{}:".format(httpserver.host) in message
    assert redact_url("No adapter for 'user:p@ss@host/x'") == "No adapter for '***@host/x'"
    assert redact_text("see https://u:a@b@c@host/x") == "see https://***@host/x"


def test_the_command_line_explains_a_jsonpath_that_ends_too_early(capsys):
    """--jsonpath uses the library's JSONPath parser, whose error says why (not an AttributeError's text)."""
    from httsleep.cli import EXIT_USAGE, main

    assert main(["http://127.0.0.1:9/", "--jsonpath", "a.=1"]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert "invalid JSONPath expression 'a.': the expression is empty or ends too early" in error
    assert "NoneType" not in error
