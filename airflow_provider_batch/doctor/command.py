"""``python -m airflow_provider_batch doctor``: confirm, run, print (text or JSON), exit code.

Everything written to stdout and stderr while it runs passes through a :class:`RedactingStream`,
so the API key never appears, not even in a log line or an error message of a library.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from airflow_provider_batch.doctor._report import Redactor, Report, Step, step_text
from airflow_provider_batch.doctor._run import DoctorOptions, run_doctor
from airflow_provider_batch.doctor.probe import Plan, VendorProbe

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
    conn_id: str
    model: str | None = None
    max_tokens: int = 8
    poll_interval: float = 5.0
    timeout: float = 900.0
    yes: bool = False
    json: bool = False


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

    :param redact: filled with the connection's secrets as soon as they are read.
    """
    probe = _probe_for(args.conn_id)
    redact.add(probe.secrets())
    try:
        plan = probe.plan(args.model, args.max_tokens)
        expect = probe.expectations
        header = f"doctor: {expect.vendor}, connection {args.conn_id!r}, base URL {probe.base_url}"
        info = err if args.json else out
        info.write(f"{header}\n{_estimate_text(plan)}\n")
        info.flush()
        if not _confirmed(args, stdin, err):
            err.write("Not run.\n")
            return 2
        report = Report(expect.vendor, args.conn_id, probe.base_url, plan.model, plan.estimated_usd)
        numbered = iter(range(1, 100))

        def emit(step: Step) -> None:
            if not args.json:
                out.write(step_text(step, next(numbered)) + "\n")
                out.flush()

        options = DoctorOptions(poll_interval=args.poll_interval, timeout=args.timeout)
        run_doctor(probe, plan, options, report, emit)
    finally:
        probe.close()
    out.write((report.to_json(redact) if args.json else report.summary_text()) + "\n")
    return report.exit_code


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
