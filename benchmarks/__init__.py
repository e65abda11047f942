"""Benchmarks of the Votel provider against the baselines an Airflow user would otherwise write.

Run ``python -m benchmarks.run`` from the repository root; see ``benchmarks/README.md``.
"""
