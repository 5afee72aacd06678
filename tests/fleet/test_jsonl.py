"""`run --headless --progress jsonl`: one JSON object per line, secrets masked, the exit code in words."""

import json

from core.helpers import deploytui

from deploytui.engine.headless import EXIT_MEANINGS

BOOK = """[runbook]
id = "jl"
title = "JSON lines"
environment = "prod"
[vars.token]
secret = true
from_env = "JL_TOKEN"
[[steps]]
id = "say"
title = "Say it"
auto = true
run = "echo using {{ token }}; echo second line"
[[steps]]
id = "boom"
title = "Boom"
auto = true
run = "echo failing >&2; exit 7"
"""


def lines_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]  # every line is one JSON object


def test_every_line_is_an_object_secrets_masked_and_the_exit_said(tmp_path):
    book = tmp_path / "jl.toml"
    book.write_text(BOOK)
    res = deploytui("run", book, "--headless", "--progress", "jsonl", "--journal", tmp_path / "j.db",
                    env={"JL_TOKEN": "s3cr3t-value-42"})
    assert res.returncode == 1, res.stderr
    assert "s3cr3t-value-42" not in res.stdout
    objs = lines_of(res.stdout)
    events = [o for o in objs if o["type"] == "event"]
    assert events[0]["kind"] == "run_started" and events[0]["seq"] == 1
    assert [o["seq"] for o in events] == list(range(1, len(events) + 1))  # every event, in order
    assert {"run", "ts", "step", "actor", "by_person", "text", "tone", "deviation", "data"} <= set(events[0])
    failed = [o for o in events if o["kind"] == "step_finished" and o["step"] == "boom"]
    assert failed and failed[0]["tone"] == "bad" and failed[0]["text"].startswith("Boom: failed")
    output = [o["line"] for o in objs if o["type"] == "output" and o["step"] == "say"]
    assert output == ["using [REDACTED]", "second line"]
    assert events[0]["data"]["vars"] == {"token": "[REDACTED]"}
    assert any(o["type"] == "driver" and "step 'boom' failed" in o["text"] for o in objs)
    assert objs[-1] == {"type": "exit", "run": events[0]["run"], "code": 1, "meaning": EXIT_MEANINGS[1]}


def test_jsonl_needs_headless(tmp_path):
    book = tmp_path / "jl.toml"
    book.write_text(BOOK)
    res = deploytui("run", book, "--progress", "jsonl", "--journal", tmp_path / "j.db")
    assert res.returncode == 2 and res.stderr.strip() == "deploytui: --progress jsonl is for --headless runs"
