"""``python -m airflow_provider_batch COMMAND``; today one command, ``doctor``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main", "parser"]


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value}")
    return number


def parser() -> argparse.ArgumentParser:
    """The command line: ``doctor --conn-id ID [options]``."""
    top = argparse.ArgumentParser(prog="python -m airflow_provider_batch")
    commands = top.add_subparsers(dest="command", required=True)
    doctor = commands.add_parser(
        "doctor",
        help="run a two-request batch on the real API and check what the provider relies on",
        description="Runs a two-request batch (about $0.0001) with the connection's key and prints, "
        "step by step, the upload flow, the statuses and their order, the line formats, the usage "
        "fields and the timings. Exit 0: nothing that would break a pipeline (WARNs allowed); "
        "1: a FAIL; 2: not run.",
    )
    doctor.add_argument("--conn-id", required=True, help="the Airflow connection (e.g. together_default)")
    doctor.add_argument("--model", default=None, help="model of the two requests (default: a cheap one)")
    doctor.add_argument("--max-tokens", type=int, default=8, help="max_tokens of each request (default 8)")
    doctor.add_argument("--poll-interval", type=_positive, default=5.0, help="seconds between polls (5)")
    doctor.add_argument(
        "--timeout",
        type=_positive,
        default=900.0,
        help="seconds to wait for a terminal status, then cancel (900)",
    )
    doctor.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    doctor.add_argument("--json", action="store_true", help="print one JSON report on stdout")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from airflow_provider_batch.doctor.command import DoctorArgs, main_doctor

    return main_doctor(
        DoctorArgs(
            conn_id=args.conn_id,
            model=args.model,
            max_tokens=args.max_tokens,
            poll_interval=args.poll_interval,
            timeout=args.timeout,
            yes=args.yes,
            json=args.json,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
