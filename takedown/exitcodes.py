"""What the ``takedown`` command's exit status means. Scripts may rely on these; keep them stable."""

OK = 0
"""Everything asked was done."""
FAILURE = 1
"""Something went wrong that is not the input's fault (the store cannot be opened, ...)."""
USAGE = 2
"""The command line is wrong (unknown option, missing argument, unreadable file format)."""
PARTIAL = 3
"""Some of the input was refused; everything else was done. The refusals are listed."""
NOT_FOUND = 4
"""A case or other record named on the command line does not exist."""
REFUSED = 5
"""Understood but not allowed in the record's present state (e.g. withdrawing a closed case)."""
DATA_ERROR = 65
"""All of the input was refused (EX_DATAERR); nothing was done."""
BUSY = 75
"""Another process holds what was asked for (a scheduler already runs on this store): try later
(EX_TEMPFAIL)."""
