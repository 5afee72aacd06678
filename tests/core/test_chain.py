"""Proof nobody edited a run (issue 19): every event is chained to the one before it, and `deploytui verify`
says whether an event was changed, removed or reordered, and where; a record can be signed with an SSH key."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest

from .helpers import deploytui, start, wait_for


@pytest.fixture
def finished(tmp_path):
    run = start(tmp_path, """
        [[steps]]
        id = "a"
        title = "A"
        run = "echo a"
        [[steps]]
        id = "b"
        title = "B"
        checks = ["one", "two"]
        """)
    run.run_step("a")
    assert wait_for(lambda: run.state.current == "b", run=run)
    run.tick("b", 0)
    run.tick("b", 1)
    assert run.state.outcome == "succeeded"
    run.close()
    return run.run_id, tmp_path / "journal.sqlite3"


def verify(journal, run_id, *more):
    return deploytui("verify", run_id, "--journal", journal, *more)


def tamper(journal, sql, *params):
    db = sqlite3.connect(journal)
    db.execute(sql, params)
    db.commit()
    db.close()


def test_an_untouched_run_verifies(finished):
    run_id, journal = finished
    res = verify(journal, run_id)
    assert res.returncode == 0 and "intact" in res.stdout and "events chained, final hash" in res.stdout


def test_an_edited_event_is_caught_where_it_is(finished):
    run_id, journal = finished
    tamper(journal, "UPDATE events SET actor = 'mallory' WHERE run_id = ? AND kind = 'check_toggled' AND seq = "
                    "(SELECT MIN(seq) FROM events WHERE run_id = ? AND kind = 'check_toggled')", run_id, run_id)
    res = verify(journal, run_id)
    assert res.returncode == 1 and "NOT INTACT: event #" in res.stderr and "(check_toggled, step b) was changed" \
        in res.stderr


def test_a_deleted_event_is_caught(finished):
    run_id, journal = finished
    tamper(journal, "DELETE FROM events WHERE run_id = ? AND seq = 4", run_id)
    res = verify(journal, run_id)
    assert res.returncode == 1 and "event #4 is missing" in res.stderr


def test_reordered_events_are_caught(finished):
    run_id, journal = finished
    db = sqlite3.connect(journal)
    (a, b) = db.execute("SELECT seq FROM events WHERE run_id = ? AND kind = 'check_toggled' ORDER BY seq",
                        (run_id,)).fetchall()
    db.execute("UPDATE events SET seq = -1 WHERE run_id = ? AND seq = ?", (run_id, a[0]))
    db.execute("UPDATE events SET seq = ? WHERE run_id = ? AND seq = ?", (a[0], run_id, b[0]))
    db.execute("UPDATE events SET seq = ? WHERE run_id = ? AND seq = -1", (b[0], run_id))
    db.commit()
    db.close()
    res = verify(journal, run_id)
    assert res.returncode == 1 and f"event #{a[0]} (check_toggled, step b) was changed, or events around it were " \
                                   "reordered" in res.stderr


def test_events_removed_from_the_end_are_caught_against_the_record(finished, tmp_path):
    run_id, journal = finished
    record = tmp_path / "record.json"
    res = deploytui("export", run_id, "--format", "json", "-o", record, "--journal", journal)
    assert res.returncode == 0, res.stderr
    final = json.loads(record.read_text())["run"]["chain"]["final"]
    assert len(final) == 64
    tamper(journal, "DELETE FROM events WHERE run_id = ? AND seq = (SELECT MAX(seq) FROM events WHERE run_id = ?)",
           run_id, run_id)
    assert verify(journal, run_id).returncode == 0  # on its own the shortened chain still holds
    res = verify(journal, run_id, "--record", record)
    assert res.returncode == 1 and "events were removed from the end, or added" in res.stderr


def test_a_signed_record_verifies_and_a_changed_one_does_not(finished, tmp_path):
    run_id, journal = finished
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@example.gov", "-f", str(key)],
                   check=True)
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"alice@example.gov {(tmp_path / 'id_ed25519.pub').read_text()}")
    record = tmp_path / "record.md"
    res = deploytui("export", run_id, "-o", record, "--sign-with", key, "--journal", journal)
    assert res.returncode == 0, res.stderr
    sig = tmp_path / "record.md.sig"
    ok = deploytui("verify", "--record", record, "--signature", sig, "--allowed-signers", signers,
                   "--identity", "alice@example.gov")
    assert ok.returncode == 0 and "signed by alice@example.gov (good signature)" in ok.stdout
    record.write_text(record.read_text() + "\nApproved by the CAB.\n")  # a line nobody signed
    bad = deploytui("verify", "--record", record, "--signature", sig, "--allowed-signers", signers,
                    "--identity", "alice@example.gov")
    assert bad.returncode == 1 and "the signature does not hold" in bad.stderr
