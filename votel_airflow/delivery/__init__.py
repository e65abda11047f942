"""Delivery: whether, when and how each person is reached, and reached only once.

The outreach policy (who may be reached now, who waits for their quiet hours to end, who is
skipped and why: ``policy``, ``local_time``, ``reads``, ``suppression``, ``screening``,
``outcome``), the bulk-send engine (``engine``) and its exactly-once bookkeeping
(``idempotency``, ``progress_stores``, ``ambiguity``, ``xcom_results``), and the kill switch that
stops what a task started (``kill_switch``). This package imports nothing itself: operators
import ``idempotency`` and ``xcom_results`` at parse time (both small), everything else loads
when a task runs.
"""
