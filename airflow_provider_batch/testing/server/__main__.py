"""``python -m airflow_provider_batch.testing.server --host 127.0.0.1 --port PORT --api-key KEY``.

``--vendor openai`` serves OpenAI's Files and Batch API instead of Together's (the default),
``--vendor anthropic`` Anthropic's Message Batches API.

Prints exactly one line, ``READY http://HOST:PORT/v1``, once requests are accepted, and serves
until SIGINT or SIGTERM. Warnings (e.g. a bind to a non-loopback address) go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from airflow_provider_batch.testing.server.app import VENDORS
from airflow_provider_batch.testing.server.config import ServerConfig
from airflow_provider_batch.testing.server.runner import LocalTogetherServer

__all__ = ["config_from_args", "main", "parse_args"]

_FLOAT_OPTIONS = (
    "validating_seconds",
    "processing_seconds",
    "cancel_seconds",
    "completion_window_seconds",
    "latency_ms",
    "fault_rate",
    "stall_seconds",
    "retry_after_seconds",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_batch.testing.server",
        description="Local Together-compatible Batch + Files API server.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--vendor", choices=VENDORS, default=VENDORS[0], help="the API to speak")
    for option in _FLOAT_OPTIONS:
        parser.add_argument("--" + option.replace("_", "-"), type=float, default=None)
    parser.add_argument("--fault-kinds", default=None, help="comma-separated, e.g. 429,503,reset")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--seed-files",
        type=int,
        default=None,
        metavar="N",
        help="start with an account history of N files (N // 3 completed batches)",
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--access-log", default=None, metavar="PATH")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    return _parser().parse_args(argv)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Build the :class:`ServerConfig` from parsed options (unset options keep their defaults)."""
    fields: dict[str, Any] = {"api_key": args.api_key}
    for name in (*_FLOAT_OPTIONS, "fault_kinds", "seed", "seed_files", "data_dir", "access_log"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    return ServerConfig(**fields)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until interrupted."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        config = config_from_args(args)
    except ValidationError as exc:
        _parser().error(str(exc))
    server = LocalTogetherServer(config, host=args.host, port=args.port, vendor=args.vendor).start()
    try:
        print(f"READY {server.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
