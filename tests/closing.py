"""What a test opens and the suite closes when the test ends.

Resolvers and RDAP clients keep their connections to the sandbox's registry open for the next
lookup, as they do in production until the job that made them closes them. A test that made one
hands it to :func:`closed_after_test`; ``conftest.py`` closes them all after each test, instead of
leaving the sockets to the garbage collector (a ResourceWarning each, at some later test).
"""

from __future__ import annotations

from typing import Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)

_open: list[Closable] = []


def closed_after_test(thing: C) -> C:
    """``thing``, to be closed when the test that made it ends."""
    _open.append(thing)
    return thing


def close_what_tests_opened() -> None:
    while _open:
        _open.pop().close()
