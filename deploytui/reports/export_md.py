"""Markdown for plans and records that pastes into GitHub, Confluence and Jira alike: pipe tables with a
header row and one line per cell (no `<br>`, no task lists), fenced commands and output. `write_summary`
is the short form that fits a Jira description."""

from __future__ import annotations

import io
import json
import re
from typing import Any, TextIO

from .estimate import fmt_duration
from .export import JIRA_LIMIT, fmt_clock, fmt_time, schedule_text

_FENCE_LIKE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
TICKED, UNTICKED = "☑", "☐"


def cell(value: Any) -> str:
    """Text safe inside a table cell: one line, pipes escaped."""
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "")
    return " ".join(part.strip() for part in text.split("\n") if part.strip())


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


def title_line(doc: dict, summary: bool = False) -> str:
    kind = "record" if doc["kind"] == "record" else "plan"
    head = "REHEARSAL — " if doc.get("rehearsal") else ""
    return f"# {head}Deploy {kind}{' (summary)' if summary else ''}: {doc['runbook']['title']}\n\n"


def _rehearsal_note(doc: dict, out: TextIO) -> None:
    if not doc.get("rehearsal"):
        return
    run = doc["run"]
    out.write("> **REHEARSAL.** This run practised the runbook against a local world; it is not a record of a "
              "production deploy.")
    if run["faults"]:
        out.write(" Faults injected on purpose: " + "; ".join(run["faults"]) + ".")
    if run["seal"]:
        out.write(f" Sealed off: {run['seal']}.")
    out.write("\n\n")


def facts(doc: dict) -> list[list[Any]]:
    rec = doc["kind"] == "record"
    rb, run, people = doc["runbook"], doc.get("run") or {}, doc["people"]
    rows = [["Runbook", f"{rb['id']} ({rb['path']})" if rb["path"] else rb["id"]],
            ["Environment", doc["environment"] or "(not set)"], ["Release", doc["release"] or "(not set)"]]
    if rec:
        rows += [["Run", run["id"] + (" (REHEARSAL)" if run["rehearsal"] else "")],
                 ["Outcome", outcome_line(doc)],
                 ["Started", fmt_time(run["started"])], ["Finished", fmt_time(run["finished"]) or "not finished"],
                 ["Duration", fmt_duration(run["duration"])], ["Host", run["host"]],
                 ["tmux session", run["tmux"] or "-"]]
        fleet = run.get("fleet")
        if fleet:  # [fleet]: the app, the team to call when it fails, and how far it was allowed to go
            rows += [["App", fleet["app"]], ["Owning team", fleet["team"] or "(not named)"]]
            rows += [["Dry run", fleet["dry"]]] if fleet["dry"] else []
            rows += [["Not trusted", f"stops before {fleet['hold']} for a person"]] if fleet["hold"] else []
    rows += [["Release manager", people["release_manager"] or "(to be named)"],
             ["Pairs", ", ".join(people["pairs"]) or "(none named)"],
             ["Approvers", ", ".join(people["approvers"]) or "(none declared)"],
             ["Procedure", rb["source"] or "-"], ["Runbook sha256", rb["sha256"]]]
    if rec:
        rows.append(["Runbook changed during the run", "YES, see Deviations" if run["runbook_changed"] else "no"])
        chain = run.get("chain") or {}
        rows.append(["Journal chain", (f"{chain.get('events')} events, final hash {chain.get('final')}"
                                       if chain.get("intact") else f"BROKEN: {chain.get('problem')}")])
        if run["file_now_differs"]:
            rows.append(["Runbook file now", "differs from the snapshot this run used"])
    else:
        rows.append(["Generated", fmt_time(doc["generated"])])
    return rows


def outcome_line(doc: dict) -> str:
    run = doc["run"]
    rb = run["rollback"]
    if rb:
        where = f", entered from step {rb['from_number']} “{rb['from_title']}”" if rb["from_step"] else ""
        how = f" (“{rb['option']}”" if rb["option"] else " (jump"
        how += f", {rb['actor']} at {fmt_clock(rb['ts'])}" + (f": {rb['reason']}" if rb["reason"] else "") + ")"
        return f"Rolled back through “{rb['title']}”{where}{how if rb['actor'] else ''}"
    words = run["outcome_words"]
    words = words[:1].upper() + words[1:]
    if run["outcome_section"]:
        words += f" (“{run['outcome_section']}”)"
    return words + (f": {run['outcome_reason']}" if run["outcome_reason"] else "")


def write_md(doc: dict, out: TextIO) -> None:
    rec = doc["kind"] == "record"
    out.write(title_line(doc))
    if rec:
        _rehearsal_note(doc, out)
    table(out, ["Item", "Value"], facts(doc))
    if doc["runbook"]["description"]:
        out.write(doc["runbook"]["description"].strip() + "\n\n")
    if rec:
        _outcome(doc, out)
        _deviations(doc, out)
        _people(doc, out)
    else:
        _timing(doc, out)
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
        out.write("## Notes\n\n")
        if doc["notes"]:
            table(out, ["Time", "Who", "Step", "Note"],
                  [[fmt_time(n["ts"]), n["actor"], n["step"] or "-", n["text"]] for n in doc["notes"]])
        else:
            out.write("None.\n\n")
    _approval(doc, out, rec)


def _timing(doc: dict, out: TextIO) -> None:
    t = doc["timing"]
    out.write("## When and how long\n\n")
    rows = [["Schedule", schedule_text(doc["schedule"])],
            ["Planned start", t["at_local"] or "(not given: `deploytui plan --at \"YYYY-MM-DD HH:MM\"`)"]]
    if t["window"]:
        rows.append(["Deploy window", f"{t['window']['start']}-{t['window']['end']} {t['window']['tz']}"])
    rows.append(["Expected duration", expected_text(t["expected"], t["history"])])
    table(out, ["Item", "Value"], rows)
    if t["warnings"]:
        out.write("**Warnings for the planned date:**\n\n" + "".join(f"- {w}\n" for w in t["warnings"]) + "\n")
    elif t["at"] is not None:
        out.write("No warnings for the planned date.\n\n")


def expected_text(e: dict | None, history: dict) -> str:
    if not e or e["median"] is None:
        return "unknown: no finished run of this runbook in the journal yet"
    runs = history["runs"]
    basis = (f"from {runs} {'rehearsal' if history['rehearsals'] else 'run'}{'s' if runs != 1 else ''}"
             if runs else "the written waits and gates only")
    spread = (f" (between {fmt_duration(e['min'])} and {fmt_duration(e['max'])})"
              if e["min"] is not None and e["max"] != e["min"] else "")
    untimed = f"; {e['untimed_steps']} steps never timed" if runs and e.get("untimed_steps") else ""
    return f"about {fmt_duration(e['median'])}{spread}, {basis}{untimed}"


def _expected_step(e: dict | None) -> str:
    if not e:
        return ""
    spread = f" ({fmt_duration(e['min'])}–{fmt_duration(e['max'])})" if e["max"] != e["min"] else ""
    return f"Usually takes {fmt_duration(e['median'])}{spread}"


def _outcome(doc: dict, out: TextIO) -> None:
    run = doc["run"]
    out.write("## Outcome\n\n")
    out.write(f"**{outcome_line(doc)}**\n\n")
    if run["schedule_check"]:
        sc = run["schedule_check"]
        out.write(f"Schedule check: {sc.get('verdict')}" + (f" ({sc['detail']})" if sc.get("detail") else "") + "\n\n")
    if run["deadline_passed"]:
        out.write("The deploy window's deadline passed during the run.\n\n")
    if run["resumes"]:
        out.write("Resumed: " + "; ".join(f"{fmt_time(r['ts'])} by {r['operator']} on {r['host']}"
                                          for r in run["resumes"]) + "\n\n")
    n = len(doc["deviations"])
    out.write(f"{n} deviation{'s' if n != 1 else ''} from the runbook, {len(doc['notes'])} "
              f"note{'s' if len(doc['notes']) != 1 else ''}.\n\n")


def _deviations(doc: dict, out: TextIO, limit: int | None = None) -> None:
    out.write("## Deviations\n\n")
    devs = doc["deviations"]
    if not devs:
        out.write("None: the runbook was followed as written.\n\n")
        return
    shown = devs if limit is None else devs[:limit]
    table(out, ["Time", "Who", "What", "Resolution"],
          [[fmt_clock(d["ts"]), d["actor"], d["what"], d["resolution"] or ""] for d in shown])
    if len(shown) < len(devs):
        out.write(f"… and {len(devs) - len(shown)} more in the full record.\n\n")


def _people(doc: dict, out: TextIO) -> None:
    out.write("## People\n\n")
    acted = doc["people"]["acted"]
    if not acted:
        out.write("No person acted: the engine ran everything.\n\n")
        return
    manager = doc["people"]["release_manager"]
    table(out, ["Person", "Role", "What they did"],
          [[a["name"], "release manager" if a["name"] == manager else "pair", a["did"]] for a in acted])


def _changes(changes: dict | None, out: TextIO) -> None:
    if changes is None:
        return
    out.write("## Change summary\n\n")
    rng = f"{changes['base']}..{changes['head']}" if changes["base"] else changes["head"]
    out.write(f"Repository {inline(changes['repo'])}, {inline(rng)} (found through {changes['source']}).\n\n")
    if changes["error"]:
        out.write(f"Could not read the commits: {changes['error']}\n\n")
        return
    if not changes["commits"]:
        out.write("No commits.\n\n")
        return
    if changes["changelog"]:
        out.write("Changelog:\n\n")
        for line in changes["changelog"]:
            out.write(f"- **{line[3:]}**\n" if line.startswith("## ") else (line if line.startswith("- ") else
                                                                             f"- {line}") + "\n")
        out.write("\n")
    table(out, ["Commit", "Author", "Date", "Subject"],
          [[c["sha"], c["author"], fmt_time(c["date"])[:10], c["subject"]] for c in changes["commits"]])


def _group(group: dict, out: TextIO, rec: bool) -> None:
    title = group["title"] + (" (rollback)" if group.get("rollback") else " (on demand)" if group["on_demand"] else "")
    out.write(f"### {title}\n\n")
    if group["on_demand"]:
        out.write(entered(group, rec) + "\n\n")
    if group["body"]:
        out.write(group["body"].strip() + "\n\n")
    for step in group["steps"]:
        _step(step, out, rec)


def entered(group: dict, rec: bool) -> str:
    """Plan: every way in, how long it takes. Record: only the way the run actually came in."""
    if rec:
        if not group["entered"]:
            return "Not entered during this run."
        ways = []
        for f in group["entered_from"]:
            if f["how"] == "decision":
                ways.append(f"from step {f['number']} “{f['title']}”, decided “{f['option']}” by {f['actor']} at "
                            f"{fmt_clock(f['ts'])}" + (f": {f['reason']}" if f["reason"] else ""))
            else:
                at = f" at step {f['number']} “{f['title']}”" if f["step"] else ""
                ways.append(f"by {f['actor']}'s jump{at}, {fmt_clock(f['ts'])}" + (f": {f['reason']}" if f["reason"]
                                                                                    else ""))
        return "**Entered during this run** " + "; ".join(ways) + "."
    froms = ", ".join(f"step {f['number']} {inline(f['step'])} (option “{f['option']}”)" for f in group["entered_from"])
    text = (f"Possible from step {group['possible_from']['number']} on: entered from {froms}, or by the operator's "
            "jump at any step." if froms else "Entered by the operator's jump, at any step.")
    e = group.get("expected")
    if e and e["median"] is not None:
        n = len(group["steps"])
        untimed = (f"; {e['untimed_steps']} of its {n} steps never timed, counted by their written waits"
                   if e["untimed_steps"] else "")
        spread = f" ({fmt_duration(e['min'])}–{fmt_duration(e['max'])})" if e["max"] != e["min"] else ""
        text += f" Takes about {fmt_duration(e['median'])}{spread}{untimed}."
    return text


def _step(s: dict, out: TextIO, rec: bool) -> None:
    x = s.get("execution")
    status = f" — {x['status'].upper()}" if rec and x else ""
    out.write(f"#### {s['number']}. {s['title']} ({inline(s['id'])}){status}\n\n")
    if s["body"]:
        out.write(s["body"].strip() + "\n\n")
    items = step_items(s, rec)
    out.write("".join(f"- {f}\n" for f in items) + ("\n" if items else ""))
    if s["command"]:
        if not s["command_resolved"]:
            out.write("Command (a ‹name› is known only during the run):\n\n")
        fence(out, s["command"].rstrip("\n").splitlines(), "bash")
    if s["decide"]:
        out.write(f"Decision: **{s['decide']['question']}**\n\n")
        for o in s["decide"]["options"]:
            goto = f" → go to {inline(o['goto'])}" if o["goto"] else " → continue"
            out.write(f"- {o['label']}{goto}\n")
        out.write("\n")
    if s["checks"] and not rec:
        out.write(("Criteria:" if s["decide"] else "Checks:") + "\n\n"
                  + "".join(f"- {UNTICKED} {c}\n" for c in s["checks"]) + "\n")
    if rec and x:  # a repeated step's checks are its items' (below)
        _execution({**s, "checks": []} if s.get("items") else s, x, out)
    for item in s.get("items") or [] if rec else []:
        out.write(f"##### {item['title']} ({inline(item['id'])}) [{item['execution']['status'].upper()}]\n\n")
        _execution({**s, "checks": item["checks"]}, item["execution"], out)


def step_items(s: dict, rec: bool) -> list[str]:
    """What the runbook says about a step besides its command, one Markdown line each."""
    items = []
    if s["condition"]:
        c = s["condition"]
        applies = {True: "applies", False: "does not apply", None: "decided at run time"}[c["applies"]]
        items.append(f"Only when {inline(c['expression'])} ({applies})")
    if s["action"]:
        items.append(f"Action {inline(s['action'])}" + (f" with {inline(json.dumps(s['with'], default=str, ensure_ascii=False))}"
                                                       if s["with"] else ""))
    items += [f"Gate: {g}" for g in s["gates"]]
    if s["wait"]:
        items.append(f"Timer: wait {s['wait']} before the step is done")
    if s["timeout"]:
        items.append(f"Timeout {s['timeout']}" + (f", {s['retries']} retries" if s["retries"] else ""))
    if s["cwd"]:
        items.append(f"Working directory {inline(s['cwd'])}")
    if s["interactive"]:
        items.append("Interactive: the terminal is handed to the operator")
    if s["capture"]:
        items.append("Captures " + ", ".join(inline(k) for k in s["capture"]))
    if s.get("repeat"):
        items.append(f"Repeats {s['repeat']}")
    if s.get("ask"):
        items.append(f"Asks the operator for {inline(s['ask'])}")
    if s.get("on_failure"):
        items.append(f"If it fails, the run goes to {inline(s['on_failure'])}")
    for p in s["panes"]:
        until = f", done when a line matches {inline(p['until'])}" if p["until"] else ""
        every = f" every {p['every']}" if p["every"] else ""
        items.append(f"Pane {p['number']} “{p['title']}”: {p['kind']} {inline(p['source'])}{every}{until}")
    if not rec and s.get("expected"):
        items.append(_expected_step(s["expected"]))
    return items


def _execution(s: dict, x: dict, out: TextIO) -> None:
    if s["checks"]:
        last: dict[int, dict] = {}
        for t in x["ticks"]:
            last[t["index"]] = t
        out.write("Criteria (ticked = true):\n\n" if s["decide"] else "Checks:\n\n")
        for i, label in enumerate(s["checks"]):
            t = last.get(i)
            if t and t["checked"]:
                early = (f" **— ticked {fmt_duration(t['early'])} before the wait was over**"
                         if t["early"] is not None else "")
                out.write(f"- {TICKED} {label} — ticked by {t['actor']} at {fmt_clock(t['ts'])}{early}\n")
            else:
                out.write(f"- {UNTICKED} {label} — not ticked\n")
        for t in x["ticks"]:
            if not t["checked"]:
                out.write(f"- unticked “{t['label']}” by {t['actor']} at {fmt_clock(t['ts'])}\n")
        out.write("\n")
    if x["sign_offs"]:
        out.write("Signed off (four eyes):\n\n")
        for so in x["sign_offs"]:
            out.write(f"- {so['user']} at {fmt_clock(so['ts'])}, for {inline(so['command'])}\n")
        out.write("\n")
    if x["reason"] and x["status"] in ("skipped", "done", "failed") and not x["attempts"]:
        by = f" by {x['settled_by']}" if x["settled_by"] else ""
        out.write(f"{x['status'].capitalize()}{by}: {x['reason']}\n\n")
    if x["attempts"]:
        table(out, ["Attempt", "Started by", "Started", "Duration", "Exit code", "Result"],
              [[a["attempt"], a["started_by"], fmt_clock(a["started"]), fmt_duration(a["duration"]),
                "" if a["exit_code"] is None else a["exit_code"],
                (a["status"] or ("running" if a["finished"] is None else "")) + (f": {a['error']}" if a["error"] else "")]
               for a in x["attempts"]])
    items = []
    for t in x["timers"]:
        exp = f", over at {fmt_clock(t['expired'])}" if t["expired"] else ", not over"
        what = "Wait" if t["timer"] == "wait" else "Gate"
        items.append(f"{what}: from {fmt_clock(t['started'])} to {fmt_clock(t['deadline'])}{exp}")
    for p in x["panes"]:
        items.append(f"Pane {p['pane']} “{p['title']}” {p['how']} at {fmt_clock(p['ts'])}: {inline(p['line'] or '-')}")
    if x["decision"]:
        d = x["decision"]
        goto = f", went to {inline(d['goto'])}" if d["goto"] else ""
        items.append(f"**Decision** by {d['actor']} at {fmt_clock(d['ts'])}: “{d['label'] or d['option']}”{goto}"
                     + (f". Reason: {d['reason']}" if d["reason"] else ""))
    for dv in x["deviations"]:
        items.append(f"**Deviation** by {dv['actor']} at {fmt_clock(dv['ts'])}: {dv['what']}"
                     + (f". Resolved: {dv['resolution']}" if dv["resolution"] else ""))
    for n in x["notes"]:
        items.append(f"Note by {n['actor']} at {fmt_clock(n['ts'])}: {n['text']}")
    out.write("".join(f"- {i}\n" for i in items) + ("\n" if items else ""))
    for a in x["attempts"]:
        if a["captured"]:
            table(out, ["Captured variable", "Value"], [[k, _value(v)] for k, v in a["captured"].items()])
        if a.get("command") and a["command"].strip() != s["command"].strip():
            out.write(f"Command as run (attempt {a['attempt']}):\n\n")
            fence(out, a["command"].rstrip("\n").splitlines(), "bash")
        for o in a["output"]:
            what = (f"last {o['shown_lines']} of {o['total_lines']} lines" if o["trimmed"]
                    else f"{o['total_lines']} line{'s' if o['total_lines'] != 1 else ''}")
            out.write(f"{o['label']}, attempt {a['attempt']} ({what}):\n\n")
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


def _who(x: dict) -> str:
    """The people who acted on a step (started, ticked, decided, skipped or marked it); "-" for the engine."""
    who = [a["started_by"] for a in x["attempts"]] + [t["actor"] for t in x["ticks"]]
    who += [x["decision"]["actor"]] if x["decision"] else []
    who += [x["settled_by"]] if x["settled_by"] else []
    people = [w for w in dict.fromkeys(who) if w not in ("engine", "auto")]
    return ", ".join(people) or "-"


# ---- the short form, for a Jira description -------------------------------------------------------
def write_summary(doc: dict, out: TextIO, limit: int = JIRA_LIMIT) -> None:
    """The facts, the outcome, every deviation, the people and one line per step, cut to fit `limit`
    characters (a Jira description): what does not fit is counted, never silently dropped."""
    rec = doc["kind"] == "record"
    head = io.StringIO()
    head.write(title_line(doc, summary=True))
    if rec:
        _rehearsal_note(doc, head)
    table(head, ["Item", "Value"], facts(doc))
    if rec:
        _outcome(doc, head)
    else:
        _timing(doc, head)
    tail = io.StringIO()
    tail.write("Full " + ("record" if rec else "plan") + ": `deploytui " + (f"export {doc['run']['id']}" if rec else
                                                                           f"plan {doc['runbook']['path']}")
               + " --format html` (or `--format pdf`).\n")
    steps = [s for g in doc["sections"] + doc["rollback"] for s in g["steps"]
             if not rec or s["execution"]["status"] != "not on this run's path"]
    budget = limit - len(head.getvalue()) - len(tail.getvalue()) - 200
    body = io.StringIO()
    if rec:
        for n in range(len(doc["deviations"]), -1, -1):  # every deviation that fits, the rest counted
            trial = io.StringIO()
            _deviations({**doc, "deviations": doc["deviations"]}, trial, limit=n)
            if len(trial.getvalue()) <= budget // 2 or n == 0:
                body.write(trial.getvalue())
                break
        _people(doc, body)
    rows = []
    for s in steps:
        if rec:
            x = s["execution"]
            a = x["attempts"][-1] if x["attempts"] else None
            rows.append([s["number"], s["title"], x["status"], _who(x),
                         fmt_clock(a["started"]) if a else "", fmt_duration(a["duration"]) if a else ""])
        else:
            rows.append([s["number"], s["title"], "rollback" if s["section"] in {g["id"] for g in doc["rollback"]}
                         else "", _expected_step(s["expected"]).removeprefix("Usually takes ")])
    head_row = ["#", "Step", "Status", "By", "Started", "Took"] if rec else ["#", "Step", "Section", "Usually takes"]
    out.write(head.getvalue() + body.getvalue() + "## Steps\n\n")
    room = budget - len(body.getvalue())
    for n in range(len(rows), -1, -1):
        trial = io.StringIO()
        table(trial, head_row, rows[:n])
        if len(trial.getvalue()) <= room or n == 0:
            out.write(trial.getvalue())
            if n < len(rows):
                out.write(f"… and {len(rows) - n} more steps in the full {'record' if rec else 'plan'}.\n\n")
            break
    out.write(tail.getvalue())
