"""`dmpilot eval`: scenarios of simulated fans run through the real engine, scored.

scenario.py (what a scenario is) · catalog.py (reading the YAML files) · lines.py and
fan_lines.yaml (the scripted fan's words) · fan.py (scripted or model-played fan) ·
runner.py (each conversation through its own engine and database) · conversation.py (the
conversation as the store recorded it) · outcomes.py (pass / fail) · scores.py (what the
model tried, cost, latency) · results.py (the report as data) · report.py (tables, compare).
"""
