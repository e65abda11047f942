"""Dataset names for OpenLineage: the API by host and path, files and object stores by OpenLineage's rules."""

from __future__ import annotations

import pytest

from votel_airflow.lineage import api_dataset, storage_dataset


def test_the_api_is_named_by_scheme_and_host_and_the_endpoint_path() -> None:
    ref = api_dataset("https://app.votel.ai/api", "/activity/call-logs", rows=None)
    assert (ref.namespace, ref.name) == ("https://app.votel.ai", "/activity/call-logs")


@pytest.mark.parametrize(
    ("uri", "namespace", "name"),
    [
        ("/data/votel/calls.jsonl", "file", "/data/votel/calls.jsonl"),
        ("file:///data/votel/calls.jsonl", "file", "/data/votel/calls.jsonl"),
        ("s3://aws_default@lake/votel/calls.parquet", "s3://lake", "votel/calls.parquet"),
        ("s3://lake/votel/calls.parquet", "s3://lake", "votel/calls.parquet"),
        ("gs://bucket/x/y.jsonl.gz", "gs://bucket", "x/y.jsonl.gz"),
    ],
)
def test_destinations_are_named_as_openlineage_names_files_and_object_stores(
    uri: str, namespace: str, name: str
) -> None:
    ref = storage_dataset(uri, rows=3)
    assert (ref.namespace, ref.name, ref.rows) == (namespace, name, 3)
