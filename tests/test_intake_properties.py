"""Properties of intake on arbitrary input: hostile text gives a clear refusal, never a crash."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from takedown.errors import ImportFileError, InvalidReport
from takedown.importer import ImportFormat, read_rows
from takedown.reports import Report, validate_report

hostile_text = st.one_of(
    st.text(),
    st.builds(
        lambda scheme, rest: scheme + rest,
        st.sampled_from(["http://", "https://", "HTTP://", "http:", "ftp://", "//", ""]),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    ),
)


@settings(max_examples=600)
@given(url=hostile_text, reference=st.one_of(st.none(), st.text(max_size=30)), digest=st.text(max_size=70))
def test_validation_refuses_with_invalid_report_or_accepts_a_fetchable_url(
    url: str, reference: str | None, digest: str
) -> None:
    try:
        valid = validate_report(Report(url=url, reference=reference, sha256=(digest,) if digest else ()))
    except InvalidReport as exc:
        assert exc.field in {"url", "reference", "sha256"} and exc.message
        return
    assert valid.url == url.strip()
    assert valid.url.lower().startswith(("http://", "https://"))
    assert valid.canonical.dedup_key.isascii()
    assert valid.host and valid.host.isascii()
    assert not any(char in valid.url for char in "\r\n\t\x00")


@settings(max_examples=300)
@given(data=st.binary(max_size=300), file_format=st.sampled_from(list(ImportFormat)))
def test_any_bytes_read_as_rows_or_one_clear_file_error(data: bytes, file_format: ImportFormat) -> None:
    try:
        rows = list(read_rows(io.BytesIO(data), file_format))
    except ImportFileError as exc:
        assert file_format is ImportFormat.CSV and "line 1" in str(exc)
        return
    for row in rows:
        assert (row.report is None) != (row.error is None)
        assert row.line >= 1


@given(
    st.lists(
        st.dictionaries(st.sampled_from(["url", "reference", "sha256", "x"]), st.text(max_size=10)),
        max_size=5,
    )
)
def test_jsonl_rows_keep_their_line_numbers(objects: list[dict[str, str]]) -> None:
    data = "\n".join(json.dumps(item) for item in objects).encode()
    rows = list(read_rows(io.BytesIO(data), ImportFormat.JSONL))
    assert [row.line for row in rows] == list(range(1, len(objects) + 1))
