"""The X-ARF attachments' indented JSON: the standard library's text, for any value."""

from __future__ import annotations

import enum
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from notices.indented_json import indented_json


class Colour(enum.StrEnum):
    RED = "red"


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and the infinities included: the standard encoder's own spelling
    st.text(),  # lone surrogates, quotes, controls, non-ASCII
    st.sampled_from([Colour.RED]),
)
KEYS = st.one_of(st.text(), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(st.text(), inner, max_size=5),
        st.dictionaries(KEYS, inner, max_size=3),
    ),
    max_leaves=40,
)


@given(VALUES)
def test_any_value_is_written_as_the_standard_encoder_writes_it(value: Any) -> None:
    assert indented_json(value) == json.dumps(value, indent=2, ensure_ascii=False)


def test_a_report_reads_back_as_it_was_and_as_a_person_would_read_it() -> None:
    report = {"report_id": "r-1", "evidence": [{"hash": "ab"}, []], "empty": {}, "tags": ("a",), "n": 1.5}
    text = indented_json(report)
    assert json.loads(text) == {**report, "tags": ["a"]}
    assert text.splitlines()[:3] == ["{", '  "report_id": "r-1",', '  "evidence": [']


def test_what_it_cannot_write_fails_as_the_standard_encoder_does() -> None:
    circular: list[Any] = []
    circular.append(circular)
    for value in (circular, {"when": object()}):
        try:
            json.dumps(value, indent=2, ensure_ascii=False)
        except (TypeError, ValueError) as expected:
            try:
                indented_json(value)
            except type(expected) as raised:
                assert str(raised) == str(expected)
            else:
                raise AssertionError(f"{value!r} was written")
