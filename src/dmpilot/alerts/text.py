"""An incident as the operator reads it: a title, its summary, a link to the console."""

from __future__ import annotations

from dmpilot.domain.alerts import AlertKind, AlertMessage, Incident

TITLES = {
    AlertKind.PAUSED: "the account was paused",
    AlertKind.SILENCE: "no inbound messages",
    AlertKind.DELIVERIES: "deliveries are failing",
    AlertKind.BRAIN_START: "the brain failed at start",
    AlertKind.BRAIN_ERRORS: "turns are failing",
    AlertKind.SPEND: "daily spend over budget",
    AlertKind.HUMAN: "a contact asks for a person",
    AlertKind.MINOR: "a minor was stopped",
    AlertKind.TEST: "test alert",
}


def render(incident: Incident, persona: str, public_url: str | None) -> AlertMessage:
    title = f"[dmpilot · {persona}] {TITLES[incident.kind]}"
    text = f"{title}: {incident.summary}"
    if public_url:
        text += f"\n{public_url.rstrip('/')}{incident.path}"
    return AlertMessage(incident.kind, title, text)


def check_message(persona: str, public_url: str | None) -> AlertMessage:
    incident = Incident(
        AlertKind.TEST,
        "alerts reach you here. Nothing is wrong; this was sent by `dmpilot alerts --test`.",
    )
    return render(incident, persona, public_url)
