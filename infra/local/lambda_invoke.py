"""A Lambda client's synchronous ``invoke`` answered in this process: the no-Docker twin of one
function invoking another (moto's Lambda runs no code without Docker).

``InProcessLambda({"docsum-fetch": handler}, template.function("FetchFunction"))`` stands in
for ``boto3.client("lambda")`` where only ``invoke`` is used: the payload goes through JSON
both ways, the handler gets a Lambda-like context with the function's memory and Timeout, and
the answer is shaped as Lambda's (``StatusCode``, a ``Payload`` stream, ``FunctionError`` with
Lambda's error document when the handler raised or answered more than Lambda returns).
"""

from __future__ import annotations

import io
import json
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from infra.local.environment import REGION
from infra.local.lambda_context import LambdaContext
from infra.template import FunctionSpec

Handler = Callable[[Any, Any], Any]
# A synchronous invocation's response payload: Lambda answers a larger one with an error.
RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024


class InProcessLambda:
    def __init__(self, handlers: Mapping[str, Handler], spec: FunctionSpec) -> None:
        self._handlers = dict(handlers)
        self._spec = spec
        self.invocations: list[dict[str, Any]] = []  # the payloads, as the function got them

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        if InvocationType != "RequestResponse":
            raise NotImplementedError("only synchronous invocations are twinned")
        handler = self._handlers.get(FunctionName)
        if handler is None:
            error = {"Error": {"Code": "ResourceNotFoundException", "Message": FunctionName}}
            raise ClientError(error, "Invoke")
        event = json.loads(Payload)
        self.invocations.append(event)
        context = LambdaContext.starting_now(
            FunctionName, self._spec.memory_size, self._spec.timeout, REGION
        )
        try:
            answer = json.dumps(handler(event, context)).encode()
        except Exception as exc:
            return self._error(type(exc).__name__, str(exc), traceback.format_exception(exc))
        if len(answer) > RESPONSE_LIMIT_BYTES:
            return self._error(
                "Function.ResponseSizeTooLarge",
                f"Response payload size ({len(answer)} bytes) exceeded maximum allowed payload "
                f"size ({RESPONSE_LIMIT_BYTES} bytes).",
                [],
            )
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": io.BytesIO(answer)}

    @staticmethod
    def _error(error_type: str, message: str, trace: list[str]) -> dict[str, Any]:
        document = {"errorMessage": message, "errorType": error_type, "stackTrace": trace}
        return {
            "StatusCode": 200,
            "FunctionError": "Unhandled",
            "ExecutedVersion": "$LATEST",
            "Payload": io.BytesIO(json.dumps(document).encode()),
        }
