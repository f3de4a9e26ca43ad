"""Freshness arithmetic (RFC 9111 as a private cache), keys and the wire form of cache entries."""

from __future__ import annotations

import json

import pytest

from bff.cache.entry import (
    CacheEntry,
    age_s,
    cache_key,
    dumps,
    freshness_s,
    is_fresh,
    is_usable_stale,
    loads,
    may_serve_stale,
    parse_cache_control,
)


@pytest.mark.parametrize(
    ("ttl_s", "header", "expected"),
    [
        (300, None, 300.0),
        (300, "", 300.0),
        (300, "no-store", None),
        (300, "max-age=60, no-store", None),
        (300, "NO-STORE", None),
        (300, "max-age=60", 60.0),
        (60, "max-age=600", 60.0),
        (300, "max-age=0", 0.0),
        (300, 'max-age="30"', 30.0),
        (300, "no-cache", 0.0),
        (300, "no-cache, max-age=600", 0.0),
        (300, 'no-cache="set-cookie"', 0.0),
        (300, "private, max-age=30", 30.0),
        (300, "public, max-age=30", 30.0),
        (300, "private", 300.0),
        (300, "s-maxage=5", 300.0),
        (300, "s-maxage=5, max-age=120", 120.0),
        (300, "max-age=-5", 300.0),
        (300, "max-age=abc", 300.0),
        (300, "max-age=1.5", 300.0),
        (300, "max-age", 300.0),
        (300, "max-age=٣", 300.0),
        (300, "max-age=10, max-age=200", 10.0),
        (300, "max-age=200, max-age=10", 200.0),
        (300, ",, ;;, max-age=45,", 45.0),
        (0, None, None),
        (0, "max-age=60", None),
        (-1, None, None),
        (5, "max-age=60", 5.0),
    ],
)
def test_freshness_follows_the_ttl_and_cache_control(ttl_s: float, header: str | None, expected: float | None) -> None:
    assert freshness_s(ttl_s, header) == expected


def test_cache_control_directives_are_parsed_case_insensitively_first_one_winning() -> None:
    assert parse_cache_control("Max-Age=5, max-age=9, Private, bad directive, =7") == {"max-age": "5", "private": None}


@pytest.mark.parametrize(
    ("header", "allowed"),
    [(None, True), ("max-age=60", True), ("must-revalidate", False), ("proxy-revalidate", False), ("no-store", False)],
)
def test_stale_use_respects_revalidation_directives(header: str | None, allowed: bool) -> None:
    assert may_serve_stale(header) is allowed


def test_an_entry_is_fresh_then_usable_stale_then_gone() -> None:
    # Given an entry stored at t=1000, fresh for 60 s and usable stale for 300 s more
    entry = CacheEntry.create({"id": "P001"}, status=200, now=1000.0, fresh_s=60, stale_s=300)
    # Then it is fresh until t=1060, stale-usable until t=1360, and its age counts from t=1000
    assert (is_fresh(entry, 1059.9), is_fresh(entry, 1060.0)) == (True, False)
    assert (is_usable_stale(entry, 1359.9), is_usable_stale(entry, 1360.0)) == (True, False)
    assert age_s(entry, 1042.5) == 42.5
    assert age_s(entry, 999.0) == 0.0


def test_a_no_cache_answer_is_never_fresh_but_serves_stale_if_error() -> None:
    entry = CacheEntry.create("x", status=200, now=10.0, fresh_s=freshness_s(300, "no-cache") or 0.0, stale_s=300)
    assert not is_fresh(entry, 10.0)
    assert is_usable_stale(entry, 10.0)


@pytest.mark.parametrize("status", [201, 304, 500, 503])
def test_only_200_and_404_answers_are_cacheable(status: int) -> None:
    with pytest.raises(ValueError, match="not cacheable"):
        CacheEntry.create({}, status=status, now=0.0, fresh_s=1, stale_s=1)


def test_cache_keys_cannot_collide_across_ids_that_contain_separators() -> None:
    assert cache_key("product", "P001") == "frag1:product:P001"
    assert cache_key("product", "a:b") != cache_key("product:a", "b")
    assert cache_key("product", "a%3Ab") != cache_key("product", "a:b")


@pytest.mark.parametrize("value", [{"id": "P001", "price": 9999, "tags": ["a", None, 1.5, True]}, [], "text", 0, None])
def test_entries_survive_the_wire_form(value: object) -> None:
    entry = CacheEntry(value, 200, 1_700_000_000.25, 1_700_000_300.25, 1_700_000_600.25)  # type: ignore[arg-type]
    text = dumps(entry)
    assert " " not in text.replace("Awesome Gadget", "")
    assert loads(text) == entry
    assert loads(text.encode()) == entry


def test_a_negative_entry_keeps_its_404_status_on_the_wire() -> None:
    entry = CacheEntry.create(None, status=404, now=5.0, fresh_s=30, stale_s=0)
    assert loads(dumps(entry)).status == 404


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "not json",
        json.dumps({"s": 200, "t": 1, "f": 2, "x": 3}),
        json.dumps({"v": 1, "s": 500, "t": 1, "f": 2, "x": 3}),
        json.dumps({"v": 1, "s": "200", "t": 1, "f": 2, "x": 3}),
        json.dumps({"v": 1, "s": 200, "t": "1", "f": 2, "x": 3}),
        json.dumps({"v": 1, "s": 200, "t": 1, "f": True, "x": 3}),
        json.dumps({"v": 1, "s": 200, "t": 1, "f": 2}),
        '{"v": 1, "s": 200, "t": 1, "f": 2, "x": Infinity}',
    ],
)
def test_anything_else_on_the_wire_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - json's decode error is a ValueError too
        loads(text)
