"""What a deployed HTTP API does around the Lambda integration, where SAM's Flask emulation behaves otherwise.

A WSGI middleware in front of SAM's Flask app:
- Routes match the raw path, split on "/" only, so an encoded "%2F" stays inside its path parameter: no decoding
  into a new segment, no "//" merge and no redirect to the emulator's own address.
- A request that no route matches (HEAD on a GET-only route included) gets 404 {"message":"Not Found"}.
- With a CorsConfiguration, preflights are answered from it, and a response's CORS headers come from it only:
  API Gateway ignores those of the integration.
- A route with a JWT authorizer refuses a request without a valid token (401) or the route's scopes (403) before
  the function runs, and an accepted request's event carries the claims (`localapi.jwt_authorizer`).
- One console line per request.

Flask still routes the request: it gets a path whose segments keep "/" and "%" escaped (`routing_path`). The event
then gets what API Gateway gives a function (`as_deployed`): the path decoded once, in the path parameters only;
`rawPath` (and `requestContext.http.path`, which Mangum decodes once more into the app's path) as the client sent
it; `rawQueryString` as sent. A byte outside printable ASCII in the target, which a client must have escaped, is
percent-encoded there, so the event is always valid JSON text. A body that is not UTF-8 reaches the function
base64-encoded (`isBase64Encoded` true) instead of failing SAM's event constructor with a 502.
"""

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, unquote_to_bytes, urlsplit

from localapi.console import Console
from localapi.jwt_authorizer import AUTHORIZER_CONTEXT_KEY, Refusal, RouteAuthorization

type Headers = list[tuple[str, str]]
type ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
type StartResponse = Callable[..., Callable[[bytes], object]]
type WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

NOT_FOUND_BODY = json.dumps({"message": "Not Found"}, separators=(",", ":")).encode()
ANY_METHOD = "ANY"
MAX_LOGGED_PATH = 200


class RouteLike(Protocol):
    """What SAM's `samcli.local.apigw.route.Route` offers and we read."""

    function_name: str
    path: str
    methods: list[str]


@dataclass(frozen=True)
class CorsPolicy:
    allow_origins: frozenset[str]
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_s: int | None = None
    allow_credentials: bool = False

    def allows(self, origin: str) -> bool:
        return "*" in self.allow_origins or origin in self.allow_origins

    def preflight_headers(self, origin: str) -> Headers:
        """An allowed origin gets the configuration; any other gets no CORS headers at all, as in API Gateway."""
        if not self.allows(origin):
            return []
        headers = [*self._origin_headers(origin)]
        if self.allow_methods:
            headers.append(("Access-Control-Allow-Methods", ",".join(self.allow_methods)))
        if self.allow_headers:
            headers.append(("Access-Control-Allow-Headers", ",".join(self.allow_headers)))
        if self.max_age_s is not None:
            headers.append(("Access-Control-Max-Age", str(self.max_age_s)))
        return headers

    def response_headers(self, origin: str) -> Headers:
        if not self.allows(origin):
            return []
        headers = self._origin_headers(origin)
        if self.expose_headers:
            headers.append(("Access-Control-Expose-Headers", ",".join(self.expose_headers)))
        return headers

    def _origin_headers(self, origin: str) -> Headers:
        allowed = "*" if "*" in self.allow_origins and not self.allow_credentials else origin
        headers = [("Access-Control-Allow-Origin", allowed)]
        if self.allow_credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return headers


@dataclass(frozen=True)
class HttpApiRoute:
    methods: frozenset[str]
    path: str
    function: str
    cors: CorsPolicy | None
    pattern: re.Pattern[str]
    authorization: RouteAuthorization | None = None

    @classmethod
    def of(
        cls,
        methods: Iterable[str],
        path: str,
        function: str,
        cors: CorsPolicy | None,
        authorization: RouteAuthorization | None = None,
    ) -> "HttpApiRoute":
        upper = frozenset(method.upper() for method in methods)
        return cls(upper, path, function, cors, _path_pattern(path), authorization)

    def matches_path(self, routing_path: str) -> bool:
        return self.pattern.fullmatch(routing_path) is not None

    def matches(self, method: str, routing_path: str) -> bool:
        return (method in self.methods or ANY_METHOD in self.methods) and self.matches_path(routing_path)


def routes_from_sam(
    sam_routes: Iterable[RouteLike],
    cors_by_route: Mapping[tuple[str, str], CorsPolicy],
    authorization_by_route: Mapping[tuple[str, str, str], RouteAuthorization] = {},
) -> list[HttpApiRoute]:
    """Literal paths before templated ones, as API Gateway prefers the most specific route."""
    routes = [
        HttpApiRoute.of(
            route.methods,
            route.path,
            route.function_name,
            cors_by_route.get((route.function_name, route.path)),
            _authorization(route, authorization_by_route),
        )
        for route in sam_routes
        if route.path != "$default"
    ]
    return sorted(routes, key=lambda route: (route.path.count("{"), -len(route.path)))


def _authorization(
    route: RouteLike, authorization_by_route: Mapping[tuple[str, str, str], RouteAuthorization]
) -> RouteAuthorization | None:
    keys = [(route.function_name, route.path, method.upper()) for method in route.methods]
    return next((authorization_by_route[key] for key in keys if key in authorization_by_route), None)


def routing_path(raw_path: str) -> str:
    """The raw path with each segment percent-decoded, except that "%" and "/" stay escaped: one raw segment is
    one routing segment. Returned as WSGI's PATH_INFO is: bytes as latin-1."""
    segments = []
    for segment in raw_path.split("/"):
        decoded = unquote_to_bytes(segment)
        segments.append(decoded.replace(b"%", b"%25").replace(b"/", b"%2F"))
    return b"/".join(segments).decode("latin-1")


def unescape(text: str) -> str:
    """Undo `routing_path`'s escapes in a path or path parameter taken from the routed request."""
    return unquote(text)


@dataclass(frozen=True)
class RequestTarget:
    """The request target's path and query string as sent, in ASCII."""

    path: str
    query: str


def request_target(environ: Mapping[str, Any]) -> RequestTarget | None:
    """The request target as the client sent it, from the dev server's REQUEST_URI; None when unavailable.

    Any byte outside printable ASCII (which a client must send escaped) is percent-encoded, so that the target is
    ASCII text whatever was on the wire."""
    target = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not isinstance(target, str) or not target:
        return None
    text = _printable_ascii(_wire_bytes(target))
    if not text.startswith("/"):
        parts = urlsplit(text)
        return RequestTarget(parts.path or "/", parts.query)
    path, _, query = text.partition("?")
    return RequestTarget(path, query)


def raw_request_path(environ: Mapping[str, Any]) -> str | None:
    """The request target's path exactly as sent (see `request_target`); None when unavailable."""
    target = request_target(environ)
    return target.path if target is not None else None


def _wire_bytes(target: str) -> bytes:
    """The bytes of the request line's target. werkzeug's dev server reads the line as latin-1 and hands it on
    UTF-8-encoded and read back as latin-1 (its WSGI "encoding dance"); that is undone here. A target that is not in
    that form (another WSGI server) is taken as latin-1."""
    try:
        return target.encode("latin-1").decode("utf-8").encode("latin-1")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return target.encode("latin-1", errors="replace")


def _printable_ascii(data: bytes) -> str:
    return "".join(chr(byte) if 0x21 <= byte <= 0x7E else f"%{byte:02X}" for byte in data)


def as_deployed(event: dict[str, Any], target: RequestTarget | None) -> dict[str, Any]:
    """SAM's event made what API Gateway gives the function: path parameters decoded once (from their routed,
    escaped form); the v2 `rawPath`, `requestContext.http.path` and `rawQueryString`, or the v1 `path`, as the client
    sent them (Mangum decodes the path once into the app's path); v2 query parameters decoded once from the raw
    query (werkzeug's would keep an invalid escape and read a raw byte as latin-1)."""
    if isinstance(event.get("pathParameters"), dict):
        event["pathParameters"] = {name: unescape(value) for name, value in event["pathParameters"].items()}
    context = _mapping(event.get("requestContext"))
    http = _mapping(context.get("http")) if "http" in context else None
    if target is None:  # no raw target: the routed path, unescaped, is the closest to it
        for container, key in ((event, "rawPath"), (event, "path"), (context, "path"), (http or {}, "path")):
            if isinstance(container.get(key), str):
                container[key] = unescape(container[key])
        return event
    if http is not None:
        event["rawPath"] = http["path"] = target.path
        event["rawQueryString"] = target.query
        event["queryStringParameters"] = _query_parameters(target.query)
    else:
        event["path"] = target.path
        if "path" in context:
            context["path"] = target.path
    return event


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _query_parameters(query: str) -> dict[str, str] | None:
    """Payload 2.0's queryStringParameters: each decoded once (invalid UTF-8 as U+FFFD), repeats joined by commas."""
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        values.setdefault(name, []).append(value)
    return {name: ",".join(given) for name, given in values.items()} or None


def is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class HttpApiGateway:
    def __init__(self, app: WsgiApp, routes: list[HttpApiRoute], console: Console | None = None) -> None:
        self._app = app
        self._routes = routes
        self._console = console
        policies = {route.cors for route in routes if route.cors is not None}
        # A preflight on a path no route matches is answered by the API's CORS configuration, if there is one.
        self._default_cors = next(iter(policies)) if len(policies) == 1 else None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        raw_path = raw_request_path(environ)
        if raw_path is not None:
            environ["PATH_INFO"] = routing_path(raw_path)
        path = environ.get("PATH_INFO", "/")
        shown_path = (raw_path or path)[:MAX_LOGGED_PATH]
        route = next((route for route in self._routes if route.matches(method, path)), None)
        origin = environ.get("HTTP_ORIGIN")

        def log(status: int) -> None:
            if self._console is not None:
                duration_ms = (time.monotonic() - started) * 1000
                self._console.request(method, shown_path, status, duration_ms, route.function if route else None)

        if origin and method == "OPTIONS" and environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"):
            cors = self._cors_for_path(path)
            if cors is not None:
                log(204)
                start_response("204 No Content", cors.preflight_headers(origin))
                return []
        if route is None:
            log(404)
            start_response(
                "404 Not Found",
                [("Content-Type", "application/json"), ("Content-Length", str(len(NOT_FOUND_BODY)))],
            )
            return [] if method == "HEAD" else [NOT_FOUND_BODY]
        if route.authorization is not None:
            outcome = route.authorization.authorize(environ.get("HTTP_AUTHORIZATION"))
            if isinstance(outcome, Refusal):
                log(outcome.status)
                start_response(outcome.status_line, outcome.headers())
                return [] if method == "HEAD" else [outcome.body]
            environ[AUTHORIZER_CONTEXT_KEY] = outcome.context()

        def respond(status: str, headers: Headers, exc_info: ExcInfo | None = None) -> Callable[[bytes], object]:
            log(int(status.split(" ", 1)[0]))
            if route.cors is not None and origin:
                headers = [(name, value) for name, value in headers if not _is_cors_header(name)]
                headers += route.cors.response_headers(origin)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self._app(environ, respond)

    def _cors_for_path(self, path: str) -> CorsPolicy | None:
        matching = [route for route in self._routes if route.matches_path(path)]
        if not matching:
            return self._default_cors
        return next((route.cors for route in matching if route.cors is not None), None)


def _is_cors_header(name: str) -> bool:
    return name.lower().startswith("access-control-")


def _path_pattern(path: str) -> re.Pattern[str]:
    parts = []
    for segment in path.split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(".+")
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append("[^/]+")
        else:
            parts.append(re.escape(routing_path(segment)))
    return re.compile("/".join(parts))


def cors_by_route(template: Mapping[str, Any], origins: Iterable[str]) -> dict[tuple[str, str], CorsPolicy]:
    """The CORS policy of each (function, path) whose HttpApi event belongs to an API with a CorsConfiguration.

    As deployed with origins given: a configuration under `Fn::If` is its first branch (the template enables CORS
    only when CorsAllowedOrigins is not empty), and AllowOrigins given by reference to a parameter are `origins`.
    No origins, no CORS, as with the template's default.
    """
    allowed = frozenset(origin.strip() for origin in origins if origin.strip())
    resources: Mapping[str, Any] = template.get("Resources") or {}
    policies: dict[str, CorsPolicy] = {}
    for name, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::HttpApi":
            configuration = _first_branch((resource.get("Properties") or {}).get("CorsConfiguration"))
            policy = _cors_policy(configuration, allowed) if isinstance(configuration, Mapping) else None
            if policy is not None:
                policies[name] = policy
    by_route: dict[tuple[str, str], CorsPolicy] = {}
    for function, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            properties = event.get("Properties") or {}
            api = properties.get("ApiId")
            api_name = api.get("Ref") if isinstance(api, Mapping) else None
            if event.get("Type") == "HttpApi" and api_name in policies and "Path" in properties:
                by_route[function, properties["Path"]] = policies[api_name]
    return by_route


def _first_branch(value: Any) -> Any:
    if isinstance(value, Mapping) and "Fn::If" in value:
        return _first_branch(value["Fn::If"][1])
    if isinstance(value, Mapping) and value.get("Ref") == "AWS::NoValue":
        return None
    return value


def _cors_policy(configuration: Mapping[str, Any], origins: frozenset[str]) -> CorsPolicy | None:
    literal_origins = configuration.get("AllowOrigins")
    allow_origins = frozenset(literal_origins) if isinstance(literal_origins, list) else origins
    if not allow_origins:
        return None
    max_age = configuration.get("MaxAge")
    return CorsPolicy(
        allow_origins=allow_origins,
        allow_methods=_strings(configuration.get("AllowMethods")),
        allow_headers=_strings(configuration.get("AllowHeaders")),
        expose_headers=_strings(configuration.get("ExposeHeaders")),
        max_age_s=int(max_age) if isinstance(max_age, int | str) else None,
        allow_credentials=configuration.get("AllowCredentials") is True,
    )


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


# Sent once to each new worker before it serves (its answer and output dropped): a request no route of a function
# serves, so the warm-up touches no downstream service and no state that a page request reads.
WARM_UP_EVENT = json.dumps(
    {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/__localapi/warm-up",
        "rawQueryString": "",
        "headers": {"host": "127.0.0.1", "user-agent": "localapi-warm-up"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "localapi",
            "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {
                "method": "GET",
                "path": "/__localapi/warm-up",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "localapi-warm-up",
            },
            "requestId": "warm-up",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000,
        },
        "isBase64Encoded": False,
    }
)
