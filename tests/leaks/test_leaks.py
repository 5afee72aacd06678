"""The leak-attempts corpus: every planted secret (tests/leaks/corpus.py), through every path a secret can
take into deploytui (command output in a terminal and through a pipe, a line over 64 KiB paused in the
middle of the secret, an action's log lines, outputs and error, a captured value and a later step using
it, a step's parameters, a person's note), looked for on every surface: the journal file, the screen's
output store, the follower's feed and screen, and the md, html and json records. Figures: leak attempts
(planted item x surface) / leaks, printed at the end of the run; the target is 0 leaks."""

import html
import json
import os
import sqlite3
import threading

from core.helpers import start, wait_for

from deploytui.engine.run import Run
from deploytui.follow.feed import Follow
from deploytui.integrations.registry import ActionError, action
from deploytui.journal import Journal
from deploytui.reports.export import record
from deploytui.text.clean import clean_text
from deploytui.tui.follow import FollowStore
from deploytui.tui.output import OutputStore

from .corpus import CAPTURED, ENV_SECRET, JWT, PLANTED, SECRET

FIGURES: dict[str, int] = {}
FINAL = ("done", "failed", "skipped")


@action("leaktest.emit")
def _emit(ctx, lines_file: str, token: str):
    """Log every planted line, return secrets among the outputs."""
    with open(lines_file, encoding="utf-8", newline="") as f:  # a `\r` stays in its line
        ctx.log_lines(f.read().split("\n"))
    return {"echo": token, "credentials": {"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}


@action("leaktest.fail")
def _fail(ctx, token: str):
    """Fail with an error message that holds secrets."""
    raise ActionError(f"login refused for postgres://app:pgpass-0123456@db with {token}")


BOOK = """
[vars.pw]
secret = true
[[steps]]
id = "pty"
title = "Output in a terminal"
run = "cat planted.txt; printf '%s\\\\n' {{{{ pw }}}}"
cwd = "{dir}"
[[steps]]
id = "pipe"
title = "Output through a pipe"
run = "cat planted.txt"
pty = false
cwd = "{dir}"
[[steps]]
id = "long"
title = "A line over 64 KiB, paused in the middle of the secret"
run = "head -c 70000 /dev/zero | tr '\\\\0' x; cat first.txt; cat fifo > /dev/null; cat rest.txt"
cwd = "{dir}"
[[steps]]
id = "action"
title = "An action's lines and outputs"
uses = "leaktest.emit"
with = {{ lines_file = "{dir}/planted.txt", token = "{{{{ pw }}}}" }}
[[steps]]
id = "capture"
title = "A captured value"
run = "cat captured.txt"
cwd = "{dir}"
capture = {{ got = "re:DB_PASSWORD=(\\\\S+)" }}
[[steps]]
id = "later"
title = "A later step using it"
run = "echo later: {{{{ got }}}}"
[[steps]]
id = "failing"
title = "An action's error"
uses = "leaktest.fail"
with = {{ token = "{{{{ pw }}}}" }}
"""


def plant(tmp_path):
    (tmp_path / "planted.txt").write_bytes("\n".join(text for _, text, _ in PLANTED).encode() + b"\n")
    (tmp_path / "captured.txt").write_text(f"DB_PASSWORD={CAPTURED}\n")
    (tmp_path / "first.txt").write_text(" " + SECRET[:8])
    (tmp_path / "rest.txt").write_text(SECRET[8:] + " tail\n")
    os.mkfifo(tmp_path / "fifo")


def drive(run, tmp_path):
    for step in ("pty", "pipe", "long", "action", "capture", "later", "failing"):
        run.run_step(step)
        if step == "long":  # release the rest only once the first part of the line is in the journal
            assert wait_for(lambda: any(run.journal.chunks(run.run_id, "long", 1)), timeout=20, run=run)
            threading.Thread(target=lambda: (tmp_path / "fifo").write_text("go\n"), daemon=True).start()
        assert wait_for(lambda s=step: run.state.status(s) in FINAL, timeout=30, run=run), step
    run.note(f"pasted by mistake: {SECRET} and {JWT}")


def surfaces(run, tmp_path, store) -> dict[str, str]:
    path = tmp_path / "journal.sqlite3"
    con = sqlite3.connect(path)
    files = b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite3*"))
    out = {"journal (rows and file bytes)": "\n".join(con.iterdump()) + files.decode("utf-8", "ignore")}
    con.close()
    screen = []
    for step in run.book.steps:
        for stream in ("main",):
            screen += store.since(step.id, stream, -1, 0)[2]
    out["screen (output store)"] = "\n".join(screen)
    follow = Follow(Journal(path, readonly=True), run.run_id)
    fstore = FollowStore(follow)
    update = follow.poll()
    for c in update.chunks:
        fstore.add(c.step, c.attempt, c.stream, c.data)
    fstore.applied = update.last_chunk
    out["follower (feed events)"] = "\n".join(json.dumps(e.data, ensure_ascii=False) for e in follow.journal.events(run.run_id))
    out["follower (screen)"] = "\n".join(x for s in run.book.steps for x in fstore.since(s.id, "main", -1, 0)[2])
    for fmt in ("md", "html", "json"):
        out[f"record ({fmt}, full output)"] = record(run.journal, run.run_id, fmt, full_output=True)
    return out


def found(needle: str, surface: str) -> bool:
    views = (surface, clean_text(surface), html.unescape(surface))
    forms = {needle, json.dumps(needle)[1:-1], json.dumps(needle, ensure_ascii=False)[1:-1], html.escape(needle)}
    return any(f in v for f in forms for v in views)


def test_no_planted_secret_reaches_any_surface(tmp_path):
    plant(tmp_path)
    run: Run = start(tmp_path, BOOK.format(dir=tmp_path), given={"pw": SECRET},
                     env={**os.environ, "DEPLOY_TOKEN": ENV_SECRET})
    store = OutputStore()
    run.subscribe(on_output=store.add)
    drive(run, tmp_path)
    items = PLANTED + [("a captured value", CAPTURED, [CAPTURED])]
    leaks = []
    shown = surfaces(run, tmp_path, store)
    for where, text in shown.items():
        for name, _, needles in items:
            FIGURES["attempts"] = FIGURES.get("attempts", 0) + 1
            hit = [n for n in needles if found(n, text)]
            if hit:
                leaks.append(f"{name} -> {where}: {hit[0]!r}")
    FIGURES["leaks"] = len(leaks)
    FIGURES["surfaces"] = len(shown)
    FIGURES["planted"] = len(items)
    assert "[REDACTED]" in shown["screen (output store)"] and " tail" in shown["journal (rows and file bytes)"]
    assert not leaks, "\n".join(leaks)


def test_an_independent_detector_finds_nothing_either(tmp_path):
    """detect-secrets' own plugins, run over every surface, as a check on shapes the corpus did not plant."""
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import transient_settings

    plant(tmp_path)
    run = start(tmp_path, BOOK.format(dir=tmp_path), given={"pw": SECRET},
                env={**os.environ, "DEPLOY_TOKEN": ENV_SECRET})
    store = OutputStore()
    run.subscribe(on_output=store.add)
    drive(run, tmp_path)
    plugins = ["AWSKeyDetector", "ArtifactoryDetector", "AzureStorageKeyDetector", "BasicAuthDetector",
               "DiscordBotTokenDetector", "GitHubTokenDetector", "GitLabTokenDetector", "JwtTokenDetector",
               "MailchimpDetector", "NpmDetector", "OpenAIDetector", "PrivateKeyDetector", "PypiTokenDetector",
               "SendGridDetector", "SlackDetector", "SquareOAuthDetector", "StripeDetector",
               "TelegramBotTokenDetector", "TwilioKeyDetector"]
    findings = []
    with transient_settings({"plugins_used": [{"name": p} for p in plugins]}):
        for where, text in surfaces(run, tmp_path, store).items():
            if where.startswith("journal"):
                text = text.split("CREATE TABLE", 1)[-1]
            for line in clean_text(text).splitlines():
                findings += [f"{where}: {s.type}: {s.secret_value}" for s in scan_line(line)]
    assert not findings, "\n".join(findings[:20])
