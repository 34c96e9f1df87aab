"""Takedown notices: composition, templates, X-ARF reports, the outbox and SMTP delivery."""
