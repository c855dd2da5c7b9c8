"""Airflow discovers the provider through its entry point and sees the declarative connection form."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_batch.get_provider_info import get_provider_info
from airflow_provider_batch.hooks.together import TogetherBatchHook
from tests.airflow_compat import before_3_2, import_string, requires_3_2, runtime_hooks

EXTRA_FIELDS = {
    "console_url_template",
    "poll_interval",
    "price_table",
    "verify_tls",
    "timeout",
    "max_retries",
}


def test_entry_point_and_schema() -> None:
    (entry,) = [
        e
        for e in importlib.metadata.entry_points(group="apache_airflow_provider")
        if e.value.startswith("airflow_provider_batch.")
    ]
    info = entry.load()()
    assert info["package-name"] == "airflow-provider-batch"
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)


def test_providers_manager_sees_together_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert "airflow-provider-batch" in pm.providers
    hook_info = runtime_hooks()["together"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_batch.hooks.together.TogetherBatchHook"
    assert hook_info.connection_id_attribute_name == "together_conn_id"


@requires_3_2
def test_connection_form_is_declarative() -> None:
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    behaviour = pm.field_behaviours["together"]
    assert behaviour["relabeling"] == {"password": "API Key", "host": "Base URL"}
    assert set(behaviour["hidden_fields"]) == {"schema", "port", "login", "extra"}
    widgets = {k for k in pm.connection_form_widgets if k.startswith("extra__together__")}
    assert widgets == {f"extra__together__{name}" for name in EXTRA_FIELDS}


@before_3_2
def test_connection_form_is_generic_on_3_1() -> None:
    # Documented limit: Airflow 3.1 does not read a declarative form from provider info, so the
    # UI shows its generic fields (Password = API key, Host = base URL, Extra as JSON).
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert "together" in pm.hooks
    assert "together" not in pm.field_behaviours
    assert not [k for k in pm.connection_form_widgets if k.startswith("extra__together__")]


def test_declared_modules_and_links_import() -> None:
    info = get_provider_info()
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    names = [import_string(link)().name for link in info["extra-links"]]
    assert names == ["Together batch", "Together batches", "Batch console", "LLM batches"]


def test_hook_uses_declarative_form_only() -> None:
    # Deprecated since Airflow 3.2: the form lives in get_provider_info, not on the hook.
    assert "get_ui_field_behaviour" not in vars(TogetherBatchHook)
    assert "get_connection_form_widgets" not in vars(TogetherBatchHook)
    assert (
        TogetherBatchHook.conn_type,
        TogetherBatchHook.default_conn_name,
        TogetherBatchHook.hook_name,
    ) == (
        "together",
        "together_default",
        "Together AI",
    )
