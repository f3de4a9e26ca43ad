"""SigV4 signing of downstream requests (IAM-authorised API Gateway), enabled by DOWNSTREAM_AUTH=iam.

What is signed is what is sent. botocore builds the canonical URI by URI-encoding the request path once
more (`SigV4Auth._normalize_url_path`), which is the SigV4 rule for every service but S3: each segment of
the path *as it goes on the wire* is encoded again, and that is what API Gateway recomputes. So botocore must
be handed the wire path exactly as httpx sends it (`request.url.raw_path`, e.g. `/products/a%2Fb`, giving the
canonical `/products/a%252Fb`): never the decoded path (`/products/a/b` would sign a different resource) and
never a path encoded twice before sending.

Only `host`, `x-amz-date` and `x-amz-security-token` are signed; httpx adds headers (accept-encoding,
connection) after auth, and a signed header that changed on the way would break the signature.

botocore comes with the Lambda Python runtime and is imported here lazily, so local mode never loads it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Literal

import httpx

from bff.errors import ConfigurationError

EXECUTE_API = "execute-api"
type DownstreamAuthMode = Literal["none", "iam"]
_SIGNATURE_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token")


class SigV4Auth(httpx.Auth):
    """Signs each request with the execution role's credentials, refreshed by botocore when they expire."""

    requires_request_body = True

    def __init__(self, region: str, credentials: Any | None = None, service: str = EXECUTE_API) -> None:
        if credentials is None:
            from botocore.session import get_session  # type: ignore[import-untyped]  # noqa: PLC0415

            credentials = get_session().get_credentials()
        if credentials is None:
            raise ConfigurationError("DOWNSTREAM_AUTH=iam, but no AWS credentials are available")
        self._credentials = credentials
        self._region = region
        self._service = service

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        # Credentials go only to API Gateway in our region: a service configured on another host never sees
        # the execution role's session token.
        if self.signs_for(request.url.host):
            self.sign(request)
        yield request

    def signs_for(self, host: str) -> bool:
        return host.endswith(
            (f".{self._service}.{self._region}.amazonaws.com", f".{self._service}.{self._region}.amazonaws.com.cn")
        )

    def sign(self, request: httpx.Request) -> None:
        from botocore.auth import SigV4Auth as BotocoreSigV4Auth  # type: ignore[import-untyped]  # noqa: PLC0415
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]  # noqa: PLC0415

        wire_url = f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.raw_path.decode()}"
        signed = AWSRequest(
            method=request.method, url=wire_url, headers={"host": request.headers["host"]}, data=request.content
        )
        frozen = self._credentials.get_frozen_credentials()
        BotocoreSigV4Auth(frozen, self._service, self._region).add_auth(signed)
        for name in _SIGNATURE_HEADERS:
            if name in signed.headers:
                request.headers[name] = signed.headers[name]


def downstream_auth(mode: DownstreamAuthMode, region: str | None) -> SigV4Auth | None:
    if mode == "none":
        return None
    if not region:
        raise ConfigurationError("DOWNSTREAM_AUTH=iam needs AWS_REGION")
    return SigV4Auth(region)
