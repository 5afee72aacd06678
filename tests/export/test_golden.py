"""Golden files: the plan and the record of a rehearsed run of each seed runbook, in every format.

A difference fails with the first differing line. After a deliberate change of the documents, rewrite
them (`.venv/bin/python -m tests.export.golden render`) and read the diff before committing it. The PDF
is checked for what a reader relies on (A4, the title, REHEARSAL on every page of a rehearsal's record,
every step), not byte for byte: its text layout depends on the fonts a machine has."""

from __future__ import annotations

import difflib
import io
import os
import time

import pytest

from . import golden


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ("TZ", "DEPLOYTUI_OPERATOR")}
    import socket

    hostname = socket.gethostname
    golden.deterministic()
    try:
        yield {name: golden.documents(name, tmp_path_factory.mktemp(name)) for name in golden.SEEDS}
    finally:
        socket.gethostname = hostname
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        time.tzset()


@pytest.mark.parametrize("suffix", list(golden.FORMATS))
@pytest.mark.parametrize("kind", ["plan", "record"])
@pytest.mark.parametrize("name", list(golden.SEEDS))
def test_golden(rendered, name, kind, suffix):
    file = f"{name}.{kind}.{suffix}"
    got = rendered[name][file]
    want = (golden.HERE / file).read_text()
    if got != want:
        diff = list(difflib.unified_diff(want.splitlines(), got.splitlines(), "golden", "now", n=1, lineterm=""))
        pytest.fail(f"{file} differs from its golden file:\n" + "\n".join(diff[:30]))


@pytest.mark.parametrize("kind", ["plan", "record"])
@pytest.mark.parametrize("name", list(golden.SEEDS))
def test_pdf(rendered, name, kind):
    import json

    from pypdf import PdfReader

    pdf = rendered[name][f"{name}.{kind}.pdf"]
    doc = json.loads(rendered[name][f"{name}.{kind}.json"])
    pages = PdfReader(io.BytesIO(pdf)).pages
    text = [page.extract_text() for page in pages]
    for n, page in enumerate(pages):
        assert [round(float(x)) for x in page.mediabox[2:]] == [595, 842]
        assert ("REHEARSAL — not a production record" in text[n]) == doc["rehearsal"], n
    flat = " ".join(" ".join(text).split())
    assert f"Deploy {kind}:" in flat
    for step in [s for g in doc["sections"] + doc["rollback"] for s in g["steps"]]:
        assert f"{step['number']}. " in flat and step["id"] in flat.replace(" ", "")


def test_every_seed_rehearsal_says_what_the_issue_asks(rendered):
    for name in golden.SEEDS:
        record = rendered[name][f"{name}.record.md"]
        assert record.startswith("# REHEARSAL — Deploy record: "), name
        assert "| Pairs | auto" not in record and "| auto | pair |" not in record, name
        assert "{{" not in record and "{{" not in rendered[name][f"{name}.plan.md"], name
        assert len(rendered[name][f"{name}.record.summary.md"]) <= 32_767, name
