"""Deploy plans and records: the content of each format, read back from a real SQLite journal."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from deploytui.errors import UserError
from deploytui.reports.export import FORMATS, SCHEMA_VERSION, plan, record

from .conftest import PLANTED, SECRET_VAR, Run, write_rollback_run

RUN = "20240514-090000-abcd"


def readable(text: str | bytes) -> str:
    """An export as text; a PDF's pages through a PDF reader."""
    if isinstance(text, str):
        return text
    import io

    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(text)).pages)


@pytest.fixture
def run(journal, book):
    return write_rollback_run(journal, book)


def sections(md: str) -> dict[str, str]:
    """Markdown split by `## ` heading."""
    parts = re.split(r"^## (.+)$", md, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_record_markdown_tells_what_happened(journal, book, run):
    md = record(journal, RUN[:8], "md")  # a unique prefix is enough
    s = sections(md)
    assert md.startswith("# REHEARSAL — Deploy record: Deploy the login.gov IdP to production")
    assert f"| Runbook sha256 | {book.sha256} |" in md
    assert "| Runbook changed during the run | no |" in md
    assert "| Release manager | maria |" in md and "| Pairs | jo |" in md
    assert ("**Rolled back through “Rolling back”, entered from step 6 “Roll back?” (“Roll back”, maria at "
            "09:01:56: 5XX rate at 4% | above 1%)**") in s["Outcome"]
    steps = s["Steps"]
    # ticks with who and when, per check
    assert "- ☑ No errors | warnings in NewRelic — ticked by jo at 09:01:04" in steps
    assert "- [x]" not in md and "<br>" not in md  # plain CommonMark: no task lists, no HTML in cells
    # attempts: the failed first try and the re-run, with exit codes
    assert "| 1 | maria | 09:01:09 | 0.3s | 1 | failed: exit 1 |" in steps
    assert "| 2 | maria | 09:01:13 | 2.5s | 0 | done |" in steps
    # output trimmed to the last 40 lines, fenced, and a fence line in the output cannot close it
    assert "Output, attempt 2 (last 40 of 103 lines):" in steps
    assert "line 64\n" in steps and "line 63\n" not in steps
    assert "\n    ```\n```\n" in steps
    # colours stripped from captured terminal output
    assert "\x1b" not in md and "abc123def\n```" in steps
    # captured variables, timers, the pane match and the decision with its reason
    assert "| git_sha | abc123def |" in steps
    assert "- Gate: from 09:01:22 to 09:16:21, not over" in steps
    assert "- Wait: from 09:02:02 to 09:03:01, over at 09:03:02" in s["Rollback plan"]
    assert "- Pane 1 “Migration instance” matched at 09:01:18: `All done! provision.sh finished`" in steps
    assert "Pane 1 “Migration instance”, attempt 1 (1 line):" in steps  # labelled as the screen labels it
    assert '**Decision** by maria at 09:01:56: “Roll back”, went to `rollback`. Reason: 5XX rate at 4% | above 1%' in steps
    # the step that the rollback took the run away from
    assert "(`announce`) — NOT ON THIS RUN'S PATH" in steps
    # only the entry actually taken, with who, when and why
    assert ("**Entered during this run** from step 6 “Roll back?”, decided “Roll back” by maria at 09:01:56: "
            "5XX rate at 4% | above 1%.") in s["Rollback plan"]
    assert "(`revert`) — DONE" in s["Rollback plan"]


def test_record_markdown_deviations_table_escapes_pipes(journal, book, run):
    dev = sections(record(journal, RUN, "md"))["Deviations"]
    rows = [line for line in dev.splitlines() if line.startswith("| 09")]
    assert len(rows) == 5
    # every row has exactly the table's 4 cells: no raw pipe leaked out of a reason
    for line in rows:
        assert len(re.split(r"(?<!\\)\|", line)) == 6, line
    assert "| maria | Cut a release branch: re-run (maria): fetched first \\| retrying |" in dev
    assert ("| engine | Wait, then check NewRelic again: was running when deploytui stopped: interrupted | Wait, "
            "then check NewRelic again: marked done (maria): checked NewRelic by hand at 09:01:24 |") in dev
    assert "Overrode the gate of Wait, then check NewRelic again (maria): incident bridge asked \\| to skip" in dev
    notes = sections(record(journal, RUN, "md"))["Notes"]
    assert "| jo | - | Rolled back; postmortem Thursday |" in notes


def test_record_markdown_lists_a_changed_runbook_and_a_broken_lock(journal, book):
    r = Run(journal, RUN, book)
    r.ev("run_started", vars=r.vars)
    r.ev("lock_broken", holder="sam@host2", reason="sam went home")
    r.ev("runbook_changed", actor="engine", old_sha=book.sha256, new_sha="f" * 64, diff="-a\n+b")
    r.ev("step_started", "proof-in-staging", attempt=1)
    r.ev("skipped", "proof-in-staging", reason="staging is down")
    r.ev("jump", target="rollback", reason="customer complaints")
    md = record(journal, RUN, "md")
    assert "| Runbook changed during the run | YES, see Deviations |" in md
    dev = sections(md)["Deviations"]
    assert f"The runbook file changed since the run started ({book.sha256[:12]} → ffffffffffff)" in dev
    assert "Took the lock from sam@host2 (maria): sam went home" in dev
    assert "| maria | Test the proofing flow in staging: skipped (maria): staging is down |" in dev
    assert "Entered rollback (maria): customer complaints" in dev
    assert "**Not finished**" in md


def test_record_json_follows_the_documented_schema(journal, book, run):
    doc = json.loads(record(journal, RUN, "json", full_output=True))
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    assert doc["kind"] == "record" and doc["rehearsal"] is True
    assert doc["run"]["outcome"] == "rolled_back"
    assert doc["run"]["rollback"]["from_step"] == "rollback-decision"
    assert doc["run"]["sha256"] == book.sha256 and doc["run"]["runbook_changed"] is False
    assert [d["kind"] for d in doc["deviations"]] == ["rerun", "override", "step_interrupted", "override", "marked"]
    assert [(a["name"], a["did"]) for a in doc["people"]["acted"]][1] == ("jo", "ticked a check, wrote a note")
    steps = {s["id"]: s for g in doc["sections"] + doc["rollback"] for s in g["steps"]}
    assert list(steps) == [s.id for s in book.steps]
    cut = steps["cut-branch"]["execution"]
    assert [a["exit_code"] for a in cut["attempts"]] == [1, 0]
    out = cut["attempts"][1]["output"][0]
    assert out["total_lines"] == 103 and out["shown_lines"] == 103 and not out["trimmed"]
    assert out["lines"][0] == "line 1" and out["lines"][-1] == "```"
    assert steps["rollback-decision"]["execution"]["decision"]["goto"] == "rollback"
    assert steps["announce"]["execution"]["status"] == "not on this run's path"
    ticks = steps["proof-in-staging"]["execution"]["ticks"]
    assert [(t["actor"], t["index"]) for t in ticks] == [("maria", 0), ("jo", 1)]
    assert doc["rollback"][0]["entered"] is True
    (entry,) = doc["rollback"][0]["entered_from"]
    assert (entry["step"], entry["option"], entry["how"], entry["actor"]) == (
        "rollback-decision", "Roll back", "decision", "maria")
    trimmed = json.loads(record(journal, RUN, "json"))
    t_out = [s for g in trimmed["sections"] for s in g["steps"] if s["id"] == "cut-branch"][0]
    assert t_out["execution"]["attempts"][1]["output"][0]["shown_lines"] == 40


def test_record_html_is_standalone_and_well_formed(journal, book, run):
    html = record(journal, RUN, "html")
    assert html.startswith("<!DOCTYPE html>")
    assert "@page { size: A4" in html
    # no external assets: no scripts, stylesheets, images or fonts fetched from anywhere
    assert not re.search(r"<(script|link|img|iframe)\b", html, re.I)
    assert "url(" not in html and "@import" not in html

    class Checker(HTMLParser):
        void = {"meta", "br", "hr", "img", "input", "link"}

        def __init__(self):
            super().__init__()
            self.stack: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag not in self.void:
                self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
            self.stack.pop()

    checker = Checker()
    checker.feed(html)
    assert checker.stack == []
    text = re.sub(r"<[^>]+>", "", html)
    assert "Rolled back through “Rolling back”" in text and "REHEARSAL — not a production record" in text
    assert "Roll back" in text and "5XX rate at 4% | above 1%" in text
    assert "ticked by jo at" in text
    assert "fetched first | retrying" in text
    assert "Output, attempt 2 (last 40 of 103 lines):" in text


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("full", [False, True])
def test_exports_never_contain_secrets(journal, book, fmt, full, monkeypatch):
    # the secret variable's raw value slipped into the run's stored vars, a command, the output and a
    # note; AWS keys, GitHub tokens and a Slack webhook sit in output, a captured variable and a note
    write_rollback_run(journal, book, secret_value=SECRET_VAR)
    text = readable(record(journal, RUN, fmt, full_output=full))
    for secret in PLANTED:
        assert secret not in text, (fmt, secret)
    assert "[REDACTED]" in text
    monkeypatch.setenv("DEPLOY_API_TOKEN", "env-secret-value-123")
    text = readable(plan(book, {"rc": "42", "slack_token": SECRET_VAR, "note": "env-secret-value-123"}, fmt))
    assert SECRET_VAR not in text and "env-secret-value-123" not in text
    # the command shows where the secret goes (the environment reference it runs with), not the secret
    assert "$DEPLOYTUI_SECRET_SLACK_TOKEN" in text


def test_plan_markdown_resolves_what_it_knows(book):
    md = plan(book, {"rc": "42", "pairs": "jo, sam"}, "md")
    s = sections(md)
    assert md.startswith("# Deploy plan: Deploy the login.gov IdP to production")
    assert "| Environment | prod |" in md and "| Release | RC 42 |" in md
    assert "window 09:00-12:30 America/New_York" in md and "never on Fri" in md
    assert "| Release manager | @login-deployer |" in md and "| Pairs | jo, sam |" in md
    assert "| Approvers | alice, bob |" in md
    assert "| slack_token | (not known yet) |" in s["Variables"]
    assert "- Recycling drops sessions | users re-login" in s["Risks"]
    steps = s["Steps"]
    order = [m for m in re.findall(r"^#### \d+\. .+\(`([\w-]+)`\)", md, re.M)]
    assert order == [st.id for st in book.steps]
    # a value only the run will know shows as ‹name›, never as template syntax; known ones are filled in
    assert "git checkout ‹git_sha›\ngit checkout -b stages/rc-42\n" in steps and "{{" not in md
    assert 'Action `aws.asg_recycle` with `{"env": "prod", "role": "idp"}`' in steps
    assert "Gate: not before 15m after step 'recycle' finished" in steps
    assert "Timer: wait 1h before the step is done" in steps
    assert "- ☐ Proofed an identity end to end in staging" in steps
    assert "- Roll back → go to `rollback`" in steps
    assert ("Possible from step 6 on: entered from step 6 `rollback-decision` (option “Roll back”), or by the "
            "operator's jump at any step.") in s["Rollback plan"]
    assert "git push -f origin 'HEAD~1':stages/prod" in s["Rollback plan"]
    assert "| Approver | alice |" in s["Approval"] and "| Approver | bob |" in s["Approval"]


def test_plan_quotes_variable_values_in_commands(book):
    md = plan(book, {"rc": "42; rm -rf /", "env": "prod"}, "md")
    assert "git checkout -b stages/rc-'42; rm -rf /'" in md


@pytest.mark.parametrize("fmt", FORMATS)
def test_plan_in_every_format_names_steps_and_rollback(book, fmt):
    text = readable(plan(book, {"rc": "7"}, fmt))
    for step in book.steps:
        assert step.id in text.replace("\n", "")
    assert "Rolling back" in text
    if fmt == "json":
        doc = json.loads(text)
        assert doc["schema_version"] == 2 and doc["kind"] == "plan" and doc["release"] == "RC 7"
        assert [g["id"] for g in doc["rollback"]] == ["rollback"]


def test_plan_change_summary_from_a_git_repo(book, tmp_path):
    import git

    repo = git.Repo.init(tmp_path / "app")
    (tmp_path / "app" / "f").write_text("1")
    repo.index.add(["f"])
    repo.index.commit("Initial")
    repo.create_tag("prod")
    for i, msg in enumerate(["Fix login | logout\n\nchangelog: Bug Fixes, Auth, Fix logout loop",
                             "Add feature flag\n\n[skip changelog]"]):
        (tmp_path / "app" / "f").write_text(str(i + 2))
        repo.index.add(["f"])
        repo.index.commit(msg)
    md = plan(book, {"rc": "1", "repo": str(tmp_path / "app"), "base": "prod"}, "md")
    s = sections(md)["Change summary"]
    assert "`prod..HEAD`" in s
    assert "- **Bug Fixes**\n- Auth: Fix logout loop" in s
    assert "Fix login \\| logout" in s and "Add feature flag" in s and "Initial" not in s
    bad = plan(book, {"rc": "1", "repo": str(tmp_path / "app"), "base": "no-such-ref"}, "md")
    assert "Could not read the commits:" in sections(bad)["Change summary"]
    assert "Change summary" not in plan(book, {"rc": "1"}, "md")


def test_full_output_streams_lines_across_chunk_boundaries(journal, book):
    r = Run(journal, RUN, book)
    r.ev("run_started", vars=r.vars)
    r.ev("step_started", "staging-sha", attempt=1, command="x")
    text = "".join(f"row {i:05d}\n" for i in range(5000))
    for k in range(0, len(text), 777):  # chunks cut mid-line
        r.out("staging-sha", 1, text[k:k + 777])
    md = record(journal, RUN, "md", full_output=True)
    body = md.split("Output, attempt 1 (5000 lines):\n\n```text\n", 1)[1].split("\n```", 1)[0]
    assert body.splitlines() == [f"row {i:05d}" for i in range(5000)]
    tail = record(journal, RUN, "md")
    assert "(last 40 of 5000 lines)" in tail and "row 04960\n" in tail and "row 04959" not in tail


def test_errors_are_one_line(journal, book, run):
    with pytest.raises(UserError, match="unknown export format 'docx'"):
        record(journal, RUN, "docx")
    with pytest.raises(UserError, match="no run 'nope'"):
        record(journal, "nope", "md")
    with pytest.raises(UserError, match="unknown export format"):
        plan(book, {}, "docx")



def test_html_renders_bodies_as_markdown_and_escapes_html():
    from deploytui.runbook.loader import parse

    book = parse('[runbook]\nid = "x"\ntitle = "X <b>"\n\n[[steps]]\nid = "a"\ntitle = "A"\n'
                 'body = "Run `make deploy` first.<script>alert(1)</script>"\n', "x.toml")
    html = plan(book, {}, "html")
    assert "<code>make deploy</code>" in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<title>Deploy plan: X &lt;b&gt;</title>" in html
