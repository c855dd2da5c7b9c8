"""An auth manager that limits DAGs, for the page's permission tests (unit and browser).

Airflow's SimpleAuthManager, except that a user who is not ``admin`` may read only the DAGs
whose id starts with their user name and an underscore (``alice`` reads ``alice_nightly``).
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager


class DagLimitedAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
                          ) -> bool:  # fmt: skip
        dag_id = getattr(details, "id", None)
        if dag_id and user.username != "admin" and not dag_id.startswith(f"{user.username}_"):
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
