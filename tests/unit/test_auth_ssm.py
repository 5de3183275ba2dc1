"""In the cloud the bearer tokens come from an SSM SecureString (template parameter
ApiTokenParameterName); a rotation there reaches the API without a deploy."""

from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from docsum.intake.documents import DocumentService, IntakeLimits
from docsum.platform.settings import Settings
from docsum_api.app import ApiSettings, create_app
from docsum_api.auth import TOKEN_CACHE_SECONDS, TokenSettings, TokenSource
from fastapi.testclient import TestClient

from infra.bootstrap import LocalResources
from tests.conftest import Fakes

PARAMETER = "/docsum/api-tokens"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(aws_env: LocalResources, fakes: Fakes, clock: Clock) -> Iterator[TestClient]:
    boto3.client("ssm").put_parameter(
        Name=PARAMETER, Value="new-token,old-token", Type="SecureString"
    )
    parameters.clear_caches()
    settings = Settings(api_token_parameter=PARAMETER)
    service = DocumentService(fakes.store, fakes.repository, fakes.queue, IntakeLimits.of(settings))
    yield TestClient(
        create_app(
            ApiSettings.of(settings),
            service,
            tokens=TokenSource(TokenSettings.of(settings), clock=clock),
        )
    )
    parameters.clear_caches()


def status_with(client: TestClient, token: str) -> int:
    return client.get(
        "/documents/" + "0" * 32, headers={"Authorization": f"Bearer {token}"}
    ).status_code


def test_tokens_come_from_the_ssm_parameter(client: TestClient) -> None:
    assert status_with(client, "new-token") == 404
    assert status_with(client, "old-token") == 404
    assert status_with(client, "other") == 401


def test_a_rotation_in_ssm_is_picked_up_once_the_cache_expires(
    client: TestClient, clock: Clock
) -> None:
    assert status_with(client, "old-token") == 404  # read and cached
    boto3.client("ssm").put_parameter(
        Name=PARAMETER, Value="newest-token", Type="SecureString", Overwrite=True
    )
    clock.now += TOKEN_CACHE_SECONDS - 1
    assert status_with(client, "newest-token") == 401  # still the cached tokens
    clock.now += 1
    assert status_with(client, "newest-token") == 404
    assert status_with(client, "old-token") == 401
