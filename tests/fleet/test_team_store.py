"""A team's record on S3 (moto): every run shipped with its chain hashes, read back by history/show/export/
verify --team, tampering in the bucket caught, and an outage that never stops a run and is caught up."""

import json
import re
from pathlib import Path

from core.helpers import deploytui
from core.helpers import wait_for as wait_until

from fleet.conftest import ci_run

ROOT = Path(__file__).resolve().parents[2]



def final_hash(res) -> str:
    m = re.search(r"intact: (\d+) events chained, final hash ([0-9a-f]{64})", res.stdout)
    assert m, res.stdout + res.stderr
    return m.group(2)


def keys(s3, prefix=""):
    return [o["Key"] for o in s3.list_objects_v2(Bucket="team-deploys", Prefix="cd/" + prefix).get("Contents", [])]


def test_a_run_is_shipped_and_read_back_from_the_bucket(fleet_book, env, moto):
    res = deploytui("run", fleet_book, "--headless", "--var", "app=frontend", "--var", "release_tag=v42", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    run_id = res.stdout.strip().splitlines()[-1].split()[1]
    s3 = moto.client("s3")
    assert f"cd/runs/{run_id}/run.json" in keys(s3, "runs/")
    assert any(k.startswith(f"cd/runs/{run_id}/events/") for k in keys(s3, "runs/"))
    assert any(k.startswith(f"cd/runs/{run_id}/output/") for k in keys(s3, "runs/"))
    index = keys(s3, "index/")
    assert len(index) == 1 and index[0].endswith(f"/{run_id}~cd~frontend~v42~tester~succeeded")  # open one gone

    local = final_hash(deploytui("verify", run_id, env=env))
    other_laptop = {**env, "DEPLOYTUI_JOURNAL": str(Path(env["DEPLOYTUI_JOURNAL"]).parent / "other.sqlite3")}
    hist = deploytui("history", "--team", env=other_laptop)
    assert hist.returncode == 0, hist.stderr
    assert re.search(rf"^{run_id} +cd +frontend +v42 +tester +succeeded$", hist.stdout, re.M), hist.stdout
    as_json = json.loads(deploytui("history", "--team", "--json", env=other_laptop).stdout)
    assert as_json == [{"id": run_id, "runbook_id": "cd", "environment": "frontend", "release": "v42",
                        "operator": "tester", "outcome": "succeeded"}]
    show = deploytui("show", run_id[:17], "--team", "--output", env=other_laptop)
    assert show.returncode == 0, show.stderr
    assert "Deploy frontend to production" in show.stdout and "deployed frontend to production" in show.stdout
    record = deploytui("export", run_id, "--team", "--format", "json", env=other_laptop)
    assert json.loads(record.stdout)["run"]["chain"]["final"] == local
    assert final_hash(deploytui("verify", run_id, "--team", env=other_laptop)) == local  # the same chain


def test_verify_catches_an_edited_a_deleted_and_a_reordered_event_in_the_bucket(fleet_book, env, moto):
    res = deploytui("run", fleet_book, "--headless", "--var", "app=frontend", env=env)
    run_id = res.stdout.strip().splitlines()[-1].split()[1]
    s3 = moto.client("s3")
    shipped = keys(s3, f"runs/{run_id}/events/")  # one object per batch
    rows = [json.loads(line) for k in shipped
            for line in s3.get_object(Bucket="team-deploys", Key=k)["Body"].read().decode().splitlines()]
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    for k in shipped:
        s3.delete_object(Bucket="team-deploys", Key=k)
    key = f"cd/runs/{run_id}/events/000000001-{len(rows):09d}.jsonl"

    def verify_with(changed_rows):
        s3.put_object(Bucket="team-deploys", Key=key, Body="".join(json.dumps(r) + "\n" for r in changed_rows))
        return deploytui("verify", run_id, "--team", env=env)

    edited = [list(r) for r in rows]
    smoke = next(i for i, r in enumerate(edited) if r[2] == "command_finished" and r[3] == "smoke")
    edited[smoke][5] = edited[smoke][5].replace('"exit_code": 0', '"exit_code": 1')
    res = verify_with(edited)
    assert res.returncode == 1
    assert res.stderr.strip() == (f"run {run_id}: NOT INTACT: event #{smoke + 1} (command_finished, step smoke) was "
                                  "changed, or events around it were reordered or removed: its hash does not "
                                  "follow from the one before it")
    res = verify_with(rows[:3] + rows[4:])
    assert res.returncode == 1 and "NOT INTACT: event #4 is missing: the journal goes from #3 to #5" in res.stderr
    swapped = [list(r) for r in rows]
    swapped[2][1:], swapped[3][1:] = rows[3][1:], rows[2][1:]  # two events exchange places, numbers kept
    res = verify_with(swapped)
    assert res.returncode == 1 and "NOT INTACT: event #3" in res.stderr
    assert verify_with(rows).returncode == 0


def test_an_outage_never_stops_the_run_and_the_record_catches_up(fleet_book, env, moto, tmp_path):
    book = tmp_path / "plain.toml"  # no [lock], no [fleet]: only the record lives in the bucket here
    text = fleet_book.read_text()
    book.write_text(text[:text.index("[fleet]")] + text[text.index("[[sections]]"):])
    gate = tmp_path / "go-on"
    driver = ci_run(book, env, "--var", "app=frontend", "--var", f"gate_file={gate}")
    s3 = moto.client("s3")
    try:
        assert wait_until(lambda: any("/events/" in k for k in keys(s3, "runs/")) or driver.poll() is not None, timeout=30)
        assert driver.poll() is None, driver.communicate()
        moto.stop()  # the store goes away in the middle of the deploy
        gate.touch()
        out, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, out + err  # the run went on and finished
    assert out.strip().endswith("finished: succeeded")
    run_id = out.strip().splitlines()[-1].split()[1]
    assert f"the team store has not got all of run {run_id} yet: `deploytui sync` ships the rest" in err
    local = final_hash(deploytui("verify", run_id, env=env))

    moto.start()
    behind = deploytui("verify", run_id, "--team", env=env)
    assert behind.returncode == 0 and final_hash(behind) != local  # the bucket's copy stops short
    sync = deploytui("sync", env=env)
    assert sync.returncode == 0, sync.stdout + sync.stderr
    assert sync.stdout.strip() == f"{run_id}: in s3://team-deploys/cd/"
    assert final_hash(deploytui("verify", run_id, "--team", env=env)) == local
    assert deploytui("history", "--team", env=env).stdout.splitlines()[1].endswith("succeeded")
    assert deploytui("sync", env=env).returncode == 0  # nothing left: shipping again changes nothing
    assert final_hash(deploytui("verify", run_id, "--team", env=env)) == local


def test_a_laptop_follows_a_ci_run_through_the_bucket(fleet_book, env, moto, tmp_path):
    """What `follow --team` reads: a copy of the run kept up to date from the bucket while CI drives it."""
    import threading

    from deploytui.fleet.team import Mirror
    from deploytui.follow.feed import follow
    from deploytui.integrations.store import open_store

    gate = tmp_path / "go-on"
    ci = ci_run(fleet_book, env, "--var", "app=frontend", "--var", f"gate_file={gate}")
    s3 = moto.client("s3")
    try:
        assert wait_until(lambda: any("/output/" in k for k in keys(s3, "runs/")) or ci.poll() is not None, timeout=30)
        assert ci.poll() is None, ci.communicate()
        run_id = keys(s3, "runs/")[0].split("/")[2]
        mirror = Mirror(open_store(env["DEPLOYTUI_TEAM_STORE"], moto.env), run_id[:15])
        feed = follow(mirror.path, mirror.run_id)
        assert feed.state.status("deploy-integration") == "running" and not feed.stopped
        stop = threading.Event()
        mirror.keep_up(stop, every=0.1)
        gate.touch()
        assert wait_until(lambda: feed.poll() is not None and feed.state.outcome == "succeeded", timeout=60)
        stop.set()
        out, err = ci.communicate(timeout=60)
    finally:
        if ci.poll() is None:
            ci.kill()
    assert ci.returncode == 0, out + err
    assert "deployed frontend to production" in mirror.journal.tail_text(run_id, "deploy-production")
    assert final_hash(deploytui("verify", run_id, "--journal", mirror.path, env=env)) == \
        final_hash(deploytui("verify", run_id, env=env))


def test_a_person_takes_an_untrusted_apps_run_into_production_from_a_laptop(fleet_book, env, tmp_path):
    ci = deploytui("run", fleet_book, "--headless", "--var", "app=whitehall", env=env)
    assert ci.returncode == 3, ci.stdout + ci.stderr  # CI stops before production; its journal goes with it
    run_id = json.loads(deploytui("history", "--team", "--json", env=env).stdout)[0]["id"]
    laptop = {**env, "DEPLOYTUI_JOURNAL": str(tmp_path / "laptop.sqlite3")}
    go = tmp_path / "go.toml"
    go.write_text('[override]\nhold = "staging looks right (carol)"\n')
    res = deploytui("run", "--resume", run_id, "--team", "--headless", "--answers", go, "--operator", "carol",
                    env=laptop)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "deployed whitehall to production" in res.stdout
    here = final_hash(deploytui("verify", run_id, env=laptop))  # one chain, from CI's first event to carol's last
    assert final_hash(deploytui("verify", run_id, "--team", env=env)) == here  # and the bucket has all of it
    assert json.loads(deploytui("history", "--team", "--json", env=env).stdout)[0]["outcome"] == "succeeded"
