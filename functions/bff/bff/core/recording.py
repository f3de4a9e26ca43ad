"""What a request's layers tell its one canonical log line: the Recorder each request carries in its context.

The inbound edge creates one recorder per request (bff.observability.metrics.InvocationRecord, created by the
handler for each invocation) and every layer that records receives it explicitly, in the RequestContext: the
downstream client records its calls, the fragment cache its lookups and shared-cache errors, the routes the page's
sections and degradations, the edge middleware the matched route. Nothing is kept in module state, so two requests
served on one event loop never record into each other's line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DownstreamCall:
    """One attempt of a downstream call, as the outbound edge saw it."""

    service: str
    outcome: str
    duration_ms: float
    status: int | None = None
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class SectionReport:
    """How one section of a page ended, as the page service saw it."""

    service: str
    duration_ms: float
    cache: str | None = None
    """hit | miss | stale, None when the fragment cache took no part."""
    reason: str | None = None
    """Why the section is degraded, stale or failed the page; None for a good answer."""


class Recorder(Protocol):
    """What one request may record. Each method only notes: the line is written once, when the answer is ready."""

    def record_call(self, call: DownstreamCall) -> None:
        """One downstream attempt (its latency, and a failure unless it fetched or was cancelled)."""

    def record_cache_lookup(self, section: str, tier: str | None) -> None:
        """One section's fragment-cache lookup: the tier that had a fresh entry (l1, l2), or None for a miss."""

    def record_cache_error(self, kind: str) -> None:
        """A shared-cache (L2) call that failed, timed out or was throttled: a miss, not an error of the request."""

    def record_sections(self, sections: Mapping[str, SectionReport]) -> None:
        """The answer's sections by name: how each ended."""

    def record_degradations(self, degraded: Sequence[tuple[str, str]]) -> None:
        """The degraded sections of the answer, as (section, reason); the answer is degraded when there is one."""

    def note_route(self, template: str) -> None:
        """The route template the app matched (the line falls back to the raw path without one)."""

    def record_fleet_transition(self, service: str, old: str, new: str) -> None:
        """The fleet's shared breaker state of a service changed in this environment's copy (closed, open, ramp),
        learnt during the request."""


class _NoRecording:
    """A Recorder that keeps nothing: the default of a context built outside the app (tests, tools)."""

    __slots__ = ()

    def record_call(self, call: DownstreamCall) -> None:
        del call

    def record_cache_lookup(self, section: str, tier: str | None) -> None:
        del section, tier

    def record_cache_error(self, kind: str) -> None:
        del kind

    def record_sections(self, sections: Mapping[str, SectionReport]) -> None:
        del sections

    def record_degradations(self, degraded: Sequence[tuple[str, str]]) -> None:
        del degraded

    def note_route(self, template: str) -> None:
        del template

    def record_fleet_transition(self, service: str, old: str, new: str) -> None:
        del service, old, new


NO_RECORDING: Recorder = _NoRecording()
