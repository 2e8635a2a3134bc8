"""Unattended operation: the scheduler (due windows, catch-up, retries, recovery), status, cron, retention (gc) and the workspace-wide verify."""
