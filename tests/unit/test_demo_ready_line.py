"""The demo's ready line asks for CORS_ALLOWED_ORIGINS only when the API is not known to allow the demo's origin."""

from __future__ import annotations

from demo.__main__ import parse_arguments, ready_line

ORIGIN = "http://127.0.0.1:8900"
API = "http://127.0.0.1:3000"


def test_an_api_that_allows_the_origin_needs_no_instruction() -> None:
    # Given make dev's allowed origins, the demo's among them
    # When the demo says it is ready
    line = ready_line(ORIGIN, API, f"https://shop.example,{ORIGIN}")

    # Then it says where it is and tells the reader to set nothing
    assert line == f"Demo ready on {ORIGIN}/ (API {API})"
    assert "CORS_ALLOWED_ORIGINS" not in line


def test_an_api_that_does_not_allow_the_origin_is_named_as_such() -> None:
    line = ready_line(ORIGIN, API, "https://shop.example")

    assert f"add {ORIGIN} to CORS_ALLOWED_ORIGINS" in line


def test_an_api_whose_origins_are_unknown_gets_the_setting_to_make() -> None:
    # Given the demo started on its own (make demo), not knowing the API's origins
    arguments = parse_arguments(["--port", "8900"])

    # When it says it is ready
    line = ready_line(ORIGIN, arguments.api, arguments.allowed_origins)

    # Then it names the setting the API needs
    assert line.endswith(f"the API must allow this origin: CORS_ALLOWED_ORIGINS={ORIGIN})")


def test_a_look_alike_origin_is_not_taken_for_the_demos() -> None:
    line = ready_line(ORIGIN, API, f"{ORIGIN}.evil.example,{ORIGIN}0")

    assert f"add {ORIGIN} to CORS_ALLOWED_ORIGINS" in line
