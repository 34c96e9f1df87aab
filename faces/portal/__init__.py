"""The reporting portals' web application (``takedown portal``): the public's anonymous way to
report, a process of its own beside the analyst console."""
