"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Kept import-light: Airflow calls it for every ``airflow providers`` command and UI page.
"""

from __future__ import annotations

from typing import Any

from votel_airflow import __version__

CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Read timeout of each API call, 0.1 to 600 seconds. Default 30.",
        "schema": {"type": ["number", "null"], "minimum": 0.1, "maximum": 600},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries on 429, 5xx and network errors, 0 to 20. Default 5.",
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
    },
    "retry_after_max": {
        "label": "Longest Retry-After (seconds)",
        "description": (
            "The longest wait a 429's Retry-After gets, 0 to 3600 seconds; it also caps how long a 429 "
            "holds the account's other calls in the worker. Default 60."
        ),
        "schema": {"type": ["number", "null"], "minimum": 0, "maximum": 3600},
    },
    "proxy": {
        "label": "Proxy",
        "description": "http(s) proxy URL for every API call, e.g. http://proxy.internal:3128. Optional.",
        "schema": {"type": ["string", "null"]},
    },
    "ca_bundle": {
        "label": "CA bundle",
        "description": "Absolute path of a PEM file of CA certificates to trust (on every worker). Optional.",
        "schema": {"type": ["string", "null"]},
    },
    "extra_headers": {
        "label": "Extra headers",
        "description": 'JSON object of headers sent with every call, e.g. {"X-Team": "growth"}. Optional.',
        "schema": {"type": ["string", "null"]},
    },
    "server_idempotency": {
        "label": "Server honours Idempotency-Key",
        "description": (
            "On (default): a send that failed ambiguously (timeout, lost connection, 5xx) is retried "
            "with the same key. Off: it is never sent again; the recipient is reported as ambiguous."
        ),
        # Shown switched on: a form saved untouched keeps the contract's default.
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "adaptive_pacing": {
        "label": "Share the rate limit (adaptive pacing)",
        "description": (
            "On (default): after a 429 the worker processes pace their calls to this account from "
            "the API's answers (one pace per machine), so concurrent tasks share the limit. Off: each "
            "request goes at once."
        ),
        "schema": {"type": ["boolean", "null"], "default": True},
    },
}


INTEGRATION = "Votel"
#: Modules holding public operators and sensors, listed (not discovered) so that reading the
#: provider info imports nothing; tests/unit/test_provider.py pins the lists to the package.
OPERATOR_MODULES = [
    f"votel_airflow.operators.{name}"
    for name in (
        "activity", "agent_knowledge", "agents", "calendars", "click_tracking", "communication",
        "contact_exports", "contact_imports", "contacts", "conversations", "generic", "payments",
        "settings", "tasks", "workflows",
    )
]  # fmt: skip
SENSOR_MODULES = [
    f"votel_airflow.sensors.{name}"
    for name in ("calendars", "calls", "communication", "contacts", "conversations", "payments", "workflows")
]


def get_provider_info() -> dict[str, Any]:
    """Describe the provider the way official providers do: its integration, connection type and
    form, operators, sensors, hooks, triggers, notifiers and extra links."""
    return {
        "package-name": "airflow-provider-votel",
        "name": "Votel",
        "description": "Votel API (AI voice agents and CRM) operators, sensors, triggers and hooks.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://docs.votel.ai",
                "tags": ["service"],
            }
        ],
        "operators": [{"integration-name": INTEGRATION, "python-modules": OPERATOR_MODULES}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": SENSOR_MODULES}],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["votel_airflow.hooks.votel"]}],
        "connection-types": [
            {
                "connection-type": "votel",
                "hook-class-name": "votel_airflow.hooks.votel.VotelHook",
                "hook-name": "Votel",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port", "extra"],
                    "relabeling": {"password": "API Key", "host": "Base URL"},
                    "placeholders": {
                        "host": "https://app.votel.ai/api",
                        "password": "sk_...",
                    },
                },
                "conn-fields": CONNECTION_FIELDS,
            }
        ],
        "extra-links": ["votel_airflow.links.VotelObjectLink"],
        "notifications": [
            "votel_airflow.notifications.VotelSmsNotifier",
            "votel_airflow.notifications.VotelCallNotifier",
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["votel_airflow.triggers.condition", "votel_airflow.triggers.events"],
            }
        ],
    }
