"""Everything outside a vendor's folder finds the vendor through the registry: the doctor, the
local server's ``--vendor`` choices, the pytest plugin's per-vendor fixtures, the test suites'
vendor parameter and the lost-create recovery. A new vendor is its folder plus one registry line."""

from __future__ import annotations

import pytest

from airflow_provider_batch.testing import pytest_plugin
from airflow_provider_batch.testing.server.app import VENDORS as SERVER_VENDORS
from airflow_provider_batch.vendors import VENDORS, vendor_named
from airflow_provider_batch.vendors.base import BatchVendor
from tests.conftest import VENDORS as TEST_VENDORS


def test_the_server_and_the_tests_speak_every_registered_vendor() -> None:
    assert SERVER_VENDORS == tuple(VENDORS) == TEST_VENDORS


@pytest.mark.parametrize("name", list(VENDORS))
def test_each_vendor_brings_its_doctor_probe_and_server_fixtures(name: str) -> None:
    vendor = vendor_named(name)
    assert type(vendor).doctor_probe is not BatchVendor.doctor_probe
    assert type(vendor).__module__.startswith(f"airflow_provider_batch.vendors.{name}.")
    for fixture in (f"{name}_server", f"{name}_server_session"):
        assert callable(getattr(pytest_plugin, fixture)), fixture
        assert fixture in pytest_plugin.__all__


@pytest.mark.parametrize("name", list(VENDORS))
def test_a_vendor_that_cannot_search_lets_the_ledger_decide(name: str) -> None:
    """``find_created`` is ``None`` exactly for ``recovery="ledger"``: then ``find_lost_create``
    takes the ledger's window (tests/vendors/anthropic/test_anthropic_lost_create.py runs it)."""
    vendor = vendor_named(name)

    class NoSearch:
        class batches:  # stands for client.batches
            @staticmethod
            def find_by_input_file(file_id: str) -> list[object]:
                return []

    assert (vendor.find_created(NoSearch(), "file-1") is None) == (vendor.recovery == "ledger")
