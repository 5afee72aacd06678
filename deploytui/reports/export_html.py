"""One standalone HTML file for plans and records: inline CSS, no scripts, no external assets,
laid out for A4 print (steps do not split across pages where they fit on one)."""

from __future__ import annotations

import json
from html import escape
from typing import Any, TextIO

from .export import OUTCOME_WORDS, fmt_clock, fmt_duration, fmt_time, rehearsal_text, schedule_text

CSS = """
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font: 10.5pt/1.4 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #111; margin: 0 auto;
       max-width: 190mm; padding: 8mm 4mm; }
h1 { font-size: 17pt; margin: 0 0 4mm; border-bottom: 2px solid #222; padding-bottom: 2mm; }
h2 { font-size: 13.5pt; margin: 7mm 0 2mm; border-bottom: 1px solid #999; break-after: avoid; }
h3 { font-size: 12pt; margin: 5mm 0 2mm; break-after: avoid; }
h4 { font-size: 11pt; margin: 0 0 1.5mm; }
table { border-collapse: collapse; width: 100%; margin: 1.5mm 0 3mm; font-size: 9.5pt; }
th, td { border: 1px solid #bbb; padding: 1mm 1.6mm; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #eee; }
table.facts th { width: 32%; background: #f4f4f4; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 8.8pt; }
code { background: #f1f1f1; padding: 0 1mm; border-radius: 2px; overflow-wrap: anywhere; }
pre { background: #f6f6f6; border: 1px solid #ddd; border-left: 3px solid #888; padding: 1.5mm 2mm;
      margin: 1mm 0 2.5mm; white-space: pre-wrap; overflow-wrap: anywhere; }
pre.out { background: #fbfbf8; border-left-color: #b9b38a; }
.step { border: 1px solid #ccc; border-radius: 3px; padding: 2.5mm 3mm; margin: 0 0 3mm; break-inside: avoid; }
.step.long { break-inside: auto; }
.meta { color: #444; font-size: 9.5pt; margin: 0 0 1.5mm; }
ul { margin: 1mm 0 2mm; padding-left: 6mm; }
li { margin: 0.4mm 0; }
.badge { display: inline-block; font-size: 8.5pt; font-weight: bold; padding: 0.2mm 1.8mm; border-radius: 2mm;
         border: 1px solid #888; margin-left: 2mm; vertical-align: middle; text-transform: uppercase; }
.done { background: #dff3e0; border-color: #3a8a3f; color: #1d5a22; }
.failed, .aborted { background: #fde0de; border-color: #b3261e; color: #8a1c15; }
.skipped, .interrupted, .completed_on_demand { background: #fff1d6; border-color: #a86b00; color: #6e4600; }
.dev { background: #fff6e5; border-left: 3px solid #a86b00; padding: 1mm 2mm; margin: 1mm 0; }
.outcome { font-size: 12pt; padding: 2mm 3mm; border: 2px solid #555; margin: 2mm 0 3mm; }
.ondemand { border-left: 4px solid #a86b00; padding-left: 3mm; }
.check { font-family: "DejaVu Sans", Arial, sans-serif; }
.sign td { height: 11mm; }
.muted { color: #666; }
@media print { body { padding: 0; max-width: none; } a { color: inherit; text-decoration: none; } }
"""


_md = None


def prose(text: str) -> str:
    """A runbook body (Markdown) as HTML; raw HTML in it is escaped, never passed through."""
    global _md
    if _md is None:
        from markdown_it import MarkdownIt

        _md = MarkdownIt("commonmark", {"html": False}).enable("table")
    return _md.render(text)


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def code(value: Any) -> str:
    return f"<code>{e(value)}</code>"


def table(out: TextIO, head: list[str], rows: list[list[Any]], cls: str = "") -> None:
    """Cells are escaped here; pass pre-built HTML as a `Raw`."""
    out.write(f"<table class=\"{cls}\">" if cls else "<table>")
    if head:
        out.write("<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead>")
    out.write("<tbody>")
    for r in rows:
        out.write("<tr>" + "".join(f"<td>{c if isinstance(c, Raw) else e(c)}</td>" for c in r) + "</tr>")
    out.write("</tbody></table>\n")


class Raw(str):
    """HTML that is already escaped."""


def pre(out: TextIO, lines, cls: str = "") -> None:
    out.write(f"<pre class=\"{cls}\">" if cls else "<pre>")
    batch: list[str] = []
    for line in lines:
        batch.append(escape(line))
        if len(batch) >= 512:
            out.write("\n".join(batch) + "\n")
            batch = []
    out.write("\n".join(batch) + "</pre>\n")


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str)


def write_html(doc: dict, out: TextIO) -> None:
    rec = doc["kind"] == "record"
    rb, run = doc["runbook"], doc.get("run")
    kind = "record" if rec else "plan"
    out.write("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
              f"<title>Deploy {kind}: {e(rb['title'])}</title>"
              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
              f"<style>{CSS}</style></head><body>\n")
    out.write(f"<h1>Deploy {kind}: {e(rb['title'])}</h1>\n")
    rows: list[list[Any]] = [["Runbook", Raw(f"{e(rb['id'])} <span class=\"muted\">{e(rb['path'])}</span>")],
                             ["Environment", doc["environment"] or "(not set)"],
                             ["Release", doc["release"] or "(not set)"],
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
             ["Procedure", rb["source"] or "-"], ["Runbook sha256", Raw(code(rb["sha256"]))]]
    if rec:
        rows.append(["Runbook changed during the run",
                     Raw("<b>YES</b>, see Deviations") if run["runbook_changed"] else "no"])
        if run["file_now_differs"]:
            rows.append(["Runbook file now", "differs from the snapshot this run used"])
    else:
        rows.append(["Generated", fmt_time(doc["generated"])])
    table(out, [], rows, "facts")
    if rb["description"]:
        out.write(prose(rb["description"]))

    if rec:
        _outcome(doc, out)
    out.write("<h2>Variables</h2>\n")
    if doc["vars"]:
        table(out, ["Name", "Value", "Source"],
              [[Raw(code(v["name"])), _value(v["value"]) if v["known"] else "(not known yet)", v["origin"]]
               for v in doc["vars"]])
    else:
        out.write("<p>None.</p>\n")
    _changes(doc.get("changes"), out)
    out.write("<h2>Risks</h2>\n")
    out.write("<ul>" + "".join(f"<li>{e(r)}</li>" for r in doc["risks"]) + "</ul>\n" if doc["risks"]
              else "<p>None declared.</p>\n")
    out.write("<h2>Steps</h2>\n")
    for group in doc["sections"]:
        _group(group, out, rec)
    out.write("<h2>Rollback plan</h2>\n")
    if not doc["rollback"]:
        out.write("<p>The runbook declares no on-demand (rollback) section.</p>\n")
    for group in doc["rollback"]:
        _group(group, out, rec)
    if rec:
        out.write("<h2>Deviations</h2>\n")
        if doc["deviations"]:
            table(out, ["Time", "Step", "Who", "What", "Reason", "Resolution"],
                  [[fmt_time(d["ts"]), d["step"] or "-", d["actor"], d["what"], d["reason"], d["resolution"] or ""]
                   for d in doc["deviations"]])
        else:
            out.write("<p>None: the runbook was followed as written.</p>\n")
        out.write("<h2>Notes</h2>\n")
        if doc["notes"]:
            table(out, ["Time", "Who", "Step", "Note"],
                  [[fmt_time(n["ts"]), n["actor"], n["step"] or "-", n["text"]] for n in doc["notes"]])
        else:
            out.write("<p>None.</p>\n")
    _approval(doc, out, rec)
    out.write("</body></html>\n")


def _outcome(doc: dict, out: TextIO) -> None:
    run = doc["run"]
    out.write("<h2>Outcome</h2>\n")
    word = OUTCOME_WORDS.get(run["outcome"], run["outcome"])
    out.write(f"<div class=\"outcome {e(run['outcome'])}\"><b>{e(word)}</b>"
              + (f": {e(run['outcome_reason'])}" if run["outcome_reason"] else "") + "</div>\n<ul>")
    if run["sections_entered"]:
        out.write(f"<li>On-demand sections entered: {e(', '.join(run['sections_entered']))}</li>")
    if run["schedule_check"]:
        sc = run["schedule_check"]
        out.write(f"<li>Schedule check: {e(sc.get('verdict'))}"
                  + (f" ({e(sc['detail'])})" if sc.get("detail") else "") + "</li>")
    if run["deadline_passed"]:
        out.write("<li>The deploy window's deadline passed during the run.</li>")
    n = len(doc["deviations"])
    out.write(f"<li>{n} deviation{'s' if n != 1 else ''} from the runbook, {len(doc['notes'])} notes.</li></ul>\n")


def _changes(changes: dict | None, out: TextIO) -> None:
    if changes is None:
        return
    out.write("<h2>Change summary</h2>\n")
    rng = f"{changes['base']}..{changes['head']}" if changes["base"] else changes["head"]
    out.write(f"<p>Repository {code(changes['repo'])}, {code(rng)}.</p>\n")
    if changes["error"]:
        out.write(f"<p>Could not read the commits: {e(changes['error'])}</p>\n")
        return
    if not changes["commits"]:
        out.write("<p>No commits.</p>\n")
        return
    log = [line for c in changes["commits"] for line in c["changelog"]]
    if log:
        out.write("<p>Changelog:</p><ul>" + "".join(f"<li>{e(x)}</li>" for x in log) + "</ul>\n")
    table(out, ["Commit", "Author", "Date", "Subject"],
          [[Raw(code(c["sha"])), c["author"], fmt_time(c["date"])[:10], c["subject"]] for c in changes["commits"]])


def _group(group: dict, out: TextIO, rec: bool) -> None:
    cls = " class=\"ondemand\"" if group["on_demand"] else ""
    out.write(f"<section{cls}><h3>{e(group['title'])}" + (" (on demand)" if group["on_demand"] else "") + "</h3>\n")
    if group["on_demand"]:
        froms = ", ".join(f"step {code(f['step'])} option &ldquo;{e(f['option'])}&rdquo;" for f in group["entered_from"])
        out.write("<p class=\"meta\">" + ("Entered from " + froms + ". " if froms else "Entered by the operator. "))
        if rec:
            out.write("<b>Entered during this run.</b>" if group.get("entered") else "Not entered during this run.")
        out.write("</p>\n")
    if group["body"]:
        out.write(prose(group["body"]))
    for step in group["steps"]:
        _step(step, out, rec)
    out.write("</section>\n")


def _step(s: dict, out: TextIO, rec: bool) -> None:
    x = s.get("execution")
    long = rec and x and any(o["shown_lines"] > 60 for a in x["attempts"] for o in a["output"])
    out.write(f"<div class=\"step{' long' if long else ''}\" id=\"step-{e(s['id'])}\">")
    badge = ""
    if rec and x:
        badge = f"<span class=\"badge {e(x['status'].split()[0])}\">{e(x['status'])}</span>"
    out.write(f"<h4>{s['number']}. {e(s['title'])} <span class=\"muted\">{code(s['id'])}</span>{badge}</h4>\n")
    if s["body"]:
        out.write(prose(s["body"]))
    facts = []
    if s["condition"]:
        c = s["condition"]
        applies = {True: "applies", False: "does not apply", None: "decided at run time"}[c["applies"]]
        facts.append(f"Only when {code(c['expression'])} ({applies})")
    if s["action"]:
        facts.append(f"Action {code(s['action'])}"
                     + (f" with {code(json.dumps(s['with'], default=str))}" if s["with"] else ""))
    facts += [f"Gate: {e(g)}" for g in s["gates"]]
    if s["wait"]:
        facts.append(f"Timer: wait {e(s['wait'])} before the step is done")
    if s["timeout"]:
        facts.append(f"Timeout {e(s['timeout'])}" + (f", {s['retries']} retries" if s["retries"] else ""))
    if s["cwd"]:
        facts.append(f"Working directory {code(s['cwd'])}")
    if s["interactive"]:
        facts.append("Interactive: the terminal is handed to the operator")
    if s["capture"]:
        facts.append("Captures " + ", ".join(code(k) for k in s["capture"]))
    for p in s["panes"]:
        until = f", done when a line matches {code(p['until'])}" if p["until"] else ""
        every = f" every {e(p['every'])}" if p["every"] else ""
        facts.append(f"Live pane &ldquo;{e(p['title'])}&rdquo;: {e(p['kind'])} {code(p['source'])}{every}{until}")
    if facts:
        out.write("<ul>" + "".join(f"<li>{f}</li>" for f in facts) + "</ul>\n")
    if s["command"]:
        if not s["command_resolved"]:
            out.write("<p class=\"meta\">Command (<code>{{ name }}</code> is filled in at run time):</p>")
        pre(out, s["command"].rstrip("\n").splitlines())
    if s["decide"]:
        out.write(f"<p>Decision: <b>{e(s['decide']['question'])}</b></p><ul>")
        for o in s["decide"]["options"]:
            goto = f" &rarr; go to {code(o['goto'])}" if o["goto"] else " &rarr; continue"
            out.write(f"<li>{e(o['label'])}{goto}</li>")
        out.write("</ul>\n")
    if s["checks"] and s["decide"]:
        out.write("<p class=\"meta\">Criteria" + (" (ticked = true):" if rec else ":") + "</p>")
    if s["checks"] and not rec:
        out.write("<ul style=\"list-style:none;padding-left:2mm\">"
                  + "".join(f"<li class=\"check\">&#9744; {e(c)}</li>" for c in s["checks"]) + "</ul>\n")
    if rec and x:
        _execution(s, x, out)
    out.write("</div>\n")


def _execution(s: dict, x: dict, out: TextIO) -> None:
    if s["checks"]:
        last: dict[int, dict] = {}
        for t in x["ticks"]:
            last[t["index"]] = t
        out.write("<ul style=\"list-style:none;padding-left:2mm\">")
        for i, label in enumerate(s["checks"]):
            t = last.get(i)
            if t and t["checked"]:
                out.write(f"<li class=\"check\">&#9745; {e(label)} <span class=\"muted\">ticked by {e(t['actor'])}"
                          f" at {fmt_clock(t['ts'])}</span></li>")
            else:
                out.write(f"<li class=\"check\">&#9744; {e(label)} <span class=\"muted\">not ticked</span></li>")
        for t in x["ticks"]:
            if not t["checked"]:
                out.write(f"<li class=\"muted\">unticked &ldquo;{e(t['label'])}&rdquo; by {e(t['actor'])} at "
                          f"{fmt_clock(t['ts'])}</li>")
        out.write("</ul>\n")
    if x["reason"] and x["status"] in ("skipped", "done", "failed") and not x["attempts"]:
        out.write(f"<p>Reason: {e(x['reason'])}</p>\n")
    if x["attempts"]:
        table(out, ["Attempt", "Started by", "Started", "Duration", "Exit code", "Result"],
              [[a["attempt"], a["started_by"], fmt_time(a["started"]), fmt_duration(a["duration"]),
                "" if a["exit_code"] is None else a["exit_code"],
                (a["status"] or ("running" if a["finished"] is None else "")) + (f": {a['error']}" if a["error"] else "")]
               for a in x["attempts"]])
    items = []
    for t in x["timers"]:
        exp = f", expired {fmt_clock(t['expired'])}" if t["expired"] else ", not expired"
        items.append(f"Timer {e(t['timer'])}: started {fmt_clock(t['started'])}, runs to "
                     f"{fmt_clock(t['deadline'])}{exp}")
    for p in x["panes"]:
        items.append(f"Pane {e(p['pane'])} {e(p['how'])} at {fmt_clock(p['ts'])}: {code(p['line'])}")
    if x["decision"]:
        d = x["decision"]
        goto = f", went to {code(d['goto'])}" if d["goto"] else ""
        items.append(f"<b>Decision</b> by {e(d['actor'])} at {fmt_clock(d['ts'])}: "
                     f"&ldquo;{e(d['label'] or d['option'])}&rdquo;{goto}"
                     + (f". Reason: {e(d['reason'])}" if d["reason"] else ""))
    for n in x["notes"]:
        items.append(f"Note by {e(n['actor'])} at {fmt_clock(n['ts'])}: {e(n['text'])}")
    if items:
        out.write("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>\n")
    for dv in x["deviations"]:
        out.write(f"<div class=\"dev\"><b>Deviation</b> by {e(dv['actor'])} at {fmt_clock(dv['ts'])}: {e(dv['what'])}"
                  + (f". Reason: {e(dv['reason'])}" if dv["reason"] else "")
                  + (f". Resolved: {e(dv['resolution'])}" if dv["resolution"] else "") + "</div>\n")
    for a in x["attempts"]:
        if a["captured"]:
            table(out, ["Captured variable", "Value"], [[Raw(code(k)), _value(v)] for k, v in a["captured"].items()])
        if a.get("command") and a["command"].strip() != s["command"].strip():
            out.write(f"<p class=\"meta\">Command as run (attempt {a['attempt']}):</p>")
            pre(out, a["command"].rstrip("\n").splitlines())
        for o in a["output"]:
            what = (f"last {o['shown_lines']} of {o['total_lines']} lines" if o["trimmed"]
                    else f"{o['total_lines']} line{'s' if o['total_lines'] != 1 else ''}")
            out.write(f"<p class=\"meta\">Output, attempt {a['attempt']}, {e(o['stream'])} ({what}):</p>")
            pre(out, o["lines"], "out")


def _approval(doc: dict, out: TextIO, rec: bool) -> None:
    out.write("<section style=\"break-inside: avoid\"><h2>Approval</h2>\n")
    if rec:
        out.write("<p>Reviewed after the deploy. Signing confirms the record above was read.</p>\n")
    else:
        out.write("<p>CAB approves the change as planned above. Change reference: ______________</p>\n")
    rows = [["Release manager", doc["people"]["release_manager"], "", "", ""]]
    rows += [["Approver", name, "", "", ""] for name in doc["approval"]["approvers"]]
    rows += [["CAB", "", "", "", ""]]
    table(out, ["Role", "Name", "Decision", "Signature", "Date"], rows, "sign")
    out.write("</section>\n")
