"""Which request headers travel to the downstream calls (the request context carries them: bff.api.deps).

Sent: the correlation id. The W3C trace headers of each call's own span are added per attempt, by the tracing
propagators (bff.observability.tracing), and only when tracing is on.
Never sent: the caller's Accept-Language. The services answer alike in every language, and the fragment cache
keys their answers by service and id alone (bff.resilience.caching): a header that could change an answer would
have to be in the key, where a caller could vary it to bypass and fill the cache. What depends on the language (a
price as a locale writes it) is rendered by the BFF after the cache, from the negotiated locale.
Never sent either: the client's Authorization (and cookies). The BFF calls its services as itself (SigV4 with the
execution role when DOWNSTREAM_AUTH=iam), so a client token forwarded downstream would only widen where it can
leak and let a client steer what an internal service believes about the caller (a confused deputy); with
SigV4 the Authorization header is the BFF's own signature anyway. A downstream that needs the end user should
get verified claims or an exchanged token, not the raw credential.
"""

from __future__ import annotations

from bff.observability.correlation import CORRELATION_HEADER


def downstream_headers(*, correlation_id: str) -> dict[str, str]:
    """Headers for a request's downstream calls: nothing of the caller's own travels (see the module's docstring)."""
    return {CORRELATION_HEADER: correlation_id}
