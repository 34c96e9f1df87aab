"""Helpers for the browser tests: a click that loads a new page is awaited until that page has loaded.

Playwright's ``click`` returns once the click is dispatched, not once the page it leads to is there:
a locator read straight after it may still see the page that was left (a form posted back to its own
address looks the same until the answer arrives), and a CI run once counted a table's rows before it
came. Every click that submits a form or follows a link goes through :func:`follow`."""

from __future__ import annotations

from typing import Any


def follow(page: Any, selector: str) -> None:
    """Click ``selector`` and wait for the page the click navigates to to finish loading."""
    with page.expect_navigation():
        page.click(selector)


def press_and_follow(page: Any, key: str) -> None:
    """Press ``key`` (Enter on a focused button or link) and wait for the page it leads to."""
    with page.expect_navigation():
        page.keyboard.press(key)
