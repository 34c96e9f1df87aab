"""What the portal says from its code rather than its templates: the visitor's errors and the
names of the content choices. Marked with :func:`N_` so the catalogue check finds them; each is
translated when a page is rendered."""

from __future__ import annotations

from takedown.portal_reports import CONTENT


def N_(message: str) -> str:
    """Marks a message for the catalogues; translated when the page is rendered."""
    return message


CONTENT_LABELS = {
    "images": N_("Pictures or photos"),
    "videos": N_("Videos"),
    "live-stream": N_("A live stream"),
    "text-or-chat": N_("Text or chat messages"),
    "other": N_("Something else"),
}
assert set(CONTENT_LABELS) == set(CONTENT)

NO_URLS = N_("Give at least one web address.")
TOO_MANY_URLS = N_("A report can hold at most %(count)s web addresses. Send the others in a second report.")
NO_CONTENT = N_("Choose what the content shows.")
TOO_LONG_WHERE = N_("Where you found it: at most %(count)s characters, please.")
TOO_LONG_DETAILS = N_("The details: at most %(count)s characters, please.")
BAD_ADDRESS = N_("This does not look like an email address. Leave it empty if you do not want one.")

URL_SCHEME = N_("Only web addresses that begin with http:// or https:// can be reported here.")
URL_TOO_LONG = N_("This web address is too long.")
URL_INVALID = N_("This does not look like a web address. Copy it from your browser's address bar.")

CROSS_SITE = N_("This form can only be sent from this site.")
TOO_LARGE = N_("The report is too large to be received. Send fewer or shorter web addresses.")
NOT_A_FORM = N_("The report could not be read. Please send it from the form.")
TOO_MANY_REPORTS = N_("Too many reports have been sent from your connection. Please try again in an hour.")
NO_PORTAL = N_("There is no reporting page here.")
BUSY = N_("The report could not be received just now. Please try again in a few minutes.")
