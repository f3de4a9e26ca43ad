"""SigV4 signing of downstream requests (IAM-authorised API Gateway), enabled by DOWNSTREAM_AUTH=iam.

`OutboundHttp` signs each request's plain values (method, URL, headers, body) just before handing them to the
transport, which sends the URL as given; there is no httpx auth flow. What is signed is what is sent. botocore
builds the canonical URI by URI-encoding the request path once more (`SigV4Auth._normalize_url_path`), which is
the SigV4 rule for every service but S3: each segment of the path *as it goes on the wire* is encoded again, and
that is what API Gateway recomputes. So botocore is handed the wire path exactly as it is sent (e.g.
`/products/a%2Fb`, giving the canonical `/products/a%252Fb`): never the decoded path (`/products/a/b` would sign
a different resource) and never a path encoded twice before sending.

Only `host`, `x-amz-date` and `x-amz-security-token` are signed, and the signed Host goes out as a header of the
request, so no transport derives another; the transport may add or rewrite other headers (connection,
accept-encoding) on the way, and a signed header that changed would break the signature.

botocore comes with the Lambda Python runtime and is imported here lazily, so local mode never loads it.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Literal
from urllib.parse import urlsplit

from bff.errors import ConfigurationError

EXECUTE_API = "execute-api"
type DownstreamAuthMode = Literal["none", "iam"]
_SIGNATURE_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token")


class SigV4Signer:
    """Signs requests with the execution role's credentials, refreshed by botocore when they expire."""

    def __init__(self, region: str, credentials: Any | None = None, service: str = EXECUTE_API) -> None:
        self._from_session = credentials is None
        self._credentials = credentials if credentials is not None else _session_credentials()
        self._region = region
        self._service = service

    def reload_credentials(self) -> None:
        """Reads the execution role's credentials again (after a SnapStart restore); given ones are kept."""
        if self._from_session:
            self._credentials = _session_credentials()

    def signs_for(self, host: str) -> bool:
        """Credentials go only to API Gateway in our region: a service configured on another host never sees
        the execution role's session token."""
        return host.endswith(
            (f".{self._service}.{self._region}.amazonaws.com", f".{self._service}.{self._region}.amazonaws.com.cn")
        )

    def sign(self, method: str, url: str, headers: MutableMapping[str, str], content: bytes | None) -> None:
        """Adds the Host, signature, date and session token headers for `url`, which goes out as given."""
        from botocore.auth import SigV4Auth  # noqa: PLC0415
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415

        parts = urlsplit(url)
        host = host_header(parts.scheme, parts.netloc)
        query = f"?{parts.query}" if parts.query else ""
        signed = AWSRequest(
            method=method,
            url=f"{parts.scheme}://{host}{parts.path or '/'}{query}",
            headers={"host": host},
            data=content,
        )
        frozen = self._credentials.get_frozen_credentials()
        SigV4Auth(frozen, self._service, self._region).add_auth(signed)
        headers["host"] = host
        for name in _SIGNATURE_HEADERS:
            if name in signed.headers:
                headers[name] = signed.headers[name]


def host_header(scheme: str, netloc: str) -> str:
    """The Host header for a URL's authority, as HTTP clients send it: no userinfo, no default port."""
    host = netloc.rpartition("@")[2].lower()
    default_port = {"http": ":80", "https": ":443"}.get(scheme)
    if default_port is not None and host.endswith(default_port):
        return host.removesuffix(default_port)
    return host


def _session_credentials() -> Any:
    from botocore.session import get_session  # noqa: PLC0415

    credentials = get_session().get_credentials()
    if credentials is None:
        raise ConfigurationError("DOWNSTREAM_AUTH=iam, but no AWS credentials are available")
    return credentials


def downstream_auth(mode: DownstreamAuthMode, region: str | None) -> SigV4Signer | None:
    if mode == "none":
        return None
    if not region:
        raise ConfigurationError("DOWNSTREAM_AUTH=iam needs AWS_REGION")
    return SigV4Signer(region)
