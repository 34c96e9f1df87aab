"""The chase: APScheduler jobs and the escalation policy."""
