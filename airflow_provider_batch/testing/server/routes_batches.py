"""Moved to :mod:`airflow_provider_batch.vendors.together.server.routes_batches`;
this old path is the same module."""

import sys

from airflow_provider_batch.vendors.together.server import routes_batches as _moved

sys.modules[__name__] = _moved
