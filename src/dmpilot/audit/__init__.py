"""The audit and the figures: read models over messages, events and deliveries (queries in
store/reads), and reports for people (Rich) and machines (JSON, CSV)."""

from dmpilot.audit.run import run_audit
from dmpilot.domain.findings import AuditReport, ContactFindings, Finding

__all__ = ["AuditReport", "ContactFindings", "Finding", "run_audit"]
