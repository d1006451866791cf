"""Alerts to the operator: trouble is learnt from dmpilot, not from a fan.

A chore of the worker (`chore.py`) reads the store now and again, finds open incidents
(`conditions.py`, `silence.py`), claims each one atomically (`store/alerts.py`) and sends it
to a webhook and/or by e-mail (`senders.py`, text from `text.py`) outside any turn. Every
send's outcome is an event. Nothing here is imported by the turn path.
"""
