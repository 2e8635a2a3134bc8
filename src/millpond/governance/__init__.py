"""Governance: promotion decisions on evidence, deployment (alias switch + smoke test + rollback), approvals, one record_decision, the hash-chained audit log, events and notifications."""
