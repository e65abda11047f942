"""Defaults and limits shared by every layer, in a module that imports nothing.

Operators check their arguments against these while a DAG is parsed, so they must not live in the
hook module: importing it would load the whole HTTP layer into every parse.
"""

from __future__ import annotations

#: The connection every hook, operator, sensor, trigger and notifier uses unless told otherwise;
#: ``VotelHook.default_conn_name`` is this (tests/test_import_cost.py pins that they agree).
DEFAULT_CONN_ID = "votel_default"
#: The contract's largest ``limit`` on a list endpoint.
MAX_PAGE_SIZE = 500
#: Pooled HTTP connections per sync hook, and so the most sends a task runs at once.
POOL_SIZE = 32
#: The contract's longest SMS body, e-mail subject and e-mail content (text or HTML), in characters.
SMS_MAX_LENGTH = 1600
EMAIL_SUBJECT_MAX_LENGTH = 998
EMAIL_CONTENT_MAX_LENGTH = 100_000
#: The API's most contacts in one enrollment request.
MAX_ENROLL_BATCH = 500
#: The fields an upsert of contacts can match existing contacts on.
MATCH_ON = ("phone", "email")
#: What a send whose outcome is unknown does to the task (see :mod:`votel_airflow.ambiguity`).
ON_AMBIGUOUS = ("fail", "skip")
