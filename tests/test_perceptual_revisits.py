"""Revisits of images on the sandbox: the PDQ hash is computed (in a worker process) and matched
against the hash lists in use; an altered copy of known imagery stays live; a bomb or a broken
file fails only its hash; and the image's bytes are never written anywhere."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select

from crawler.perceptual import PerceptualHasher
from sandbox import Sandbox
from sandbox.web import Picture, picture_bytes
from takedown.clock import ManualClock
from takedown.hash_list_import import HashRow, ReadHashRow, import_hash_list
from takedown.models import CheckMatch
from takedown.store import Store
from tests.test_revisit import checks_of, queue, run_crawl


def test_images_are_matched_by_perceptual_hash_and_never_kept(
    sandbox: Sandbox,
    store: Store,
    database_url: str,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    def queued(url: str, **fields: object) -> int:
        return queue(store, clock, url, **fields)

    original, _ = picture_bytes(71)
    hasher = PerceptualHasher()
    try:
        known = hasher.hash(original)
    finally:
        hasher.close()
    assert known.pdq is not None
    entry = ReadHashRow(2, HashRow(pdq=known.pdq, category="csam", reference="P-71"))
    import_hash_list(store.session, iter([entry]), name="perceptual", version="1", actor="t", clock=clock)
    reported = (hashlib.sha256(original).hexdigest(),)
    cases = {
        "original": queued(sandbox.serve("host-a.test", "/pics/71.png", Picture(71)), sha256=reported),
        "altered": queued(
            sandbox.serve("host-a.test", "/pics/71-copy.jpg", Picture(71, altered=True)), sha256=reported
        ),
        "other": queued(sandbox.serve("host-a.test", "/pics/72.png", Picture(72)), sha256=reported),
        "bomb": queued(sandbox.serve("host-b.test", "/pics/bomb.png", Picture(0, kind="bomb"))),
        "broken": queued(sandbox.serve("host-b.test", "/pics/broken.png", Picture(73, kind="broken"))),
    }
    summary, done = run_crawl(sandbox, database_url, tmp_path)
    assert summary["revisited"] == len(cases)
    checks = {name: checks_of(store, case_id)[-1] for name, case_id in cases.items()}

    assert checks["original"].pdq == known.pdq and checks["original"].outcome == "live"
    assert checks["altered"].outcome == "live"  # every digest differs, but it is the known image
    assert checks["altered"].sha256 != reported[0] and checks["altered"].pdq != known.pdq
    assert checks["other"].outcome == "changed"
    assert "pixels" in (checks["bomb"].pdq_error or "") or "bomb" in (checks["bomb"].pdq_error or "")
    assert "cannot decode" in (checks["broken"].pdq_error or "")
    with store.session() as session:
        matched = {
            (row.check_id, row.algorithm, row.reference)
            for row in session.scalars(select(CheckMatch).where(CheckMatch.algorithm == "pdq"))
        }
    assert (checks["altered"].id, "pdq", "P-71") in matched
    assert (checks["original"].id, "pdq", "P-71") in matched
    assert not any(check_id == checks["other"].id for check_id, _, _ in matched)

    altered, _ = picture_bytes(71, True)
    probes = [body[n : n + 48] for body in (original, altered) for n in (100, len(body) // 2, len(body) - 60)]
    for path in [p for p in tmp_path.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        assert not any(probe in data for probe in probes), f"image bytes found in {path}"
    logs = (done.stdout + done.stderr).encode("utf-8", "surrogateescape")
    assert not any(probe in logs for probe in probes)
