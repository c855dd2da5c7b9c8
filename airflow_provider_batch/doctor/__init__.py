"""``doctor``: run a two-request batch on the real API with the user's connection and check what
comes back against what the provider relies on.

A vendor plugs in with a :class:`~airflow_provider_batch.doctor.probe.VendorProbe` (its steps,
usually a :class:`~airflow_provider_batch.doctor.wire.WireProbe`) carrying a
:class:`~airflow_provider_batch.doctor.expectations.VendorExpectations` (its statuses and their
order, upload flow, line fields and usage fields). It lives in the vendor's folder
(``vendors/<name>/doctor.py``) and the doctor finds it through the connection's vendor
(:meth:`~airflow_provider_batch.vendors.base.BatchVendor.doctor_probe`); this package is the
neutral runner.
"""

from __future__ import annotations

from airflow_provider_batch.doctor._report import Finding, Redactor, Report, Severity, Step
from airflow_provider_batch.doctor._run import DoctorOptions, run_doctor
from airflow_provider_batch.doctor.expectations import FieldRule, StatusRules, UsageRules, VendorExpectations
from airflow_provider_batch.doctor.probe import BatchSeen, Exchange, Plan, UploadSeen, VendorProbe

__all__ = [
    "BatchSeen",
    "DoctorOptions",
    "Exchange",
    "FieldRule",
    "Finding",
    "Plan",
    "Redactor",
    "Report",
    "Severity",
    "StatusRules",
    "Step",
    "UploadSeen",
    "UsageRules",
    "VendorExpectations",
    "VendorProbe",
    "run_doctor",
]
