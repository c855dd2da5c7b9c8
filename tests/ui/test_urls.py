from airflow_provider_batch.ui.urls import page_url


def test_the_page_url_without_filters() -> None:
    assert page_url("http://localhost:8080/") == "http://localhost:8080/plugin/together-batches"


def test_the_page_url_encodes_its_filters() -> None:
    url = page_url("https://af.example/base", dag_id="nightly", run_id="manual__2026-11-30T00:00:00+00:00",
                   task_id="submit", map_index=-1)  # fmt: skip
    assert url == (
        "https://af.example/base/plugin/together-batches?dag_id=nightly"
        "&run_id=manual__2026-11-30T00%3A00%3A00%2B00%3A00&task_id=submit&map_index=-1"
    )


def test_the_app_address_of_the_page_is_what_every_dag_reader_may_open() -> None:
    url = page_url("https://af.example/base/", dag_id="nightly", map_index=-1, app=True)
    assert url == "https://af.example/base/together-batches/page?dag_id=nightly&map_index=-1"
