"""The "View in Votel" extra link: from a task to the object it created or changed in the Votel app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from votel_airflow.compat import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

    from votel_airflow.compat import BaseOperator

#: Where the running operator keeps the app URL of what it touched, for :meth:`VotelObjectLink.get_link`.
_LINK_ATTRIBUTE = "_votel_link_url"
APP_PATHS = {
    "call": "/activity/calls/{id}",
    "message": "/conversations/messages/{id}",
    "contact": "/contacts/{id}",
    "workflow": "/workflows/{id}",
    "campaign": "/campaigns/{id}",
    "agent": "/agents/{id}",
    "import": "/contacts/imports/{id}",
    "booking": "/calendars/bookings/{id}",
    "task": "/tasks/{id}",
    "tracking_link": "/tracking-links/{id}",
}


def app_url(base_url: str, kind: str, object_id: str) -> str:
    """The Votel app page of an object: the API base URL without ``/api``, plus the object's page."""
    from urllib.parse import quote

    from votel_airflow.hooks.connection import without_userinfo

    # The link is stored for the UI and shown to everyone who can see the task.
    base_url = without_userinfo(base_url)
    root = base_url[: -len("/api")] if base_url.endswith("/api") else base_url
    return root + APP_PATHS[kind].format(id=quote(str(object_id), safe=""))


def record_link(context: Mapping[str, Any], base_url: str, kind: str, object_id: str) -> str:
    """Record the app URL of the object a task touched, for the "View in Votel" button.

    Kept on the running operator only: the link is asked for in the same worker when the task
    ends, so no XCom (which nothing would read) is written.
    """
    url = app_url(base_url, kind, object_id)
    # Airflow 3.0 runs (and asks for the link on) ``ti.task``, a copy made after the context's
    # ``task`` was set; 3.1+ puts the copy in the context too. Record it on both.
    ti = context.get("ti")
    for task in (context.get("task"), getattr(ti, "task", None)):
        if task is not None:
            # Written past BaseOperator.__setattr__: this is run-time state, not a DAG attribute.
            task.__dict__[_LINK_ATTRIBUTE] = url
    return url


class VotelObjectLink(BaseOperatorLink):
    """Extra link "View in Votel" to the object the task created or changed.

    Airflow 3 asks for the link once, in the worker, when the task finishes, and stores it for the
    UI; the operator that ran has recorded the URL by then. Tasks with no single object to show (a
    bulk send) record none, and the link is empty, without an XCom lookup that would log a miss.
    """

    name = "View in Votel"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        url = vars(operator).get(_LINK_ATTRIBUTE)
        return url if isinstance(url, str) else ""
