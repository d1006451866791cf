"""The audit: SQL over messages and events, and reports for people (Rich) and machines."""

from dmpilot.audit.findings import AuditReport, ContactFindings, Finding
from dmpilot.audit.run import find_contact_id, run_audit

__all__ = ["AuditReport", "ContactFindings", "Finding", "find_contact_id", "run_audit"]
