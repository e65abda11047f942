"""Request bodies. Unknown fields are refused (422) so a client's typo never passes silently."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

E164 = r"^\+[1-9][0-9]{6,14}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

Phone = Annotated[str, Field(pattern=E164, description="E.164, e.g. +14155552671")]
Email = Annotated[str, Field(pattern=EMAIL, max_length=254)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=100_000)]
Uuidish = Annotated[str, Field(min_length=1, max_length=100)]
Tag = Annotated[str, Field(min_length=1, max_length=100)]
Channel = Literal["sms", "email", "whatsapp"]
#: The channels a contact can opt out of (contract 2026-12-b), in the order they are stored.
DND_CHANNELS = ("sms", "email", "whatsapp", "call")
DndChannel = Literal["sms", "email", "whatsapp", "call"]


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _iana(name: str) -> str:
    if name not in _zone_names():
        raise ValueError(f"{name!r} is not an IANA time zone name, e.g. America/New_York")
    return name


def _channel_set(channels: list[str]) -> list[str]:
    # A set by meaning: a repeat says nothing more, and one order makes equal sets compare equal.
    return [channel for channel in DND_CHANNELS if channel in channels]


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_iana)]
DndChannels = Annotated[list[DndChannel], Field(max_length=16), AfterValidator(_channel_set)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class AgentCreate(Body):
    name: Name
    prompt: Text
    voice_id: Uuidish | None = None
    enabled: bool = True


class AgentUpdate(Body):
    name: Name | None = None
    prompt: Text | None = None
    voice_id: Uuidish | None = None
    enabled: bool | None = None


class KnowledgeDocCreate(Body):
    title: Name
    text: Text | None = None
    url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> KnowledgeDocCreate:
        if (self.text is None) == (self.url is None):
            raise ValueError("give exactly one of text or url")
        return self


class CallStart(Body):
    to: Phone
    contact_id: Uuidish | None = None
    variables: dict[str, Any] | None = None


class SmsSend(Body):
    model_config = ConfigDict(populate_by_name=True)

    to: Phone
    body: Annotated[str, Field(min_length=1, max_length=1600)]
    from_: Phone | None = Field(default=None, alias="from")


class EmailSend(Body):
    to: Email
    subject: Annotated[str, Field(min_length=1, max_length=998)]
    text: Text | None = None
    html: Text | None = None
    template_id: Uuidish | None = None
    variables: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _some_content(self) -> EmailSend:
        if self.text is None and self.html is None and self.template_id is None:
            raise ValueError("give text, html or template_id")
        return self


class EmailTemplateCreate(Body):
    name: Name
    subject: Annotated[str, Field(min_length=1, max_length=998)]
    html: Text


class ThreadMessage(Body):
    contact_id: Uuidish
    channel: Channel
    body: Annotated[str, Field(min_length=1, max_length=10_000)]
    subject: Annotated[str, Field(max_length=998)] | None = None


class ContactCreate(Body):
    first_name: Name
    last_name: Annotated[str, Field(max_length=200)] | None = None
    phone: Phone | None = None
    email: Email | None = None
    tags: Annotated[list[Tag], Field(max_length=100)] = []
    custom_fields: dict[str, Any] = {}
    dnd: bool = False
    dnd_channels: DndChannels = []
    timezone: TimeZone | None = None


class ContactUpdate(Body):
    first_name: Name | None = None
    last_name: Annotated[str, Field(max_length=200)] | None = None
    phone: Phone | None = None
    email: Email | None = None
    tags: Annotated[list[Tag], Field(max_length=100)] | None = None
    custom_fields: dict[str, Any] | None = None
    dnd: bool | None = None
    dnd_channels: DndChannels | None = None
    timezone: TimeZone | None = None


class ContactImport(Body):
    contacts: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=50_000)]
    match_on: Literal["phone", "email"] = "phone"


class ContactExport(Body):
    filters: dict[str, Any] | None = None


class StageMove(Body):
    pipeline_id: Uuidish
    stage_id: Uuidish


class TaskCreate(Body):
    title: Name
    contact_id: Uuidish | None = None
    assignee_id: Uuidish | None = None
    due_at: datetime | None = None
    custom_fields: dict[str, Any] = {}


class TaskUpdate(Body):
    title: Name | None = None
    status: Literal["open", "in_progress", "done"] | None = None
    assignee_id: Uuidish | None = None
    due_at: datetime | None = None
    custom_fields: dict[str, Any] | None = None


class Enroll(Body):
    contact_ids: Annotated[list[Uuidish], Field(min_length=1, max_length=500)]


class Trigger(Body):
    payload: dict[str, Any] = {}


class VariableSet(Body):
    value: Any


class BookingCreate(Body):
    contact_id: Uuidish
    start: datetime
    staff_id: Uuidish | None = None


class BookingUpdate(Body):
    status: Literal["accepted", "canceled"]


class TrackingLinkCreate(Body):
    name: Name
    destination_url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)]
