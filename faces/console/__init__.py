"""The analyst console: the web face for the hotline's analysts, supervisors and auditors."""
