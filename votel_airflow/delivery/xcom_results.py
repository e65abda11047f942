"""What bulk operators return to XCom: counts, the first ids, and the full lists in a file.

XCom lives in Airflow's metadata database and is read back by every downstream task and the UI,
so a result must stay small whatever the input: an operator that handles one id per input
returns, per outcome, the first :data:`MAX_IDS_IN_XCOM` ids and the exact count, says when a list
was cut, and writes the full lists as one JSON object to ``results_destination`` when one is
given (``results_uri`` names it). The senders (:mod:`votel_airflow.delivery.engine`) do the same with
their message ids.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from votel_airflow.compat import ObjectStoragePath

#: Ids kept in an XCom result per list; the rest go to ``results_destination``.
MAX_IDS_IN_XCOM = 1000


def capped_lists(lists: Mapping[str, Sequence[str]], destination: ObjectStoragePath | None) -> dict[str, Any]:
    """``lists`` as an XCom result: each list cut to its first ids, with ``<name>_count`` beside it.

    ``truncated`` says whether any list was cut; ``results_uri`` names the file holding every list
    in full (written here when ``destination`` is given, else None).

    :param lists: each outcome's ids, e.g. ``{"enrolled": [...], "not_found": [...]}``.
    :param destination: where to write the full lists (``results_destination``), or None.
    """
    result: dict[str, Any] = {}
    for name, ids in lists.items():
        result[name] = list(ids[:MAX_IDS_IN_XCOM])
        result[f"{name}_count"] = len(ids)
    result["truncated"] = any(len(ids) > MAX_IDS_IN_XCOM for ids in lists.values())
    result["results_uri"] = None if destination is None else write_json(destination, lists)
    return result


def write_json(destination: ObjectStoragePath, document: Any) -> str:
    """Write ``document`` as JSON to ``destination`` atomically (the one publish path); its URI."""
    from votel_airflow.stream_to_file import write_document  # fsspec: only when a file is written

    return write_document(destination, json.dumps(document, separators=(",", ":")).encode())
