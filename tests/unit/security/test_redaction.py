"""Redaction of credentials from anything that may be logged."""

from __future__ import annotations

import pytest

from bff.observability.redaction import REDACTED, redact, redact_text


def test_sensitive_keys_are_redacted_at_any_depth_and_in_any_case() -> None:
    value = {
        "request": {"headers": {"AUTHORIZATION": "Bearer t", "Proxy-Authorization": "Basic u", "accept": "*/*"}},
        "x_api_key": "k",
        "cookies": ["a=1"],
    }
    assert redact(value) == {
        "request": {"headers": {"AUTHORIZATION": REDACTED, "Proxy-Authorization": REDACTED, "accept": "*/*"}},
        "x_api_key": REDACTED,
        "cookies": ["a=1"],
    }


def test_header_pairs_are_redacted_by_name() -> None:
    raw = [(b"cookie", b"session=abc"), (b"accept", b"*/*"), ("Set-Cookie", "id=1")]
    assert redact(raw) == [[b"cookie", REDACTED], [b"accept", b"*/*"], ["Set-Cookie", REDACTED]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def", f"Authorization: {REDACTED}"),
        ("sent {'cookie': 'session=abc'}", f"sent {{'cookie': {REDACTED}"),
        ('"set-cookie":"id=1; HttpOnly"\nnext line', f'"set-cookie":{REDACTED}\nnext line'),
        ("no credentials here", "no credentials here"),
    ],
)
def test_credentials_in_text_are_cut_to_the_end_of_the_line(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_non_text_values_pass_through() -> None:
    assert redact({"status": 200, "ok": True, "ratio": 0.5, "none": None}) == {
        "status": 200,
        "ok": True,
        "ratio": 0.5,
        "none": None,
    }
