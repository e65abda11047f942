"""Delivery: whether, when and how each person is reached.

Today it holds the outreach policy (who may be reached now, who waits for their quiet hours to
end, who is skipped and why). The bulk-send engine and its exactly-once bookkeeping
(:mod:`votel_airflow.sending`, :mod:`votel_airflow.idempotency`, ...) move here later (issue 22,
item 8). Nothing here is imported while a DAG is parsed: a send loads it when it runs.
"""
