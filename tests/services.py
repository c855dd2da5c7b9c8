"""Skip-or-fail checks for the external services some tests need.

On a user's machine a missing PostgreSQL, MySQL/MariaDB or Redis skips those tests with a reason. CI sets
``REQUIRE_SERVICES=1``, which turns the skip into a failure so a broken service cannot hide.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import pytest

POSTGRES = ("127.0.0.1", 5432)
MYSQL = ("127.0.0.1", 3306)
REDIS = ("127.0.0.1", 6379)


def _reachable(addr: tuple[str, int], timeout: float = 2) -> bool:
    try:
        with socket.create_connection(addr, timeout=timeout):
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


def require_installed(module: str, what: str, how: str) -> None:
    """Skip (or, with ``REQUIRE_SERVICES=1``, fail) unless ``module`` imports; ``how`` installs it."""
    import importlib.util

    if importlib.util.find_spec(module) is not None:
        return
    message = f"{what} is not installed (no module {module!r}); {how}"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message}, and REQUIRE_SERVICES=1 says it must be there")
    pytest.skip(message)


def wait_for_port(addr: tuple[str, int], timeout: float, alive: Callable[[], bool]) -> float:
    """Seconds until ``addr`` accepts a connection; raises if ``alive()`` turns false or time runs out."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if _reachable(addr, timeout=0.2):
            return time.monotonic() - start
        if not alive():
            raise RuntimeError(f"the process meant to listen on {addr[0]}:{addr[1]} exited")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {addr[0]}:{addr[1]} after {timeout:.0f} s")
