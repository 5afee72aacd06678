"""Deploy plans (before) and deploy records (after) for change-advisory-board review.

    plan(book, vars=None, fmt="md") -> str
    record(journal, run_id, fmt="md", full_output=False) -> str
    write_record(journal, run_id, out, fmt="md", full_output=False)   # streams into a text file

Both build one plain document (dicts and lists, the JSON export as it is; see docs/export-schema.md)
and hand it to a renderer (export_md, export_html, or the streaming JSON writer here). Command output
is never held whole: each attempt's output is a generator over the journal's chunks, redacted line by
line as it is written. Every other string is redacted once, before rendering."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from markupsafe import Markup

from ..errors import RunbookError, UserError
from ..events import kinds as ev
from ..events.state import fold
from ..journal.store import Journal
from ..runbook.model import Runbook, Step
from ..runbook.templates import TemplateProblem, builtins, evaluate, referenced_names, render, render_value
from ..text.redact import MASK, MIN_SECRET_LEN, PATTERNS, Redactor

SCHEMA_VERSION = 1
FORMATS = ("md", "html", "json")
TAIL_LINES = 40
OUTCOME_WORDS = {"succeeded": "Succeeded", "completed_on_demand": "Completed through an on-demand section",
                 "aborted": "Aborted"}
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# ---- public API ------------------------------------------------------------------------------
def plan(book: Runbook, vars: dict[str, Any] | None = None, fmt: str = "md", *,
         secrets: Iterable[str] = ()) -> str:
    """The deploy plan of `book` with the variables known so far (`--var name=value`), as text."""
    out = io.StringIO()
    write_plan(book, out, vars, fmt, secrets=secrets)
    return out.getvalue()


def write_plan(book: Runbook, out: TextIO, vars: dict[str, Any] | None = None, fmt: str = "md", *,
               secrets: Iterable[str] = ()) -> None:
    _check_fmt(fmt)
    given = dict(vars or {})
    known = [str(given[n]) for n, v in book.vars.items() if v.secret and n in given]
    known += [os.environ[v.from_env] for v in book.vars.values() if v.secret and v.from_env
              and os.environ.get(v.from_env)]
    redactor = Redactor(list(secrets) + known)
    doc = redactor.value(plan_document(book, given))
    _render(doc, fmt, out)


def record(journal: Journal, run_id: str, fmt: str = "md", full_output: bool = False, *,
           secrets: Iterable[str] = ()) -> str:
    """The deploy record of run `run_id` (a unique prefix will do), as text."""
    out = io.StringIO()
    write_record(journal, run_id, out, fmt, full_output, secrets=secrets)
    return out.getvalue()


def write_record(journal: Journal, run_id: str, out: TextIO, fmt: str = "md", full_output: bool = False, *,
                 secrets: Iterable[str] = ()) -> None:
    """Like `record`, written into `out` as it goes (use this for --full-output into a file)."""
    _check_fmt(fmt)
    doc, redactor = record_document(journal, run_id, full_output, secrets=secrets)
    _render(doc, fmt, out)


def _check_fmt(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r} (use one of: {', '.join(FORMATS)})")


def _render(doc: dict, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        write_json(doc, out)
        out.write("\n")
    elif fmt == "md":
        from .export_md import write_md

        write_md(doc, out)
    else:
        from .export_html import write_html

        write_html(doc, out)


# ---- formatting helpers shared by the renderers ------------------------------------------------
def fmt_time(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(ts))


def fmt_clock(ts: float | None) -> str:
    return "" if ts is None else time.strftime("%H:%M:%S", time.localtime(ts))


def rehearsal_text(run: dict) -> str:
    """What a rehearsal's record says about its world: the faults injected and how it was sealed."""
    faults = ", ".join(run.get("faults") or []) or "none"
    return f"faults injected: {faults}; seal: {run.get('seal') or 'not recorded'}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def schedule_text(schedule: dict | None) -> str:
    if not schedule:
        return "no schedule declared"
    parts = []
    if schedule.get("days"):
        parts.append("usual days " + ", ".join(schedule["days"]))
    if schedule.get("avoid"):
        parts.append("never on " + ", ".join(schedule["avoid"]) + " without an override")
    if schedule.get("holidays"):
        parts.append(f"skips {schedule['holidays']} public holidays")
    w = schedule.get("window")
    if w:
        parts.append(f"window {w['start']}-{w['end']} {w['tz']} (hard deadline {w['end']})")
    return "; ".join(parts) or "no constraints"


def write_json(value: Any, out: TextIO, indent: int = 0) -> None:
    """json.dump that also writes generators as arrays, item by item, never building them in memory."""
    pad, inner = "\n" + "  " * indent, "\n" + "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            out.write("{}")
            return
        out.write("{")
        for i, (k, v) in enumerate(value.items()):
            out.write(("," if i else "") + inner + json.dumps(str(k)) + ": ")
            write_json(v, out, indent + 1)
        out.write(pad + "}")
    elif isinstance(value, list | tuple | Iterator):
        first = True
        out.write("[")
        for v in value:
            out.write(("" if first else ",") + inner)
            write_json(v, out, indent + 1)
            first = False
        out.write("]" if first else pad + "]")
    else:
        out.write(json.dumps(value, default=str, ensure_ascii=False))


def clean_line(line: str) -> str:
    """A line of terminal output as text: colours removed, carriage-return redraws collapsed."""
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    line = line.rstrip("\r")
    if "\r" in line:
        line = line.rsplit("\r", 1)[-1]
    return _CONTROL.sub("", line)


# ---- the plan ----------------------------------------------------------------------------------
def known_vars(book: Runbook, given: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    """Variables for rendering (builtins, given values, defaults that render) and their table rows.
    Secret values are never placed in the rendering dict: commands show `{{ name }}` instead."""
    values: dict[str, Any] = dict(builtins())
    rows = []
    for name, var in book.vars.items():
        value, known, origin = None, False, ""
        if name in given:
            value, known, origin = given[name], True, "given"
            if var.default is not None and str(value) == resolve(var.default, values)[0]:
                origin = "default"
        elif var.from_env:
            if os.environ.get(var.from_env):
                value, known, origin = os.environ[var.from_env], True, f"from ${var.from_env}"
        if not known and var.default is not None:
            try:
                value, known, origin = render(var.default, values), True, "default"
            except TemplateProblem:
                value, origin = var.default, "default (resolved at run time)"
        if known and not var.secret:
            values[name] = value
        rows.append({"name": name, "value": MASK if var.secret and known else (value if value is not None else ""),
                     "known": known, "secret": var.secret, "origin": origin or "asked at run time",
                     "prompt": var.prompt or var.description or ""})
    for name, value in given.items():
        if name not in book.vars:
            values[name] = value
    return values, rows


def resolve(text: str | None, values: dict[str, Any], shell: bool = False) -> tuple[str, bool]:
    """Render a template as far as the known variables allow: unknown ones stay `{{ name }}`.
    Returns the text and whether it is fully resolved."""
    if text is None:
        return "", True
    if "{" not in text:
        return text, True
    try:
        return render(text, values, shell=shell), True
    except TemplateProblem:
        pass
    try:
        filler = {n: Markup("{{ " + n + " }}") for n in referenced_names(text) if n not in values}
        return render(text, {**values, **filler}, shell=shell), False
    except Exception:
        return text, False


def _text(text: str, values: dict[str, Any]) -> str:
    """Prose (titles, bodies, labels) rendered where the variables allow, never shell-quoted."""
    return resolve(text, values)[0]


def _resolve_value(value: Any, values: dict[str, Any]) -> Any:
    try:
        return render_value(value, values)
    except TemplateProblem:
        if isinstance(value, dict):
            return {k: _resolve_value(v, values) for k, v in value.items()}
        if isinstance(value, list):
            return [_resolve_value(v, values) for v in value]
        return resolve(value, values)[0] if isinstance(value, str) else value


def _duration_text(value: str | int | None) -> str:
    if value is None:
        return ""
    return f"{value}s" if isinstance(value, int) else str(value)


def step_document(book: Runbook, step: Step, number: int, values: dict[str, Any]) -> dict:
    command, resolved = resolve(step.run, values, shell=True) if step.run else ("", True)
    gates = []
    if step.not_before:
        nb = step.not_before
        if nb.at:
            gates.append(f"not before {resolve(nb.at, values)[0]}")
        if nb.step:
            gates.append(f"not before {_duration_text(nb.wait) or '0s'} after step '{nb.step}' finished")
        elif nb.wait:
            gates.append(f"not before {_duration_text(nb.wait)} after the run reaches it")
    if step.danger:
        gates.append("dangerous: the operator types the environment name to run it")
    if step.auto:
        gates.append("runs without a person (auto)")
    condition = None
    if step.when:
        try:
            applies: bool | None = bool(evaluate(step.when, values))
        except Exception:
            applies = None
        condition = {"expression": step.when, "applies": applies}
    panes = []
    for k, pane in enumerate(step.panes):
        kind = "tail" if pane.tail else "watch" if pane.watch else "action"
        source = pane.tail or pane.watch or pane.uses or ""
        if kind != "action":
            source = resolve(source, values, shell=True)[0]
        panes.append({"title": pane.title or f"pane {k + 1}", "kind": kind, "source": source,
                      "with": _resolve_value(pane.with_, values), "every": _duration_text(pane.every),
                      "until": pane.until or ""})
    decide = None
    if step.decide:
        decide = {"question": _text(step.decide.question, values),
                  "options": [{"label": _text(o.label, values), "goto": o.goto,
                               "description": _text(o.description, values) if o.description else None}
                              for o in step.decide.options]}
    return {
        "number": number, "id": step.id, "title": _text(step.title, values), "section": step.section,
        "body": _text(step.body or "", values),
        "condition": condition, "command": command, "command_resolved": resolved,
        "action": step.uses, "with": _resolve_value(step.with_, values) if step.uses else {},
        "cwd": _text(step.cwd, values) if step.cwd else None, "env": {k: resolve(v, values)[0] for k, v in step.env.items()},
        "gates": gates, "wait": _duration_text(step.wait), "timeout": _duration_text(step.timeout),
        "retries": step.retries, "checks": [_text(c, values) for c in step.checks], "decide": decide, "capture": dict(step.capture),
        "panes": panes, "interactive": step.interactive, "danger": step.danger, "auto": step.auto,
    }


def _group(book: Runbook, steps: list[Step], values: dict[str, Any], numbers: dict[str, int]) -> list[dict]:
    groups: list[dict] = []
    for step in steps:
        sec_id = step.section or ""
        if not groups or groups[-1]["id"] != sec_id:
            sec = book.section(step.section)
            groups.append({"id": sec_id, "title": _text(sec.title if sec else (step.section or "Steps"), values),
                           "on_demand": bool(sec and sec.on_demand),
                           "body": _text((sec.body if sec else None) or "", values),
                           "entered_from": [], "steps": []})
        groups[-1]["steps"].append(step_document(book, step, numbers[step.id], values))
    return groups


def plan_document(book: Runbook, given: dict[str, Any] | None = None, *,
                  values: dict[str, Any] | None = None, var_rows: list[dict] | None = None) -> dict:
    given = dict(given or {})
    if values is None or var_rows is None:
        values, var_rows = known_vars(book, given)
    h = book.runbook
    numbers = {s.id: i for i, s in enumerate(book.steps, start=1)}
    main = _group(book, book.main_steps(), values, numbers)
    rollback = _group(book, [s for s in book.steps if book.is_on_demand(s)], values, numbers)
    for sec in rollback:
        for step in book.steps:
            for opt in step.decide.options if step.decide else []:
                target = opt.goto
                if target and (target == sec["id"] or (target in numbers and book.step(target).section == sec["id"])):
                    sec["entered_from"].append({"step": step.id, "option": opt.label})
    pairs = given.get("pairs") or []
    if isinstance(pairs, str):
        pairs = [p.strip() for p in pairs.split(",") if p.strip()]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "plan",
        "generated": time.time(),
        "runbook": {"id": h.id, "title": _text(h.title, values), "source": h.source, "owner": h.owner,
                    "description": _text(h.description or "", values), "path": book.path, "sha256": book.sha256},
        "environment": resolve(h.environment, values)[0],
        "release": resolve(h.release, values)[0],
        "schedule": book.schedule.model_dump() if book.schedule else None,
        "people": {"release_manager": str(given.get("release_manager") or h.owner or ""),
                   "pairs": list(pairs), "approvers": list(h.approvers)},
        "vars": var_rows,
        "changes": change_summary(values),
        "risks": [_text(r, values) for r in h.risks],
        "sections": main,
        "rollback": rollback,
        "approval": {"approvers": list(h.approvers)},
    }


# ---- change summary (optional) ---------------------------------------------------------------
CHANGELOG_LINE = re.compile(r"^\s*changelog:\s*(.+)$", re.I | re.M)


def change_summary(values: dict[str, Any], limit: int = 200) -> dict | None:
    """Commits between production and the release when the variables name a local git `repo`:
    `base` (or `prod_ref`) is what production runs, `head` (or `release_ref`, `git_sha`) the release."""
    repo_path = values.get("repo")
    if not repo_path or not isinstance(repo_path, str) or not Path(repo_path).is_dir():
        return None
    base = values.get("base") or values.get("prod_ref")
    head = values.get("head") or values.get("release_ref") or values.get("git_sha") or "HEAD"
    summary: dict[str, Any] = {"repo": repo_path, "base": base, "head": head, "commits": [], "error": None}
    try:
        import git

        repo = git.Repo(repo_path)
        rev = f"{base}..{head}" if base else head
        for c in repo.iter_commits(rev, max_count=limit):
            msg = c.message if isinstance(c.message, str) else c.message.decode(errors="replace")
            summary["commits"].append({
                "sha": c.hexsha[:10], "author": c.author.name, "date": c.committed_date,
                "subject": msg.strip().splitlines()[0] if msg.strip() else "",
                "changelog": [m.strip() for m in CHANGELOG_LINE.findall(msg)],
            })
    except Exception as e:  # a missing ref or a broken repo is reported in the plan, not fatal
        summary["error"] = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return summary


# ---- the record ------------------------------------------------------------------------------
def _deviation_text(kind: str, d: dict) -> str:
    reason = d.get("reason") or ""
    if kind == ev.SKIPPED:
        return "skipped"
    if kind == ev.OVERRIDE:
        return f"override: {d.get('what', '')}"
    if kind == ev.RERUN:
        return "re-run"
    if kind == ev.MARKED:
        return f"marked {d.get('status', '')} by hand"
    if kind == ev.STEP_INTERRUPTED:
        return f"interrupted (attempt {d.get('attempt', '?')} was running when the run was reopened)"
    if kind == ev.JUMP:
        return f"jumped to '{d.get('target', '')}'"
    if kind == ev.LOCK_BROKEN:
        return f"broke the deploy lock held by {d.get('holder', '?')}"
    if kind == ev.RUNBOOK_CHANGED:
        return f"runbook file changed ({str(d.get('old_sha', ''))[:12]} -> {str(d.get('new_sha', ''))[:12]})"
    if kind == ev.DEADLINE_PASSED:
        return "deploy window deadline passed"
    return kind + (f": {reason}" if reason else "")


def _full_lines(journal: Journal, run_id: str, step: str, attempt: int, stream: str,
                scrub) -> Iterator[str]:
    rest = ""
    for chunk in journal.chunks(run_id, step, attempt):
        if chunk.stream != stream:
            continue
        parts = (rest + chunk.data).split("\n")
        rest = parts.pop()
        for line in parts:
            yield scrub(clean_line(line))
    if rest:
        yield scrub(clean_line(rest))


def _output(journal: Journal, run_id: str, step: str, attempt: int, full: bool, scrub) -> list[dict]:
    outs = []
    for stream, total in journal.streams(run_id, step, attempt):
        if full:
            lines: Any = _full_lines(journal, run_id, step, attempt, stream, scrub)
            shown = total
        else:
            lines = [scrub(clean_line(x)) for x in journal.tail(run_id, step, attempt, TAIL_LINES, stream)[0]]
            shown = len(lines)
        outs.append({"stream": stream, "total_lines": total, "shown_lines": shown,
                     "trimmed": shown < total, "lines": lines})
    return outs


def record_document(journal: Journal, run_id: str, full_output: bool = False, *,
                    secrets: Iterable[str] = ()) -> tuple[dict, Redactor]:
    from ..runbook.loader import parse

    row = journal.run(run_id)
    run_id = row.id
    try:
        book = parse(row.runbook_text or "", row.path or f"run {run_id}")
    except RunbookError as e:
        raise UserError(f"run {run_id}: its runbook snapshot no longer loads: {e.problems[0]}") from None
    events = journal.events(run_id)
    state = fold(book, events, run_id)

    # Secrets: values the caller knows, any secret variable value that slipped through unmasked,
    # the exporting environment's *TOKEN*/*SECRET*/*PASSWORD* values, and the known token shapes.
    all_vars = {**row.vars, **state.vars}
    leaked = [str(all_vars[n]) for n, v in book.vars.items() if v.secret and all_vars.get(n) not in (None, MASK)]
    leaked += [os.environ[v.from_env] for v in book.vars.values() if v.secret and v.from_env
               and os.environ.get(v.from_env)]
    redactor = Redactor(list(secrets) + leaked)

    values: dict[str, Any] = dict(builtins(now=None, operator=row.operator))
    var_rows = []
    for name, var in book.vars.items():
        value = all_vars.get(name)
        known = value is not None
        if known and not var.secret:
            values[name] = value
        var_rows.append({"name": name, "value": MASK if var.secret and known else (value if known else ""),
                         "known": known, "secret": var.secret, "origin": "run" if known else "not set",
                         "prompt": var.prompt or var.description or ""})
    for name, value in all_vars.items():
        if name not in book.vars:
            values.setdefault(name, value)
            if not any(r["name"] == name for r in var_rows):
                var_rows.append({"name": name, "value": value, "known": True, "secret": False,
                                 "origin": "captured", "prompt": ""})
    doc = plan_document(book, {"release_manager": row.operator, **row.vars}, values=values, var_rows=var_rows)
    doc["kind"] = "record"
    doc["environment"] = row.environment or doc["environment"]
    doc["release"] = row.release or doc["release"]

    # walk the events once, collecting per step what happened
    per: dict[str, dict] = {}

    def step_rec(sid: str) -> dict:
        if sid not in per:
            per[sid] = {"attempts": [], "ticks": [], "timers": [], "decision": None, "panes": [],
                        "deviations": [], "notes": []}
        return per[sid]

    deviations, notes, actors = [], [], []
    interrupted: dict[str, dict] = {}
    changes = []
    info: dict[str, Any] = {}
    schedule_check = None
    finished: dict[str, Any] = {}
    for e in events:
        d, k = e.data, e.kind
        if e.actor not in ("engine", "") and e.actor not in actors:
            actors.append(e.actor)
        s = step_rec(e.step) if e.step else None
        if k == ev.RUN_STARTED:
            info = d
        elif k == ev.SCHEDULE_CHECKED:
            detail = d.get("detail") or "; ".join(d.get("problems") or [])
            schedule_check = {"verdict": d.get("verdict"), "detail": detail, "deadline": d.get("deadline")}
        elif k == ev.STEP_STARTED and s is not None:
            s["attempts"].append({"attempt": d.get("attempt", len(s["attempts"]) + 1), "started": e.ts,
                                  "started_by": e.actor, "command": d.get("command"), "action": d.get("action"),
                                  "with": d.get("with"), "finished": None, "duration": None, "exit_code": None,
                                  "ok": None, "error": None, "captured": {}, "status": None, "retries": []})
        elif k == ev.COMMAND_FINISHED and s is not None and s["attempts"]:
            a = s["attempts"][-1]
            a.update(exit_code=d.get("exit_code"), ok=d.get("ok"), error=d.get("error"),
                     captured=dict(d.get("captured") or {}), command_duration=d.get("duration"))
        elif k == ev.RETRIED and s is not None and s["attempts"]:
            s["attempts"][-1]["retries"].append({"ts": e.ts, "attempt": d.get("attempt"), "reason": d.get("reason")})
        elif k == ev.STEP_FINISHED and s is not None:
            if s["attempts"]:
                a = s["attempts"][-1]
                a.update(finished=e.ts, status=d.get("status"),
                         duration=d.get("duration") if d.get("duration") is not None else e.ts - a["started"])
                if a["exit_code"] is None:
                    a["exit_code"] = d.get("exit_code")
        elif k == ev.CHECK_TOGGLED and s is not None:
            s["ticks"].append({"ts": e.ts, "actor": e.actor, "index": d.get("index"), "label": d.get("label"),
                               "checked": bool(d.get("checked"))})
        elif k == ev.TIMER_STARTED and s is not None:
            s["timers"].append({"timer": d.get("timer"), "started": e.ts, "deadline": d.get("deadline"),
                                "seconds": d.get("seconds"), "expired": None})
        elif k == ev.TIMER_EXPIRED and s is not None:
            for t in reversed(s["timers"]):
                if t["timer"] == d.get("timer") and t["expired"] is None:
                    t["expired"] = e.ts
                    break
        elif k in (ev.PANE_MATCHED, ev.PANE_ENDED) and s is not None:
            s["panes"].append({"ts": e.ts, "actor": e.actor, "pane": d.get("pane"),
                               "how": "matched" if k == ev.PANE_MATCHED else "ended by the operator",
                               "line": d.get("line") or d.get("reason") or ""})
        elif k == ev.DECISION and s is not None:
            s["decision"] = {"ts": e.ts, "actor": e.actor, "option": d.get("option"), "label": d.get("label"),
                             "goto": d.get("goto"), "reason": d.get("reason") or "",
                             "criteria": list(d.get("criteria") or [])}
        elif k == ev.NOTE:
            note = {"ts": e.ts, "actor": e.actor, "step": e.step, "text": d.get("text", "")}
            notes.append(note)
            if s is not None:
                s["notes"].append(note)
        elif k == ev.RUNBOOK_CHANGED:
            changes.append({"ts": e.ts, "old_sha": d.get("old_sha"), "new_sha": d.get("new_sha"),
                            "diff": d.get("diff") or ""})
        elif k == ev.RUN_FINISHED:
            finished = {"outcome": d.get("outcome"), "reason": d.get("reason") or "", "section": d.get("section")}

        if e.step and e.step in interrupted and k in (ev.RERUN, ev.MARKED, ev.SKIPPED, ev.STEP_STARTED):
            dev = interrupted.pop(e.step)
            how = {ev.RERUN: "re-run", ev.SKIPPED: "skipped", ev.STEP_STARTED: "started again"}.get(
                k, f"marked {d.get('status', '')}")
            dev["resolution"] = f"{how} by {e.actor} at {fmt_clock(e.ts)}" + (
                f": {d['reason']}" if d.get("reason") else "")
        if k in ev.DEVIATIONS or k == ev.DEADLINE_PASSED:
            dev = {"seq": e.seq, "ts": e.ts, "kind": k, "step": e.step, "actor": e.actor,
                   "what": _deviation_text(k, d), "reason": d.get("reason") or "", "resolution": None}
            deviations.append(dev)
            if s is not None:
                s["deviations"].append(dev)
            if k == ev.STEP_INTERRUPTED and e.step:
                interrupted[e.step] = dev

    for dev in interrupted.values():
        dev["resolution"] = "not resolved when the record was exported"

    # attach execution to each step of the plan
    scrub = quick_text(redactor)
    on_path = set(state.path)
    for group in doc["sections"] + doc["rollback"]:
        if group["on_demand"]:
            group["entered"] = group["id"] in state.entered
        for sd in group["steps"]:
            sid = sd["id"]
            r = per.get(sid) or step_rec(sid)
            st = state.steps.get(sid)
            status = state.status(sid) if st else "pending"
            if status == "pending" and sid not in on_path:
                status = "not on this run's path"
            elif status == "pending" and state.outcome:
                status = "not reached"
            for a in r["attempts"]:
                a["output"] = _output(journal, run_id, sid, a["attempt"], full_output, scrub)
            r["status"] = status
            r["reason"] = st.reason if st else None
            sd["execution"] = r

    started = row.started
    ended = row.finished or (events[-1].ts if events else None)
    current_sha = None
    if row.path and Path(row.path).is_file():
        try:
            current_sha = hashlib.sha256(Path(row.path).read_bytes()).hexdigest()
        except OSError:
            current_sha = None
    others = [a for a in actors if a != row.operator]
    doc["people"]["release_manager"] = row.operator
    doc["people"]["pairs"] = list(dict.fromkeys(doc["people"]["pairs"] + others))
    doc["run"] = {
        "id": run_id, "operator": row.operator, "host": row.host, "tty": row.tty, "tmux": row.tmux,
        "rehearsal": row.rehearsal, "started": started, "finished": row.finished,
        "duration": (ended - started) if ended and started else None,
        "outcome": finished.get("outcome") or row.outcome or "not finished",
        "outcome_reason": finished.get("reason", ""), "outcome_section": finished.get("section"),
        "sections_entered": list(state.entered),
        "sha256": row.sha256 or book.sha256,
        "runbook_changed": bool(changes), "runbook_changes": changes,
        "file_now_differs": bool(current_sha and current_sha != (row.sha256 or book.sha256)),
        "schedule_check": schedule_check, "events": len(events),
        "overrides": sorted(state.overrides), "deadline_passed": state.deadline_passed,
        "started_info": {k: info.get(k) for k in ("operator", "host", "tty", "tmux") if info.get(k)},
        "faults": list(info.get("faults") or []), "seal": info.get("seal") or "",  # a rehearsal's world
    }
    doc["deviations"] = deviations
    doc["notes"] = notes
    return _redact_doc(doc, scrub), redactor


def quick_text(redactor: Redactor):
    """`redactor.text`, with one combined search first so the many strings holding no secret
    (labels, names, notes) cost one regex scan instead of one substitution per pattern."""
    alts = []
    for rx in PATTERNS:
        pat = rx.pattern
        alts.append(f"(?i:{pat[4:]})" if pat.startswith("(?i)") else f"(?:{pat})")
    if redactor._rx is not None:
        alts.append(f"(?:{redactor._rx.pattern})")
    probe = re.compile("|".join(alts))

    def text(s: str) -> str:
        return redactor.text(s) if len(s) >= MIN_SECRET_LEN and probe.search(s) else s

    return text


def _redact_doc(doc: Any, text) -> Any:
    """Redact every string except the output line generators (they redact as they go)."""
    if isinstance(doc, str):
        return text(doc)
    if isinstance(doc, dict):
        return {k: (v if k == "lines" and not isinstance(v, list) else _redact_doc(v, text))
                for k, v in doc.items()}
    if isinstance(doc, list):
        return [_redact_doc(x, text) for x in doc]
    return doc
