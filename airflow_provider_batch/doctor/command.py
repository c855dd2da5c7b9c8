"""``python -m airflow_provider_batch doctor``: confirm, run, print (text or JSON), exit code.

Everything written to stdout and stderr while it runs passes through a :class:`RedactingStream`,
so the API key never appears, not even in a log line or an error message of a library.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from airflow_provider_batch.doctor._report import Redactor, Report, Step, step_text
from airflow_provider_batch.doctor._run import DoctorOptions, run_doctor
from airflow_provider_batch.doctor.probe import Plan, VendorProbe
from airflow_provider_batch.doctor.warehouse import ScratchTables, connection_secrets, run_warehouse_doctor

__all__ = ["DoctorArgs", "RedactingStream", "doctor_command", "main_doctor"]


class RedactingStream:
    """A text stream that redacts every write before passing it on."""

    def __init__(self, inner: TextIO, redact: Redactor) -> None:
        self._inner, self._redact = inner, redact

    def write(self, text: str) -> int:
        self._inner.write(self._redact(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


@dataclass(frozen=True)
class DoctorArgs:
    """The command line's options; ``conn_id`` (a vendor), ``warehouse_conn_id`` or both."""

    conn_id: str | None = None
    model: str | None = None
    max_tokens: int = 8
    poll_interval: float = 5.0
    timeout: float = 900.0
    yes: bool = False
    json: bool = False
    warehouse_conn_id: str | None = None
    warehouse_schema: str | None = None


def _probe_for(conn_id: str) -> VendorProbe:
    """The probe of the connection's vendor (:meth:`BatchVendor.doctor_probe`), found by its type."""
    from airflow.sdk import BaseHook

    from airflow_provider_batch.vendors import UnknownVendorError, vendor_for

    conn_type = BaseHook.get_connection(conn_id).conn_type
    try:
        if not conn_type:
            raise UnknownVendorError("it names no connection type")
        vendor = vendor_for(conn_type)
    except UnknownVendorError as exc:
        raise ValueError(f"connection {conn_id!r}: {exc}") from None
    return vendor.doctor_probe(conn_id)


def _estimate_text(plan: Plan) -> str:
    cost = f"about ${plan.estimated_usd:.6f}" if plan.estimated_usd is not None else "unknown"
    return (
        f"Plan: {len(plan.lines)} requests to {plan.endpoint} with {plan.model}, "
        f"max_tokens {plan.lines[0]['body'].get('max_tokens')}; estimated cost {cost} ({plan.price_note})"
    )


def _confirmed(args: DoctorArgs, stdin: TextIO, err: TextIO) -> bool:
    if args.yes or not stdin.isatty():
        return True
    err.write("This runs a real batch on your account. Proceed? [y/N] ")
    err.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def doctor_command(args: DoctorArgs, redact: Redactor, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    """Run the doctor; returns the exit code (0 clean or WARN only, 1 on a FAIL, 2 not run).

    :param redact: filled with the connections' secrets as soon as they are read.
    """
    if args.conn_id is None and args.warehouse_conn_id is None:
        raise ValueError("nothing to check: give --conn-id (a vendor), --warehouse-conn-id, or both")
    report = Report(None, None, None, None, None)
    numbered = iter(range(1, 100))
    info = err if args.json else out

    def emit(step: Step) -> None:
        if not args.json:
            out.write(step_text(step, next(numbered)) + "\n")
            out.flush()

    if args.conn_id is not None and not _vendor(args, redact, info, err, stdin, report, emit):
        err.write("Not run.\n")
        return 2
    if args.warehouse_conn_id is not None:
        _warehouse(args, redact, info, report, emit)
    out.write((report.to_json(redact) if args.json else report.summary_text()) + "\n")
    return report.exit_code


def _vendor(
    args: DoctorArgs,
    redact: Redactor,
    info: TextIO,
    err: TextIO,
    stdin: TextIO,
    report: Report,
    emit: Callable[[Step], None],
) -> bool:
    """The vendor's two-request batch into ``report``; ``False`` when the user declined."""
    assert args.conn_id is not None
    probe = _probe_for(args.conn_id)
    redact.add(probe.secrets())
    try:
        plan = probe.plan(args.model, args.max_tokens)
        expect = probe.expectations
        header = f"doctor: {expect.vendor}, connection {args.conn_id!r}, base URL {probe.base_url}"
        info.write(f"{header}\n{_estimate_text(plan)}\n")
        info.flush()
        if not _confirmed(args, stdin, err):
            return False
        report.vendor, report.conn_id, report.base_url = expect.vendor, args.conn_id, probe.base_url
        report.model, report.estimated_usd = plan.model, plan.estimated_usd
        options = DoctorOptions(poll_interval=args.poll_interval, timeout=args.timeout)
        run_doctor(probe, plan, options, report, emit)
    finally:
        probe.close()
    return True


def _warehouse(
    args: DoctorArgs, redact: Redactor, info: TextIO, report: Report, emit: Callable[[Step], None]
) -> None:
    """The warehouse check (:mod:`.warehouse`) into ``report``: nothing is spent."""
    from airflow.sdk import BaseHook

    from airflow_provider_batch.warehouse.preflight import ResultsTarget, resolve_hook

    conn_id = args.warehouse_conn_id
    assert conn_id is not None
    connection = BaseHook.get_connection(conn_id)
    redact.add(connection_secrets(connection))
    tables = ScratchTables.fresh(args.warehouse_schema)
    hook, _ = resolve_hook(ResultsTarget(conn_id, tables.name("results"), tables.name("summary")))
    schema = args.warehouse_schema
    report.warehouse = {"conn_id": conn_id, "conn_type": connection.conn_type, "schema": schema,
                        "tables": tables.all}  # fmt: skip
    info.write(
        f"doctor: warehouse, connection {conn_id!r} ({connection.conn_type}): loads a few rows into "
        f"scratch tables {tables.name('*')} and drops them; nothing is spent\n"
    )
    info.flush()
    run_warehouse_doctor(hook, tables, report, emit, clock=time.monotonic)


def main_doctor(args: DoctorArgs) -> int:
    """The CLI entry: streams redacted from the start, errors printed without a traceback.

    Only the report goes to stdout; whatever a library prints or logs goes to stderr (so that
    ``--json`` output is one JSON document).
    """
    redact = Redactor()
    real_out, real_err = sys.stdout, sys.stderr
    out, err = RedactingStream(real_out, redact), RedactingStream(real_err, redact)
    sys.stdout, sys.stderr = err, err
    try:
        return doctor_command(args, redact, out, err, sys.stdin)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        err.write("doctor: interrupted\n")
        return 130
    except Exception as exc:
        err.write(f"doctor: error: {type(exc).__name__}: {exc}\n")
        return 2
    finally:
        sys.stdout, sys.stderr = real_out, real_err
