"""Markdown for plans and records: GitHub-flavoured tables (pipes escaped), fenced commands and output,
so the text pastes cleanly into a GitHub issue, a pull request or Confluence."""

from __future__ import annotations

import json
import re
from typing import Any, TextIO

from .export import OUTCOME_WORDS, fmt_clock, fmt_duration, fmt_time, rehearsal_text, schedule_text

_FENCE_LIKE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def cell(value: Any) -> str:
    """Text safe inside a table cell: pipes escaped, newlines as <br>."""
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "")
    return text.replace("\n", "<br>")


def inline(value: Any) -> str:
    """Inline code that survives backticks inside it."""
    text = str(value).replace("\n", " ")
    ticks = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (ticks + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fence(out: TextIO, lines, lang: str = "") -> None:
    """A fenced block; a line that would close the fence is indented so it cannot."""
    out.write(f"```{lang}\n")
    for line in lines:
        if _FENCE_LIKE.match(line):
            line = "    " + line
        out.write(line + "\n")
    out.write("```\n\n")


def table(out: TextIO, head: list[str], rows: list[list[Any]]) -> None:
    out.write("| " + " | ".join(cell(h) for h in head) + " |\n")
    out.write("|" + "|".join("---" for _ in head) + "|\n")
    for r in rows:
        out.write("| " + " | ".join(cell(c) for c in r) + " |\n")
    out.write("\n")


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str)


def write_md(doc: dict, out: TextIO) -> None:
    rec = doc["kind"] == "record"
    rb, run = doc["runbook"], doc.get("run")
    out.write(f"# Deploy {'record' if rec else 'plan'}: {rb['title']}\n\n")
    rows = [["Runbook", f"{rb['id']} ({rb['path']})" if rb["path"] else rb["id"]],
            ["Environment", doc["environment"] or "(not set)"], ["Release", doc["release"] or "(not set)"],
            ["Schedule", schedule_text(doc["schedule"])]]
    if rec:
        rows += [["Run", run["id"] + (" (rehearsal)" if run["rehearsal"] else "")],
                 ["Started", fmt_time(run["started"])], ["Finished", fmt_time(run["finished"]) or "not finished"],
                 ["Duration", fmt_duration(run["duration"])], ["Host", run["host"]],
                 ["tmux session", run["tmux"] or "-"]]
        if run["rehearsal"]:
            rows.append(["Rehearsal", rehearsal_text(run)])
    people = doc["people"]
    rows += [["Release manager", people["release_manager"] or "(to be named)"],
             ["Pairs", ", ".join(people["pairs"]) or "(none named)"],
             ["Approvers", ", ".join(people["approvers"]) or "(none declared)"],
             ["Procedure", rb["source"] or "-"], ["Runbook sha256", rb["sha256"]]]
    if rec:
        rows.append(["Runbook changed during the run", "YES, see Deviations" if run["runbook_changed"] else "no"])
        if run["file_now_differs"]:
            rows.append(["Runbook file now", "differs from the snapshot this run used"])
    else:
        rows.append(["Generated", fmt_time(doc["generated"])])
    table(out, ["", ""], rows)
    if rb["description"]:
        out.write(rb["description"].strip() + "\n\n")

    if rec:
        _outcome(doc, out)
    out.write("## Variables\n\n")
    if doc["vars"]:
        table(out, ["Name", "Value", "Source"],
              [[v["name"], _value(v["value"]) if v["known"] else "(not known yet)", v["origin"]] for v in doc["vars"]])
    else:
        out.write("None.\n\n")
    _changes(doc.get("changes"), out)
    out.write("## Risks\n\n")
    out.write("".join(f"- {r}\n" for r in doc["risks"]) + "\n" if doc["risks"] else "None declared.\n\n")

    out.write("## Steps\n\n")
    for group in doc["sections"]:
        _group(group, out, rec)
    out.write("## Rollback plan\n\n")
    if not doc["rollback"]:
        out.write("The runbook declares no on-demand (rollback) section.\n\n")
    for group in doc["rollback"]:
        _group(group, out, rec)

    if rec:
        out.write("## Deviations\n\n")
        if doc["deviations"]:
            table(out, ["Time", "Step", "Who", "What", "Reason", "Resolution"],
                  [[fmt_time(d["ts"]), d["step"] or "-", d["actor"], d["what"], d["reason"], d["resolution"] or ""]
                   for d in doc["deviations"]])
        else:
            out.write("None: the runbook was followed as written.\n\n")
        out.write("## Notes\n\n")
        if doc["notes"]:
            table(out, ["Time", "Who", "Step", "Note"],
                  [[fmt_time(n["ts"]), n["actor"], n["step"] or "-", n["text"]] for n in doc["notes"]])
        else:
            out.write("None.\n\n")
    _approval(doc, out, rec)


def _outcome(doc: dict, out: TextIO) -> None:
    run = doc["run"]
    out.write("## Outcome\n\n")
    word = OUTCOME_WORDS.get(run["outcome"], run["outcome"])
    out.write(f"**{word}**" + (f": {run['outcome_reason']}" if run["outcome_reason"] else "") + "\n\n")
    if run["sections_entered"]:
        out.write("On-demand sections entered: " + ", ".join(run["sections_entered"]) + "\n\n")
    if run["schedule_check"]:
        sc = run["schedule_check"]
        out.write(f"Schedule check: {sc.get('verdict')}" + (f" ({sc['detail']})" if sc.get("detail") else "") + "\n\n")
    if run["deadline_passed"]:
        out.write("The deploy window's deadline passed during the run.\n\n")
    n = len(doc["deviations"])
    out.write(f"{n} deviation{'s' if n != 1 else ''} from the runbook, {len(doc['notes'])} notes.\n\n")


def _changes(changes: dict | None, out: TextIO) -> None:
    if changes is None:
        return
    out.write("## Change summary\n\n")
    rng = f"{changes['base']}..{changes['head']}" if changes["base"] else changes["head"]
    out.write(f"Repository {inline(changes['repo'])}, {inline(rng)}.\n\n")
    if changes["error"]:
        out.write(f"Could not read the commits: {changes['error']}\n\n")
        return
    if not changes["commits"]:
        out.write("No commits.\n\n")
        return
    log = [c for c in changes["commits"] if c["changelog"]]
    if log:
        out.write("Changelog:\n\n" + "".join(f"- {line}\n" for c in log for line in c["changelog"]) + "\n")
    table(out, ["Commit", "Author", "Date", "Subject"],
          [[c["sha"], c["author"], fmt_time(c["date"])[:10], c["subject"]] for c in changes["commits"]])


def _group(group: dict, out: TextIO, rec: bool) -> None:
    title = group["title"] + (" (on demand)" if group["on_demand"] else "")
    out.write(f"### {title}\n\n")
    if group["on_demand"]:
        froms = ", ".join(f"step {inline(f['step'])} option \"{f['option']}\"" for f in group["entered_from"])
        out.write("Entered from " + froms + ". " if froms else "Entered by the operator's command. ")
        if rec:
            out.write("**Entered during this run.**" if group.get("entered") else "Not entered during this run.")
        out.write("\n\n")
    if group["body"]:
        out.write(group["body"].strip() + "\n\n")
    for step in group["steps"]:
        _step(step, out, rec)


def _step(s: dict, out: TextIO, rec: bool) -> None:
    x = s.get("execution")
    status = f" [{x['status'].upper()}]" if rec and x else ""
    out.write(f"#### {s['number']}. {s['title']} ({inline(s['id'])}){status}\n\n")
    if s["body"]:
        out.write(s["body"].strip() + "\n\n")
    facts = []
    if s["condition"]:
        c = s["condition"]
        applies = {True: "applies", False: "does not apply", None: "decided at run time"}[c["applies"]]
        facts.append(f"Only when {inline(c['expression'])} ({applies})")
    if s["action"]:
        facts.append(f"Action {inline(s['action'])}" + (f" with {inline(json.dumps(s['with'], default=str))}"
                                                           if s["with"] else ""))
    facts += [f"Gate: {g}" for g in s["gates"]]
    if s["wait"]:
        facts.append(f"Timer: wait {s['wait']} before the step is done")
    if s["timeout"]:
        facts.append(f"Timeout {s['timeout']}" + (f", {s['retries']} retries" if s["retries"] else ""))
    if s["cwd"]:
        facts.append(f"Working directory {inline(s['cwd'])}")
    if s["interactive"]:
        facts.append("Interactive: the terminal is handed to the operator")
    if s["capture"]:
        facts.append("Captures " + ", ".join(inline(k) for k in s["capture"]))
    for p in s["panes"]:
        until = f", done when a line matches {inline(p['until'])}" if p["until"] else ""
        every = f" every {p['every']}" if p["every"] else ""
        facts.append(f"Live pane \"{p['title']}\": {p['kind']} {inline(p['source'])}{every}{until}")
    out.write("".join(f"- {f}\n" for f in facts) + ("\n" if facts else ""))
    if s["command"]:
        if not s["command_resolved"]:
            out.write("Command (`{{ name }}` is filled in at run time):\n\n")
        fence(out, s["command"].rstrip("\n").splitlines(), "bash")
    if s["decide"]:
        out.write(f"Decision: **{s['decide']['question']}**\n\n")
        for o in s["decide"]["options"]:
            goto = f" -> go to {inline(o['goto'])}" if o["goto"] else " -> continue"
            out.write(f"- {o['label']}{goto}\n")
        out.write("\n")
    if s["checks"] and not rec:
        out.write(("Criteria:" if s["decide"] else "Checks:") + "\n\n" + "".join(f"- [ ] {c}\n" for c in s["checks"]) + "\n")
    if rec and x:
        _execution(s, x, out)


def _execution(s: dict, x: dict, out: TextIO) -> None:
    if s["checks"]:
        last: dict[int, dict] = {}
        for t in x["ticks"]:
            last[t["index"]] = t
        out.write("Criteria (ticked = true):\n\n" if s["decide"] else "Checks:\n\n")
        for i, label in enumerate(s["checks"]):
            t = last.get(i)
            if t and t["checked"]:
                out.write(f"- [x] {label} (ticked by {t['actor']} at {fmt_clock(t['ts'])})\n")
            else:
                out.write(f"- [ ] {label}\n")
        out.write("\n")
        untick = [t for t in x["ticks"] if not t["checked"]]
        if untick:
            out.write("".join(f"- unticked \"{t['label']}\" by {t['actor']} at {fmt_clock(t['ts'])}\n"
                              for t in untick) + "\n")
    if x["reason"] and x["status"] in ("skipped", "done", "failed") and not x["attempts"]:
        out.write(f"Reason: {x['reason']}\n\n")
    if x["attempts"]:
        table(out, ["Attempt", "Started by", "Started", "Duration", "Exit code", "Result"],
              [[a["attempt"], a["started_by"], fmt_time(a["started"]), fmt_duration(a["duration"]),
                "" if a["exit_code"] is None else a["exit_code"],
                (a["status"] or ("running" if a["finished"] is None else "")) + (f": {a['error']}" if a["error"] else "")]
               for a in x["attempts"]])
    for t in x["timers"]:
        exp = f", expired {fmt_clock(t['expired'])}" if t["expired"] else ", not expired"
        out.write(f"- Timer {t['timer']}: started {fmt_clock(t['started'])}, runs to "
                  f"{fmt_clock(t['deadline'])}{exp}\n")
    for p in x["panes"]:
        out.write(f"- Pane {p['pane']} {p['how']} at {fmt_clock(p['ts'])}: {inline(p['line'])}\n")
    if x["decision"]:
        d = x["decision"]
        goto = f", went to {inline(d['goto'])}" if d["goto"] else ""
        out.write(f"- **Decision** by {d['actor']} at {fmt_clock(d['ts'])}: \"{d['label'] or d['option']}\"{goto}"
                  + (f". Reason: {d['reason']}" if d["reason"] else "") + "\n")
    for dv in x["deviations"]:
        out.write(f"- **Deviation** by {dv['actor']} at {fmt_clock(dv['ts'])}: {dv['what']}"
                  + (f". Reason: {dv['reason']}" if dv["reason"] else "")
                  + (f". Resolved: {dv['resolution']}" if dv["resolution"] else "") + "\n")
    for n in x["notes"]:
        out.write(f"- Note by {n['actor']} at {fmt_clock(n['ts'])}: {n['text']}\n")
    if x["timers"] or x["panes"] or x["decision"] or x["deviations"] or x["notes"]:
        out.write("\n")
    for a in x["attempts"]:
        if a["captured"]:
            table(out, ["Captured variable", "Value"], [[k, _value(v)] for k, v in a["captured"].items()])
        if a.get("command") and a["command"].strip() != s["command"].strip():
            out.write(f"Command as run (attempt {a['attempt']}):\n\n")
            fence(out, a["command"].rstrip("\n").splitlines(), "bash")
        for o in a["output"]:
            what = (f"last {o['shown_lines']} of {o['total_lines']} lines" if o["trimmed"]
                    else f"{o['total_lines']} line{'s' if o['total_lines'] != 1 else ''}")
            out.write(f"Output, attempt {a['attempt']}, {o['stream']} ({what}):\n\n")
            fence(out, o["lines"], "text")


def _approval(doc: dict, out: TextIO, rec: bool) -> None:
    out.write("## Approval\n\n")
    if rec:
        out.write("Reviewed after the deploy. Signing confirms the record above was read.\n\n")
    else:
        out.write("CAB approves the change as planned above. Change reference: ____________\n\n")
    rows = [["Release manager", doc["people"]["release_manager"], "", "", ""]]
    rows += [["Approver", name, "", "", ""] for name in doc["approval"]["approvers"]]
    rows += [["CAB", "", "", "", ""]]
    table(out, ["Role", "Name", "Decision", "Signature", "Date"], rows)
