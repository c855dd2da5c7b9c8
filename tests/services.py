"""Skip-or-fail checks for the external services some tests need.

On a user's machine a missing PostgreSQL, MySQL/MariaDB or Redis skips those tests with a reason. CI sets
``REQUIRE_SERVICES=1``, which turns the skip into a failure so a broken service cannot hide.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES = ("127.0.0.1", 5432)
MYSQL = ("127.0.0.1", 3306)
REDIS = ("127.0.0.1", 6379)


def _reachable(addr: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(addr, timeout=2):
            return True
    except OSError:
        return False


def require(name: str, addr: tuple[str, int]) -> None:
    if _reachable(addr):
        return
    message = f"{name} is not reachable on {addr[0]}:{addr[1]}"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message}, and REQUIRE_SERVICES=1 says it must be there")
    pytest.skip(f"{message}; start it to run this test (CI sets REQUIRE_SERVICES=1 to make this fail)")


def require_postgres() -> None:
    require("PostgreSQL", POSTGRES)


def require_mysql() -> None:
    require("MySQL/MariaDB", MYSQL)


def require_redis() -> None:
    require("Redis", REDIS)
