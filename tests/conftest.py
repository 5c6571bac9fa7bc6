from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import running_redis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real redis-server started for this test session on a free port."""
    data_dir: Path = tmp_path_factory.mktemp("redis")
    with running_redis(data_dir) as url:
        yield url
