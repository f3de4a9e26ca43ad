"""The only module that touches SAM CLI's private internals; written against aws-sam-cli==1.170.0 exactly.

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
- `LocalLambdaRunner.provider.get_all()` and `get_invoke_config(function)`, to start one worker per routed
  function before serving (what SAM's `--warm-containers EAGER` does with containers).
- `LocalLambdaRunner.get_aws_creds`, replaced by its first answer: without credentials SAM would build a
  boto3 session on every invoke.
- `samcli.local.events.api_event.RequestContext` and `RequestContextV2`: their `request_id` default is
  evaluated once at import, so every event would carry the same `requestContext.requestId`; each instance
  now gets a fresh one.
- `samcli.commands.local.lib.local_api_service.LocalApiService` (`api_provider.api.routes`, `start()`) and
  `samcli.local.docker.exceptions.ProcessSigTermException`, which SAM's server raises on SIGTERM.
"""

import functools
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from localapi.pool import PoolClosedError, WorkerPools
from localapi.worker_process import FunctionSpec, WorkerInitError

SAM_CLI_VERSION = "1.170.0"
LOCAL_ACCOUNT_ID = "123456789012"

# Before samcli is imported: no telemetry, and never probe the EC2 metadata endpoint for credentials.
os.environ["SAM_CLI_TELEMETRY"] = "0"
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

from samcli import __version__ as installed_sam_cli_version  # noqa: E402
from samcli.commands.local.cli_common.invoke_context import InvokeContext  # noqa: E402
from samcli.commands.local.lib.local_api_service import LocalApiService  # noqa: E402
from samcli.local.docker.exceptions import ProcessSigTermException  # noqa: E402
from samcli.local.events.api_event import RequestContext, RequestContextV2  # noqa: E402

LOG = logging.getLogger(__name__)


class WorkerLambdaRuntime:
    """Stands in for SAM's Docker-backed LambdaRuntime: each invoke goes to a warm worker of the function."""

    def __init__(self, pools: WorkerPools) -> None:
        self._pools = pools

    def invoke(self, function_config: Any, event: str, tenant_id: str | None = None, **options: Any) -> None:
        spec = function_spec(function_config)
        try:
            response = self._pools.invoke(spec, event)
        except WorkerInitError as error:
            LOG.error("%s", error)
            response = error.error_document
        except PoolClosedError:
            response = None
        if response is not None and options.get("stdout") is not None:
            options["stdout"].write_str(response)


def function_spec(function_config: Any) -> FunctionSpec:
    environment: dict[str, str] = function_config.env_vars.resolve()
    # Unlike `sam local`, overrides of variables the template does not declare still reach the function,
    # so fault switches such as MOCK_FAULT work without adding them to the deployed template.
    undeclared: Mapping[str, Any] = function_config.env_vars.override_values
    environment |= {name: str(value) for name, value in undeclared.items() if name not in environment}
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


def serve(
    *,
    template: Path,
    host: str,
    port: int,
    env_vars_file: Path,
    pools: WorkerPools,
    on_routes: Callable[[list[str]], None],
) -> None:
    """Serve the template's API until SIGINT or SIGTERM; `on_routes` gets the routed functions once warm."""
    if installed_sam_cli_version != SAM_CLI_VERSION:
        LOG.warning("localapi targets aws-sam-cli %s, found %s", SAM_CLI_VERSION, installed_sam_cli_version)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    with _WorkerInvokeContext(
        WorkerLambdaRuntime(pools),
        template_file=str(template),
        env_vars_file=str(env_vars_file),
        aws_region=region,
    ) as context:
        runner = context.local_lambda_runner
        credentials = runner.get_aws_creds()
        runner.get_aws_creds = lambda: credentials
        service = LocalApiService(
            lambda_invoke_context=context,
            port=port,
            host=host,
            static_dir=None,
            disable_authorizer=False,
            ssl_context=None,
        )
        routed = {route.function_name for route in service.api_provider.api.routes}
        pools.prewarm(
            function_spec(runner.get_invoke_config(function))
            for function in runner.provider.get_all()
            if function.name in routed
        )
        on_routes(sorted(routed))
        try:
            service.start()
        except ProcessSigTermException:
            LOG.debug("SIGTERM received")
