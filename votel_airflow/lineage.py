"""OpenLineage for the operators that move data: what they read, what they wrote, how many rows.

Operators that move data record a :class:`Lineage` while they run; the OpenLineage provider (the
``openlineage`` extra) asks for it when the task completes, through
``get_openlineage_facets_on_complete``. Datasets are named the way OpenLineage names them:

* the Votel API: namespace the connection's scheme and host (``https://app.votel.ai``), name the
  endpoint path (``/activity/call-logs``); Votel's contacts are ``/contacts`` whichever job
  (import or export) moved them, so lineage joins the upsert of one DAG to the export of another;
* files and object stores: ``file`` and the absolute path for a local file, ``s3://bucket`` and
  the key for S3, ``gs://bucket`` for GCS, ``<scheme>://<authority>`` otherwise.

Nothing here imports OpenLineage until an event is built, so parsing a DAG never pays for it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

#: Where the contacts live in Votel, for lineage: the dataset imports write and exports read.
CONTACTS_DATASET = "/contacts"


class DatasetRef:
    """One dataset an operator read or wrote.

    :param namespace: OpenLineage namespace, e.g. ``https://app.votel.ai`` or ``s3://bucket``.
    :param name: OpenLineage name, e.g. ``/activity/call-logs`` or ``exports/calls.jsonl``.
    :param rows: rows written (outputs only), for the ``outputStatistics`` facet.
    :param columns: ``(name, type)`` pairs when the format knows them (Parquet), for the schema facet.
    """

    # A plain class, not a dataclass: operator modules import this one at DAG parse time, and
    # building a dataclass costs there.
    __slots__ = ("columns", "name", "namespace", "rows")

    def __init__(
        self, namespace: str, name: str, rows: int | None = None, columns: list[tuple[str, str]] | None = None
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.rows = rows
        self.columns = columns

    def __repr__(self) -> str:
        return f"DatasetRef({self.namespace!r}, {self.name!r}, rows={self.rows!r})"


class Lineage:
    """What one run of an operator read and wrote.

    :param inputs: datasets read.
    :param outputs: datasets written.
    """

    __slots__ = ("inputs", "outputs")

    def __init__(
        self, inputs: list[DatasetRef] | None = None, outputs: list[DatasetRef] | None = None
    ) -> None:
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])


def api_dataset(base_url: str, path: str, **stats: Any) -> DatasetRef:
    """The Votel API endpoint ``path`` of the connection at ``base_url`` as a dataset."""
    from votel_airflow.hooks.connection import without_userinfo

    parts = urlsplit(without_userinfo(base_url))
    return DatasetRef(f"{parts.scheme}://{parts.netloc}", path, **stats)


def storage_dataset(uri: str, **stats: Any) -> DatasetRef:
    """A file or object-store location (an ``ObjectStoragePath``'s text) as a dataset.

    The connection id an ``s3://conn_id@bucket/key`` URL carries is Airflow's, not part of the
    data's name, and is dropped.
    """
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return DatasetRef("file", parts.path if parts.scheme else uri, **stats)
    authority = parts.netloc.rpartition("@")[2]
    return DatasetRef(f"{parts.scheme}://{authority}", parts.path.lstrip("/"), **stats)


class LineageMixin:
    """``get_openlineage_facets_on_complete`` from the :class:`Lineage` the run recorded."""

    #: Set by ``execute`` (or ``execute_complete``) once the data has moved.
    votel_lineage: Lineage | None = None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The run's inputs and outputs, with row counts and (Parquet) schemas, as ``OperatorLineage``."""
        return operator_lineage(self.votel_lineage or Lineage())


def operator_lineage(lineage: Lineage) -> Any:
    """Build the OpenLineage ``OperatorLineage`` of a run (imports OpenLineage: at run time only)."""
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
        SchemaDatasetFacet,
        SchemaDatasetFacetFields,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    def facets(ref: DatasetRef) -> dict[str, Any]:
        if not ref.columns:
            return {}
        fields = [SchemaDatasetFacetFields(name=name, type=kind) for name, kind in ref.columns]
        return {"schema": SchemaDatasetFacet(fields=fields)}

    inputs = [Dataset(namespace=ref.namespace, name=ref.name, facets=facets(ref)) for ref in lineage.inputs]
    outputs = [
        OutputDataset(
            namespace=ref.namespace,
            name=ref.name,
            facets=facets(ref),
            outputFacets=(
                {}
                if ref.rows is None
                else {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=ref.rows)}
            ),
        )
        for ref in lineage.outputs
    ]
    return OperatorLineage(inputs=inputs, outputs=outputs)
