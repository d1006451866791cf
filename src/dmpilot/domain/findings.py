"""What an audit reports: finding kinds, per-contact counts, totals."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Finding(StrEnum):
    DUPLICATE_60S = "DUPLICATE_60S"  # the same reply to a contact again within 60 s
    DUPLICATE_5M = "DUPLICATE_5M"  # … within 5 minutes (includes the 60 s ones)
    REPEATED_MESSAGE = "REPEATED_MESSAGE"  # one text sent 3 times or more to a contact
    POTENTIAL_LOOP = "POTENTIAL_LOOP"  # at most 2 distinct texts among the last 5 replies
    EXIT_REPEATED = "EXIT_REPEATED"  # more than one goodbye in one funnel cycle
    SENT_AFTER_STOP = "SENT_AFTER_STOP"  # anything but the goodbye after the stop
    LINK_OVER_BUDGET = "LINK_OVER_BUDGET"  # link sends beyond the budget in this cycle
    DOUBLE_REPLY = "DOUBLE_REPLY"  # two replies with no message from the contact between
    UNANSWERED = "UNANSWERED"  # inbound left without a reply (contact not stopped)
    WRONG_LANGUAGE = "WRONG_LANGUAGE"  # a reply in another language than the user's
    DELIVERY_UNKNOWN = "DELIVERY_UNKNOWN"  # a send whose outcome is unknown: check by hand
    DELIVERY_FAILED = "DELIVERY_FAILED"  # the channel refused a delivery for good


@dataclass
class ContactFindings:
    contact_id: int
    external_id: str
    username: str | None
    counts: Counter[Finding] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class AuditReport:
    since: datetime | None
    messages: int
    contacts: int
    seconds: float
    by_contact: list[ContactFindings]

    @property
    def totals(self) -> Counter[Finding]:
        totals: Counter[Finding] = Counter({finding: 0 for finding in Finding})
        for contact in self.by_contact:
            totals.update(contact.counts)
        return totals

    @property
    def total(self) -> int:
        return sum(self.totals.values())
