"""Audio transcription batch: every line carries ``"method": "FILE"`` and a public audio URL.

The recordings table holds URLs of call recordings; the batch transcribes them with Whisper on
``/v1/audio/transcriptions``, and the transcripts land in ``call_transcripts`` (``response_text``),
with the call's queue carried as metadata.
"""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.build import build_requests
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

from _example_config import (
    AUDIO_MODEL,
    POLL_INTERVAL,
    START_DATE,
    TOGETHER_CONN_ID,
    WAREHOUSE_CONN_ID,
    WORK_DIR,
)

AUDIO_ENDPOINT = "/v1/audio/transcriptions"
RECORDINGS = [
    {
        "call_id": f"call-{n:03d}",
        "queue": queue,
        "audio_url": f"https://recordings.example.com/{queue}/{n:03d}.wav",
    }
    for n, queue in enumerate(["billing", "support", "sales", "support", "billing", "support"])
]

with DAG(
    dag_id="together_audio_transcription",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    tags=["together", "batch", "example", "audio"],
    doc_md=__doc__,
) as dag:

    @task
    def build(run_id: str | None = None) -> dict:
        return build_requests(
            RECORDINGS,
            str(WORK_DIR / "audio" / str(run_id).replace(":", "_") / "requests.jsonl"),
            key_column="call_id",
            model=AUDIO_MODEL,
            endpoint=AUDIO_ENDPOINT,
            audio_url_column="audio_url",
            body={"language": "en", "response_format": "json"},
            metadata_columns=["queue"],
        )

    requests = build()
    submit = TogetherBatchOperator(
        task_id="submit_batch",
        input_path="{{ ti.xcom_pull(task_ids='build')['path'] }}",
        metadata_manifest="{{ ti.xcom_pull(task_ids='build')['metadata_path'] }}",
        endpoint=AUDIO_ENDPOINT,
        together_conn_id=TOGETHER_CONN_ID,
        poll_interval=POLL_INTERVAL,
    )
    load = TogetherBatchResultsOperator(
        task_id="load_results",
        manifest=submit.output,
        together_conn_id=TOGETHER_CONN_ID,
        warehouse_conn_id=WAREHOUSE_CONN_ID,
        results_table="call_transcripts",
        summary_table="call_transcript_spend",
    )
    requests >> submit >> load
