"""The only module that touches SAM CLI's private internals; written against aws-sam-cli==1.170.0 exactly
(`localapi.sam_version`, checked before this module is imported).

`sam local start-api` is run in-process with Docker taken out, so the routes and the API Gateway v1/v2 events
still come from SAM's own emulation (a Flask app) and template.yaml. Internals used:

- `samcli.commands.local.cli_common.invoke_context.InvokeContext`, subclassed:
  `_get_container_manager` (needs a Docker engine) returns None; the `lambda_runtime` property returns our
  worker runtime; `_add_account_id_to_global` (calls STS) uses a fixed account id.
- The duck-typed runtime contract of `samcli.commands.local.lib.local_lambda.LocalLambdaRunner.invoke`:
  `runtime.invoke(function_config, event, tenant_id, ..., stdout=StreamWriter)`, where the function's JSON
  response (or Lambda error document) is written to `stdout` and an empty output makes SAM answer 502.
  Of `samcli.local.lambdafn.config.FunctionConfig` we read `name`, `handler`, `code_abs_path`, `memory`,
  `timeout` and `env_vars` (`resolve()` and `override_values`).
- `LocalLambdaRunner.provider.get_all()` and `get_invoke_config(function)`, to start every worker of each
  routed function before serving (as SAM's `--warm-containers EAGER` does with one container each).
- `LocalLambdaRunner.get_aws_creds`, replaced by its first answer: without credentials SAM would build a
  boto3 session on every invoke.
- `samcli.local.events.api_event.RequestContext` and `RequestContextV2`: their `request_id` default is
  evaluated once at import, so every event would carry the same `requestContext.requestId`; each instance
  now gets a fresh one.
- `samcli.commands.local.lib.local_api_service.LocalApiService` (`api_provider.api`), and
  `samcli.local.apigw.local_apigw_service.LocalApigwService` (`create()`, `_app`, `run()`), which we create
  ourselves to put `localapi.http_api.HttpApiGateway` in front of its Flask app; that module's `Flask` (given
  a URL map that never merges "//" into a redirect) and its `construct_v1_event`/`construct_v2_event_http`
  (wrapped: called with every media type binary for a body that is not UTF-8, and their paths made as sent,
  `localapi.http_api.as_deployed`). They are called with keyword arguments only (`flask_request`, `binary_types`).
- `samcli.yamlhelper.yaml_parse`, to read the template's CorsConfiguration and JWT authorizers with their
  intrinsic functions.
- SAM's warning that a JWT authorizer "was not found" (`samcli.lib.providers.api_collector`) is dropped for the
  authorizers `localapi.jwt_authorizer` emulates; the event constructor is wrapped to add their claims.
- `samcli.local.docker.exceptions.ProcessSigTermException`, which SAM's server raises on SIGTERM.
"""

import functools
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from localapi.console import Console
from localapi.http_api import (
    HttpApiGateway,
    as_deployed,
    cors_by_route,
    is_utf8,
    request_target,
    routes_from_sam,
)
from localapi.jwt_authorizer import JwksFile, RouteAuthorization, inject_authorizer_context, route_authorizations
from localapi.local_aws import local_region
from localapi.pool import PoolClosedError, WorkerPools
from localapi.worker_process import FunctionSpec, WorkerInitError

LOCAL_ACCOUNT_ID = "123456789012"
# SAM base64-encodes the body when its binary media types include this one.
ANY_MEDIA_TYPE = "*/*"

# Before samcli is imported: no telemetry, and never probe the EC2 metadata endpoint for credentials.
os.environ["SAM_CLI_TELEMETRY"] = "0"
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import flask  # noqa: E402
from samcli.commands.local.cli_common.invoke_context import InvokeContext  # noqa: E402
from samcli.commands.local.lib.local_api_service import LocalApiService  # noqa: E402
from samcli.local.apigw import local_apigw_service  # noqa: E402
from samcli.local.apigw.local_apigw_service import LocalApigwService  # noqa: E402
from samcli.local.docker.exceptions import ProcessSigTermException  # noqa: E402
from samcli.local.events.api_event import RequestContext, RequestContextV2  # noqa: E402
from samcli.yamlhelper import yaml_parse  # noqa: E402
from werkzeug.routing import Map  # noqa: E402

from tools import local_jwt  # noqa: E402

LOG = logging.getLogger(__name__)


class LocalApiStartError(Exception):
    """Functions that cannot start, each with the first error of its workers."""

    def __init__(self, errors: list[WorkerInitError]) -> None:
        super().__init__("; ".join(error.one_line() for error in errors))
        self.errors = errors


class WorkerLambdaRuntime:
    """Stands in for SAM's Docker-backed LambdaRuntime: each invoke goes to a warm worker of the function."""

    def __init__(self, pools: WorkerPools, console: Console) -> None:
        self._pools = pools
        self._console = console

    def invoke(self, function_config: Any, event: str, tenant_id: str | None = None, **options: Any) -> None:
        spec = function_spec(function_config)
        try:
            response = self._pools.invoke(spec, event)
        except WorkerInitError as error:
            self._console.write(error.report())
            response = error.error_document
        except PoolClosedError:
            response = None
        if response is not None and options.get("stdout") is not None:
            options["stdout"].write_str(response)


OVERRIDABLE_AWS_VARIABLES = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})


def function_spec(function_config: Any) -> FunctionSpec:
    environment: dict[str, str] = function_config.env_vars.resolve()
    # Unlike `sam local`, overrides of variables the template does not declare still reach the function,
    # so fault switches such as MOCK_FAULT work without adding them to the deployed template.
    undeclared: Mapping[str, Any] = function_config.env_vars.override_values
    # Credentials given as overrides win over SAM's (the shell's): `make dev` hands the BFF moto's fake ones, so a
    # developer's real credentials never reach a function that runs against the local AWS.
    environment |= {
        name: str(value)
        for name, value in undeclared.items()
        if name not in environment or name in OVERRIDABLE_AWS_VARIABLES
    }
    return FunctionSpec(
        name=function_config.name,
        handler=function_config.handler,
        code_dir=function_config.code_abs_path,
        memory_mb=int(function_config.memory),
        timeout_s=float(function_config.timeout),
        environment=environment,
    )


def _give_each_request_its_own_id(context_class: Any) -> None:
    original_init = context_class.__init__

    @functools.wraps(original_init)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if "request_id" not in kwargs:
            self.request_id = str(uuid.uuid4())

    context_class.__init__ = init


_give_each_request_its_own_id(RequestContext)
_give_each_request_its_own_id(RequestContextV2)


class _WorkerInvokeContext(InvokeContext):  # type: ignore[misc]
    _global_parameter_overrides: dict[str, str] | None

    def __init__(self, runtime: WorkerLambdaRuntime, **options: Any) -> None:
        self._worker_runtime = runtime
        super().__init__(**options)

    @staticmethod
    def _get_container_manager(*_options: Any) -> None:
        return None

    @property
    def lambda_runtime(self) -> WorkerLambdaRuntime:
        return self._worker_runtime

    def _add_account_id_to_global(self) -> None:
        self._global_parameter_overrides = {
            **(self._global_parameter_overrides or {}),
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
        }


class _NeverMergeSlashes(Map):
    """API Gateway keeps "//" in a path; werkzeug would merge it and answer with a redirect."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "merge_slashes": False})


class _HttpApiFlask(flask.Flask):
    url_map_class = _NeverMergeSlashes


def _as_http_api(construct_event: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """SAM's event constructor, called with every type binary when the body is not UTF-8 (SAM would fail decoding
    it, and answer 502), and its event made what API Gateway sends (`localapi.http_api.as_deployed`)."""

    @functools.wraps(construct_event)
    def construct(flask_request: Any, **kwargs: Any) -> dict[str, Any]:
        if not is_utf8(flask_request.get_data()):
            kwargs["binary_types"] = [ANY_MEDIA_TYPE]
        event = construct_event(flask_request, **kwargs)
        return as_deployed(event, request_target(flask_request.environ))

    return construct


def _with_authorizer_context(construct_event: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    @functools.wraps(construct_event)
    def construct(flask_request: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return inject_authorizer_context(construct_event(flask_request, *args, **kwargs), flask_request.environ)

    return construct


class _EmulatedAuthorizersFilter(logging.Filter):
    """SAM warns that each route's JWT authorizer "was not found" and skips it; these are emulated instead."""

    def __init__(self, names: set[str]) -> None:
        super().__init__()
        self.names = names

    def filter(self, record: logging.LogRecord) -> bool:
        arguments = record.args if isinstance(record.args, tuple) else ()
        return not (arguments and arguments[0] in self.names and "not found" in str(record.msg))


local_apigw_service.Flask = _HttpApiFlask
local_apigw_service.construct_v2_event_http = _with_authorizer_context(
    _as_http_api(local_apigw_service.construct_v2_event_http)
)
local_apigw_service.construct_v1_event = _as_http_api(local_apigw_service.construct_v1_event)


def serve(
    *,
    template: Path,
    host: str,
    port: int,
    env_vars_file: Path,
    cors_origins: list[str],
    pools: WorkerPools,
    console: Console,
    on_ready: Callable[[list[str]], None],
) -> None:
    """Start every worker, then serve the template's API until SIGINT or SIGTERM; `on_ready` gets the routed
    functions. Raises LocalApiStartError when a function cannot start."""
    parsed_template = yaml_parse(template.read_text())
    authorizations = _jwt_authorizations(parsed_template, template)
    region = local_region(os.environ)
    with _WorkerInvokeContext(
        WorkerLambdaRuntime(pools, console),
        template_file=str(template),
        env_vars_file=str(env_vars_file),
        aws_region=region,
    ) as context:
        runner = context.local_lambda_runner
        credentials = runner.get_aws_creds()
        runner.get_aws_creds = lambda: credentials
        api_service = LocalApiService(
            lambda_invoke_context=context,
            port=port,
            host=host,
            static_dir=None,
            disable_authorizer=False,
            ssl_context=None,
        )
        api = api_service.api_provider.api
        routed = {route.function_name for route in api.routes}
        errors = pools.prewarm(
            function_spec(runner.get_invoke_config(function))
            for function in runner.provider.get_all()
            if function.name in routed
        )
        if errors:
            raise LocalApiStartError(errors)
        service = LocalApigwService(api=api, lambda_runner=runner, port=port, host=host, stderr=context.stderr)
        service.create()
        cors = cors_by_route(parsed_template, cors_origins)
        app: Any = service._app  # SAM keeps its Flask app private
        app.wsgi_app = HttpApiGateway(app.wsgi_app, routes_from_sam(api.routes, cors, authorizations), console)
        console.write(_announce(authorizations))
        on_ready(sorted(routed))
        try:
            service.run()
        except ProcessSigTermException:
            LOG.debug("SIGTERM received")


def _jwt_authorizations(
    parsed_template: dict[str, Any], template: Path
) -> dict[tuple[str, str, str], RouteAuthorization]:
    """The routes' JWT authorizers, trusting the local key (created on first use) and the template's issuer and
    audience defaults (or JWT_ISSUER and JWT_AUDIENCE)."""
    keys_dir = local_jwt.key_dir(os.environ)
    parameters = local_jwt.parameter_values(os.environ, template)
    authorizations = route_authorizations(parsed_template, parameters, JwksFile(keys_dir / local_jwt.JWKS_FILE))
    if not authorizations:
        return authorizations
    local_jwt.ensure_key(keys_dir)
    names = {authorization.authorizer.name for authorization in authorizations.values()}
    logging.getLogger("samcli.lib.providers.api_collector").addFilter(_EmulatedAuthorizersFilter(names))
    return authorizations


def _announce(authorizations: dict[tuple[str, str, str], RouteAuthorization]) -> list[str]:
    """One line per emulated authorizer, once every worker has started (a refused start stays one line)."""
    authorizers = {authorization.authorizer.name: authorization.authorizer for authorization in authorizations.values()}
    keys_dir = local_jwt.key_dir(os.environ)
    return [
        f"JWT authorizer {name} emulated: issuer {authorizer.issuer}, audience "
        f"{', '.join(sorted(authorizer.audiences))}, keys {keys_dir / local_jwt.JWKS_FILE} (`make token`)"
        for name, authorizer in sorted(authorizers.items())
    ]
