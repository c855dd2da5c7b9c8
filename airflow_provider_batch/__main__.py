"""``python -m airflow_provider_batch COMMAND``: ``doctor``, and ``ledger settle`` for a create the
ledger could not settle by itself."""

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
    """The command line: ``doctor --conn-id ID [options]`` and/or ``--warehouse-conn-id ID``."""
    top = argparse.ArgumentParser(prog="python -m airflow_provider_batch")
    commands = top.add_subparsers(dest="command", required=True)
    doctor = commands.add_parser(
        "doctor",
        help="run a two-request batch on the real API and check what the provider relies on",
        description="Runs a two-request batch (about $0.0001) with the connection's key and prints, "
        "step by step, the upload flow, the statuses and their order, the line formats, the usage "
        "fields and the timings. With --warehouse-conn-id it also (or only) loads a few rows into "
        "scratch tables of that warehouse through the results task's loader, checks what comes back, "
        "and drops them. Exit 0: nothing that would break a pipeline (WARNs allowed); 1: a FAIL; "
        "2: not run.",
    )
    doctor.add_argument(
        "--conn-id", default=None, help="the vendor's Airflow connection (e.g. together_default)"
    )
    doctor.add_argument(
        "--warehouse-conn-id",
        default=None,
        help="a results warehouse connection to check with scratch tables (nothing is spent)",
    )
    doctor.add_argument(
        "--warehouse-schema",
        default=None,
        help="schema (BigQuery: dataset) for the scratch tables (default: the connection's)",
    )
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
    ledger = commands.add_parser("ledger", help="settle what the submission ledger could not decide")
    actions = ledger.add_subparsers(dest="action", required=True)
    settle = actions.add_parser(
        "settle",
        help="say which batch an interrupted create made (or that it made none)",
        description="A create interrupted before its batch id was recorded, on a vendor whose batches "
        "carry no owner (Anthropic), stops its task naming the candidate batches. Adopt one with "
        "--batch-id (the next try attaches to it, nothing is paid again), or declare with --no-batch "
        "that the create made none (the next try submits anew). Then clear the task.",
    )
    settle.add_argument("--submission-id", required=True, help="the ledger row the task's error names")
    which = settle.add_mutually_exclusive_group(required=True)
    which.add_argument("--batch-id", help="the batch to adopt as this row's")
    which.add_argument("--no-batch", action="store_true", help="the create made no batch: submit anew")
    settle.add_argument(
        "--ledger-conn-id", default=None, help="the operator's ledger_conn_id, if it sets one"
    )
    return top


def _settle(args: argparse.Namespace) -> int:
    from airflow.configuration import conf

    conf.get("core", "executor", fallback=None)  # Airflow's providers load before this package's hooks
    from airflow_provider_batch.hooks.ledger import get_ledger
    from airflow_provider_batch.ledger import LedgerError

    ledger = get_ledger(args.ledger_conn_id)
    record = ledger.by_submission(args.submission_id)
    if record is None:
        print(f"no submission {args.submission_id} in the ledger ({ledger.where})", file=sys.stderr)
        return 1
    try:
        settled = ledger.settle_create(record, None if args.no_batch else args.batch_id)
    except LedgerError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    what = f"adopted batch {settled.batch_id}" if settled.batch_id else "no batch: the next try submits anew"
    where = (
        f"{record.dag_id}.{record.task_id} {record.run_id} map {record.map_index} part {record.part_index}"
    )
    print(f"{where}: {what}; clear the task to go on")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "ledger":
        return _settle(args)
    if args.conn_id is None and args.warehouse_conn_id is None:
        parser().error("doctor: give --conn-id (a vendor), --warehouse-conn-id (a warehouse), or both")
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
            warehouse_conn_id=args.warehouse_conn_id,
            warehouse_schema=args.warehouse_schema,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
