"""The doctor's run, the same for every vendor: upload, create, wait, download, check.

Each step is timed and reported as soon as it ends (``emit``). A step that raises ends the run
with a FAIL naming the step; a batch that is still running when the run ends (timeout, an error,
Ctrl-C) is cancelled, and the report says so.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_batch.doctor._report import Report, Severity, Step, StepAbort, StepRunner
from airflow_provider_batch.doctor.expectations import (
    LineCheck,
    check_echo,
    check_lines,
    check_statuses,
    check_upload_flow,
)
from airflow_provider_batch.doctor.probe import BatchSeen, Plan, VendorProbe

__all__ = ["DoctorOptions", "run_doctor"]


@dataclass(frozen=True)
class DoctorOptions:
    """:param poll_interval: seconds between status polls. :param timeout: seconds from create to a
    terminal status before the doctor gives up and cancels the batch."""

    poll_interval: float = 5.0
    timeout: float = 900.0


_Abort = StepAbort


class _Run:
    def __init__(
        self,
        probe: VendorProbe,
        plan: Plan,
        options: DoctorOptions,
        report: Report,
        emit: Callable[[Step], None],
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.probe, self.plan, self.options, self.report = probe, plan, options, report
        self.expect = probe.expectations
        self.emit, self.clock, self.sleep = emit, clock, sleep
        self.batch_id: str | None = None
        self.terminal = False
        self.cancel_tried = False
        self.file_ids: list[str] = []
        runner = StepRunner(report, emit, clock)
        self.step, self.timings = runner.step, runner.timings

    # -- steps ---------------------------------------------------------------------------------

    def upload(self, workdir: Path) -> str:
        path = workdir / "doctor_requests.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in self.plan.lines), encoding="utf-8")
        with self.step("upload", "Upload the input file") as step:
            seen = self.probe.upload(path)
            self.file_ids.append(seen.file_id)
            for exchange in seen.exchanges:
                step.info(f"{exchange.method} {exchange.where} -> {exchange.status}")
            step.extend(check_upload_flow(self.expect.upload_flow, seen.flow))
            step.info(f"file id {seen.file_id}; the API reports " + _reported(seen.reported))
            size = path.stat().st_size
            if seen.reported.get("bytes") not in (None, size):
                step.add(Severity.WARN, f"the API reports {seen.reported['bytes']} bytes; {size} were sent")
            step.data = {
                "file_id": seen.file_id,
                "flow": seen.flow,
                "reported": seen.reported,
                "sent_bytes": size,
            }
            return seen.file_id

    def create(self, file_id: str) -> BatchSeen:
        with self.step("create", "Create the batch") as step:
            seen = self.probe.create(file_id, self.plan)
            self.batch_id = seen.batch_id
            step.info(f"batch id {seen.batch_id}, first status {seen.status!r}")
            if seen.warning:
                step.add(Severity.WARN, f"the API sent a warning with the new batch: {seen.warning}")
            step.data = {"batch_id": seen.batch_id, "status": seen.status, "warning": seen.warning}
            return seen

    def wait(self, first: BatchSeen) -> BatchSeen:
        rules = self.expect.statuses
        with self.step("wait", "Wait for a terminal status") as step:
            started = self.clock()
            timeline = [(0.0, first.status, first.progress)]
            seen = first
            while seen.status not in rules.terminal and self.clock() - started < self.options.timeout:
                self.sleep(
                    min(self.options.poll_interval, max(self.options.timeout - (self.clock() - started), 0))
                )
                seen = self.probe.retrieve(seen.batch_id)
                timeline.append((round(self.clock() - started, 3), seen.status, seen.progress))
            self.terminal = seen.status in rules.terminal
            _report_timeline(step, timeline)
            step.extend(check_statuses(rules, [status for _, status, _ in timeline]))
            self._judge_end(step, seen)
            step.data = {"timeline": [{"t": t, "status": s, "progress": p} for t, s, p in timeline],
                         "polls": len(timeline) - 1, "final": seen.status, "error": seen.error}  # fmt: skip
            if not self.terminal:
                self.cancel(step)
                raise _Abort
            return seen

    def _judge_end(self, step: Step, seen: BatchSeen) -> None:
        rules = self.expect.statuses
        if not self.terminal:
            step.add(
                Severity.FAIL,
                f"no terminal status within --timeout {self.options.timeout:g} s (last: {seen.status!r})",
            )
        elif seen.status != rules.success:
            detail = f": {seen.error}" if seen.error else ""
            step.add(Severity.FAIL, f"the batch ended {seen.status}{detail}")
        else:
            step.add(Severity.OK, f"ended {seen.status}")

    def cancel(self, step: Step) -> None:
        if self.batch_id is None or self.terminal or self.cancel_tried:
            return
        self.cancel_tried = True
        try:
            seen = self.probe.cancel(self.batch_id)
        except Exception as exc:
            step.add(Severity.FAIL, f"could not cancel batch {self.batch_id}: {type(exc).__name__}: {exc}")
            return
        self.terminal = True
        step.add(Severity.INFO, f"cancelled batch {self.batch_id} (status now {seen.status!r})")

    def download(self, seen: BatchSeen, workdir: Path) -> dict[str, list[bytes]]:
        files: dict[str, list[bytes]] = {}
        with self.step("download", "Download the output and error files") as step:
            for kind, file_id in (("output", seen.output_file_id), ("error", seen.error_file_id)):
                if file_id is None:
                    step.info(f"no {kind} file id on the batch")
                    continue
                self.file_ids.append(file_id)
                dest = workdir / f"{kind}.jsonl"
                for exchange in self.probe.download(file_id, dest):
                    step.info(f"{kind}: {exchange.method} {exchange.where} -> {exchange.status}")
                files[kind] = dest.read_bytes().splitlines()
                step.info(f"{kind} file {file_id}: {dest.stat().st_size} bytes, {len(files[kind])} line(s)")
            if seen.output_file_id is None:
                step.add(Severity.FAIL, "the batch ended without an output file id")
        return files

    def lines(self, files: dict[str, list[bytes]]) -> list[LineCheck]:
        endpoint = self.plan.endpoint
        checks = [
            check_lines(self.expect, kind, files.get(kind, []), endpoint) for kind in ("output", "error")
        ]
        with self.step("lines", "Line formats (checked with the provider's own parser)") as step:
            for check in checks:
                fields = ", ".join(sorted(check.fields)) or "none"
                step.info(f"{check.kind}: {check.lines} line(s), {check.answered} answered; fields: {fields}")
                step.extend(check.findings)
            step.extend(check_echo(self.plan.custom_ids, [c for check in checks for c in check.custom_ids]))
            if not any(check.answered for check in checks):
                step.add(Severity.WARN, "no request was answered, so no answer's format could be checked")
            step.data = {
                c.kind: {"lines": c.lines, "answered": c.answered, "fields": c.fields} for c in checks
            }
        return checks

    def usage(self, checks: list[LineCheck]) -> None:
        with self.step("usage", "Usage fields") as step:
            usage = [u for check in checks for u in check.usage]
            problems = [f for check in checks for f in check.usage_findings]
            step.extend(problems)
            for entry in usage:
                step.info(
                    f"prompt_tokens {entry['prompt']}, completion_tokens {entry['completion']}, "
                    f"total_tokens {entry['total']}"
                )
            if usage and not problems:
                step.add(
                    Severity.OK, "prompt, completion and total tokens present and consistent on every answer"
                )
            step.data = {"usage": usage}

    def finish(self) -> None:
        with self.step("timings", "Timings and clean-up") as step:
            for name in ("upload", "create", "wait", "download"):
                if name in self.timings:
                    label = "time to terminal status" if name == "wait" else name
                    step.info(f"{label}: {self.timings[name]:.2f} s")
            if self.file_ids:
                step.info(self.probe.cleanup(self.file_ids))
            step.data = {"seconds": self.timings}


def _reported(reported: dict[str, object]) -> str:
    shown = [f"{k}={v}" for k, v in reported.items() if v is not None]
    return ", ".join(shown) if shown else "nothing about it"


def _report_timeline(step: Step, timeline: list[tuple[float, str, float | None]]) -> None:
    changes: list[tuple[float, str, float | None]] = []
    for entry in timeline:
        if not changes or changes[-1][1] != entry[1]:
            changes.append(entry)
    order = " -> ".join(status for _, status, _ in changes)
    step.info(f"statuses: {order} ({len(timeline) - 1} poll(s))")
    for t, status, progress in changes:
        shown = f", progress {progress:g} %" if progress is not None else ""
        step.info(f"  {t:7.2f} s  {status}{shown}")


def run_doctor(
    probe: VendorProbe,
    plan: Plan,
    options: DoctorOptions,
    report: Report,
    emit: Callable[[Step], None],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    """Run the two-request batch and fill ``report``, emitting each step when it ends."""
    run = _Run(probe, plan, options, report, emit, clock, sleep)
    with tempfile.TemporaryDirectory(prefix="apb-doctor-") as tmp:
        workdir = Path(tmp)
        try:
            file_id = run.upload(workdir)
            seen = run.wait(run.create(file_id))
            if seen.status != probe.expectations.statuses.success:
                raise _Abort  # the FAIL says how it ended; a failed batch has no lines to check
            checks = run.lines(run.download(seen, workdir))
            run.usage(checks)
        except _Abort:
            pass
        finally:  # an error or Ctrl-C: never leave the batch running
            if run.batch_id is not None and not run.terminal and not run.cancel_tried:
                cancel_step = Step("cancel", "Cancel the batch")
                run.cancel(cancel_step)
                report.steps.append(cancel_step)
                emit(cancel_step)
        run.finish()
    return report
