"""The running API for fuzzing: a moto server and uvicorn serving the real
`docsum_api.handler.app` (environment built as the local stack builds it, set before the import),
each in its own process on loopback, with the template's resources."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from infra.bootstrap import LocalResources
from infra.local.harness import api_over_moto
from infra.local.processes import Child

TOKEN = "fuzz-token"


@dataclass(frozen=True)
class RunningApi:
    url: str
    token: str
    resources: LocalResources
    api: Child
    moto: Child


@pytest.fixture(scope="module")  # torn down when its tests are done
def running_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    # Every repeated POST of a still-queued document takes the re-send path, which a run
    # shorter than the default 60 s would otherwise never reach.
    requeue = os.environ.get("FUZZ_REQUEUE_AFTER_SECONDS", "0")
    with api_over_moto(
        tmp_path_factory.mktemp("fuzz-logs"),
        TOKEN,
        visibility_timeout=30,
        extra={"REQUEUE_AFTER_SECONDS": requeue},
    ) as (moto, resources, api):
        yield RunningApi(api.url, TOKEN, resources, api, moto)
        assert api.alive(), f"the API died during the run:\n{api.log()}"
