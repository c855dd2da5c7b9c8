"""Fixtures of the local server tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.server.helpers import Api


@pytest.fixture
def api(together_server: LocalTogetherServer) -> Iterator[Api]:
    client = Api(together_server)
    yield client
    client.http.close()
