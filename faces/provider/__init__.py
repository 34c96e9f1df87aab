"""The hosting providers' page: what a notice's link opens (mounted by the console under /provider)."""
