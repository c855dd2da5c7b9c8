"""Moved to :mod:`airflow_provider_batch.vendors.together.client._ops`;
this old path is the same module."""

import sys

from airflow_provider_batch.vendors.together.client import _ops as _moved

sys.modules[__name__] = _moved
