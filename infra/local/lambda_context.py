"""What Lambda passes to a handler as ``context``: one fake, for the poller, ``infra.invoke``
and the tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

DEFAULT_ACCOUNT = "123456789012"  # moto's default account


class LambdaContext:
    """The attributes Powertools and the handlers read; the remaining time counts down from a
    deadline on ``clock`` (wall-clock seconds, like Lambda's)."""

    def __init__(
        self,
        function_name: str,
        memory_limit_in_mb: int,
        invoked_function_arn: str,
        deadline_ms: int,
        aws_request_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.invoked_function_arn = invoked_function_arn
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms
        self._clock = clock

    @classmethod
    def starting_now(
        cls,
        function_name: str,
        memory_mb: int,
        timeout_seconds: int,
        region: str,
        account: str = DEFAULT_ACCOUNT,
        clock: Callable[[], float] = time.time,
    ) -> LambdaContext:
        return cls(
            function_name=function_name,
            memory_limit_in_mb=memory_mb,
            invoked_function_arn=f"arn:aws:lambda:{region}:{account}:function:{function_name}",
            deadline_ms=int(clock() * 1000) + timeout_seconds * 1000,
            clock=clock,
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(self._clock() * 1000))

    def fields(self) -> dict[str, Any]:
        """Picklable constructor arguments (the poller rebuilds the context in the sandbox)."""
        return {
            "function_name": self.function_name,
            "memory_limit_in_mb": self.memory_limit_in_mb,
            "invoked_function_arn": self.invoked_function_arn,
            "deadline_ms": self._deadline_ms,
            "aws_request_id": self.aws_request_id,
        }
