"""Screening: who of a send's recipients may be reached now, who waits, who is skipped and why.

Every sender runs :func:`screen` after parsing its recipients and before its first request. The
rules, in the order they are judged (the first that applies is the reason reported):

1. ``opted_out``: a contact with ``dnd`` or the channel in ``dnd_channels``; for SMS also a number
   whose latest STOP-like reply in the lookback has no later START or UNSTOP.
2. ``suppressed``: on the suppression list.
3. ``frequency_capped``: already sent ``count`` messages on this channel within ``period``.
4. ``unknown_timezone``: quiet hours apply and no zone is known for the recipient.
5. ``quiet_hours``: inside the quiet window in (one of) the recipient's zone(s). These wait for
   the next opening unless the window never opens in all their zones at once (then skipped).

STOP replies are SMS keywords: they opt a number out of texts, not of calls or e-mail (the contract
puts them in the messaging log as SMS; a person who wants no calls has ``call`` in ``dnd_channels``).
A transactional policy has no quiet hours and no cap; rules 1 and 2 always hold. On the channel
:data:`~votel_airflow.defaults.ANY_CHANNEL` (a workflow enrollment) only ``dnd`` opts a contact
out, and the suppression list is matched on both the contact's phone and e-mail. The reads cost
requests in proportion to contacts and log rows read (:mod:`.reads`), or, for a send to a few,
to its recipients (each looked up by number or address, or read by contact id), whichever is
fewer for a large CRM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from votel_airflow.defaults import ANY_CHANNEL, SKIP_REASONS
from votel_airflow.delivery.local_time import next_opening, policy_now, quiet_anywhere, recipient_zones
from votel_airflow.delivery.policy import OutreachPolicy
from votel_airflow.delivery.reads import (
    Reader,
    contact_facts,
    identity,
    patiently,
    recent_sends,
    stopped_numbers,
)
from votel_airflow.delivery.suppression import read_suppression_list

#: Channels reached by phone number (the others by e-mail address).
PHONE_CHANNELS = ("sms", "whatsapp", "call")


@dataclass
class Screening:
    """The verdict on each recipient, in input order within each group.

    :param send_now: may be reached now.
    :param waiting: recipient -> the instant (UTC) their quiet hours end everywhere they may be.
    :param skipped: reason -> recipients not reached for it (every reason of
        :data:`~votel_airflow.defaults.SKIP_REASONS` present, possibly empty).
    :param zones: recipient -> their zones, for each recipient when asked (``local_times``), else
        for none: the preview shows each person's local time.
    """

    send_now: list[str] = field(default_factory=list)
    waiting: dict[str, datetime] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=lambda: {r: [] for r in SKIP_REASONS})
    zones: dict[str, tuple[ZoneInfo, ...]] = field(default_factory=dict)

    @property
    def next_opening(self) -> datetime | None:
        """The earliest instant any waiting recipient may be reached."""
        return min(self.waiting.values(), default=None)


def screen(
    reader: Reader,
    recipients: Sequence[str],
    policy: OutreachPolicy,
    *,
    now: datetime | None = None,
    by_contact: bool = False,
    local_times: bool = False,
) -> Screening:
    """Judge each recipient (numbers or addresses, as the channel takes) against ``policy``.

    :param reader: the hook whose listings the reads page through.
    :param recipients: validated recipients; duplicates are judged once.
    :param policy: the resolved policy of this send.
    :param now: the instant quiet hours are judged at; default :func:`.local_time.policy_now`.
    :param by_contact: the recipients are contact ids (thread messages): each is read by id when
        they are few, else every contact is listed, and each is judged by its id and by its phone
        or e-mail for the channel.
    :param local_times: record every recipient's zones in ``zones`` (the preview), at the cost of
        listing the contacts even when no rule needs their zones.
    """
    moment = now or policy_now()
    unique = list(dict.fromkeys(recipients))
    by_phone = policy.channel in PHONE_CHANNELS
    window = policy.quiet_hours
    # The suppression list is read first: a bad line fails the send before any request.
    suppressed = read_suppression_list(policy.suppression_list) if policy.suppression_list else frozenset()
    result = Screening()
    if not unique:
        return result
    zoned = window is not None or local_times
    facts = patiently(
        lambda: contact_facts(reader, unique, policy.channel, with_zones=zoned, by_contact=by_contact)
    )
    opted_out = set(facts.opted_out)
    if policy.channel == "sms":
        opted_out |= patiently(lambda: stopped_numbers(reader, policy.opt_out_lookback))
    counts = None
    cap = policy.max_per_recipient
    if cap is not None:
        # An id that is no contact goes on uncounted (below): counting it would only turn the
        # per-contact reads into a listing of the whole log.
        counted = [r for r in unique if identity(r) in facts.addresses] if by_contact else unique
        counts = patiently(lambda: recent_sends(reader, counted, facts, policy.channel, cap[1]))
    for recipient in unique:
        key = identity(recipient)
        address: str | None = key
        others: tuple[str | None, ...] = ()
        if by_contact:
            if key not in facts.addresses:
                # No such contact: nothing to judge it by, and the API refuses it (404), which the
                # send reports with the other refusals.
                result.send_now.append(recipient)
                continue
            phone, email = facts.addresses[key]
            address = phone if by_phone else email
            if policy.channel == ANY_CHANNEL:
                # The workflow may reach them either way: a listed phone or e-mail keeps them out.
                others = (phone, email)
        names = {n for n in (key, address, *others) if n}
        if local_times:
            number = address if by_phone else None
            result.zones[recipient] = recipient_zones(facts.zones.get(key), number, policy.default_timezone)
        if names & opted_out:
            result.skipped["opted_out"].append(recipient)
        elif names & suppressed:
            result.skipped["suppressed"].append(recipient)
        elif counts is not None and cap is not None and max(counts[n] for n in names) >= cap[0]:
            result.skipped["frequency_capped"].append(recipient)
        elif window is None:
            result.send_now.append(recipient)
        else:
            number = address if by_phone else None
            zones = recipient_zones(facts.zones.get(key), number, policy.default_timezone)
            if not zones:
                result.skipped["unknown_timezone"].append(recipient)
            elif not quiet_anywhere(window, zones, moment):
                result.send_now.append(recipient)
            else:
                opening = next_opening(window, zones, moment)
                if opening is None:
                    result.skipped["quiet_hours"].append(recipient)
                else:
                    result.waiting[recipient] = opening
    return result


def screen_enrollment(
    reader: Reader, contact_ids: Sequence[str], policies: Sequence[OutreachPolicy]
) -> Screening:
    """Which contacts may be enrolled in a workflow: those no policy of ``policies`` keeps out.

    Enrolling someone lets Votel reach them later, on the workflow's channels and schedule, so only
    the rules that hold whenever they are reached apply: opt-outs and the suppression list (each
    policy carries no quiet hours and no cap). One policy per channel the workflow uses (a contact
    who opted out of any of them stays out), or one on
    :data:`~votel_airflow.defaults.ANY_CHANNEL` when the channels are not known (``dnd`` only).
    A contact is reported under the first reason that keeps it out.
    """
    result = Screening()
    remaining = list(dict.fromkeys(contact_ids))
    for policy in policies:
        verdict = screen(reader, remaining, policy, by_contact=True)
        for reason, who in verdict.skipped.items():
            result.skipped[reason].extend(who)
        remaining = verdict.send_now
    result.send_now = remaining
    return result
