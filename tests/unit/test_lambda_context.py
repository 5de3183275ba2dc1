"""The one fake Lambda context (poller, infra.invoke, tests): its time runs out like Lambda's."""

from __future__ import annotations

from infra.local.lambda_context import LambdaContext


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_remaining_time_counts_down_from_the_timeout() -> None:
    clock = Clock(1_000.0)
    context = LambdaContext.starting_now("docsum-summarize", 512, 600, "eu-west-1", clock=clock)
    assert context.get_remaining_time_in_millis() == 600_000
    clock.now += 599.75
    assert context.get_remaining_time_in_millis() == 250
    clock.now += 10
    assert context.get_remaining_time_in_millis() == 0
    assert context.invoked_function_arn == (
        "arn:aws:lambda:eu-west-1:123456789012:function:docsum-summarize"
    )


def test_the_context_crosses_a_process_boundary_intact() -> None:
    """The poller sends ``fields()`` to the sandbox process and rebuilds the context there."""
    clock = Clock(50.0)
    context = LambdaContext.starting_now("f", 256, 30, "us-east-1", clock=clock)
    rebuilt = LambdaContext(**context.fields(), clock=clock)
    assert rebuilt.aws_request_id == context.aws_request_id
    assert rebuilt.get_remaining_time_in_millis() == 30_000
    assert (rebuilt.function_name, rebuilt.memory_limit_in_mb) == ("f", 256)
