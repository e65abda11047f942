"""Airflow's API server can sign its tokens with Airflow's defaults and our pinned PyJWT.

Every REST call and every task's execution-API call rides on a token that ``JWTGenerator`` signs.
PyJWT 2.11 refuses an ``iss`` claim that is not a string, and Airflow 3.0 sends ``[]`` when
``[api_auth] jwt_issuer`` is unset (3.1 and later drop the empty claim): a constraints file that
pairs the two breaks a deployment left at Airflow's defaults. The deployment smoke run
(test_deployment.py) shows the same end to end; this is the check every minor runs in seconds.
"""

from __future__ import annotations

import secrets

import jwt
import pytest
from airflow.api_fastapi.auth.tokens import JWTGenerator

AUDIENCE = "urn:airflow.apache.org:task"


def test_a_token_is_signed_and_verified_with_no_jwt_issuer_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__API_AUTH__JWT_ISSUER", raising=False)
    key = secrets.token_hex(32)

    token = JWTGenerator(secret_key=key, valid_for=60, audience=AUDIENCE).generate({"sub": "admin"})

    claims = jwt.decode(token, key, algorithms=["HS512"], audience=AUDIENCE)
    assert claims["sub"] == "admin"
