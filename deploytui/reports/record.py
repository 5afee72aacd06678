"""The deploy record: the plan of the run's own runbook snapshot, with what happened attached to it.

Every fact comes from `events.state.fold`, the same fold the screen, a resume and a follower use; only
command output is read from the journal directly (it is not an event), streamed, never held whole."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import RunbookError, UserError
from ..events import kinds as ev
from ..events.describe import acts, describe, outcome_words
from ..events.state import ABANDONED, LEFT, RunState, fold
from ..journal.store import Journal
from ..runbook.model import Runbook
from ..runbook.templates import builtins, for_people
from ..text.clean import clean_line
from ..text.redact import MASK, Redactor
from .estimate import fmt_duration
from .plan import plan_document

TAIL_LINES = 40


def _chain(journal: Journal, run_id: str) -> dict:
    """The final hash of the run's event chain (journal/chain.py): `deploytui verify` holds a journal to it."""
    verdict = journal.verify(run_id)
    return {"final": verdict.final, "events": verdict.events, "intact": verdict.intact,
            "problem": verdict.problems[0] if verdict.problems else ""}


def record_document(journal: Journal, run_id: str, full_output: bool = False, *, secrets: Iterable[str] = (),
                    generated: float | None = None) -> tuple[dict, Redactor]:
    from ..runbook.loader import parse

    row = journal.run(run_id)
    run_id = row.id
    try:
        book = parse(row.runbook_text or "", row.path or f"run {run_id}")
    except RunbookError as e:
        raise UserError(f"run {run_id}: its runbook snapshot no longer loads: {e.problems[0]}") from None
    state = fold(book, journal.events(run_id), run_id)

    # Secrets: values the caller knows, any secret variable value that slipped through unmasked,
    # the exporting environment's *TOKEN*/*SECRET*/*PASSWORD* values, and the known token shapes.
    all_vars = {**row.vars, **state.vars}
    leaked = [str(all_vars[n]) for n, v in book.vars.items() if v.secret and all_vars.get(n) not in (None, MASK)]
    leaked += [os.environ[v.from_env] for v in book.vars.values() if v.secret and v.from_env
               and os.environ.get(v.from_env)]
    redactor = Redactor(list(secrets) + leaked)

    values, var_rows = _run_vars(book, row, all_vars)
    doc = plan_document(book, {"release_manager": row.operator, **row.vars}, values=values, var_rows=var_rows,
                        generated=generated)
    doc["kind"] = "record"
    doc["rehearsal"] = bool(row.rehearsal)
    doc["environment"] = row.environment or doc["environment"]
    doc["release"] = row.release or doc["release"]
    doc.pop("timing", None)

    titles = {s.id: for_people(s.title, values) for s in book.steps}
    title = lambda sid: titles.get(sid, sid)  # noqa: E731
    deviations = [_deviation(d.event, d.resolved_by, state, title) for d in state.deviations]
    deviations += [_early_tick(sid, t, title) for sid, st in state.steps.items() for t in st.ticks
                   if t.early is not None]
    deviations.sort(key=lambda d: (d["ts"], d["seq"]))

    scrub = redactor.text
    on_path = set(state.path)
    for group in doc["sections"] + doc["rollback"]:
        if group["on_demand"]:
            taken = [x for x in state.entries if x.section == group["id"]]
            group["entered"] = bool(taken)
            group["entered_from"] = [{"step": x.from_step, "number": _number(book, x.from_step),
                                      "title": title(x.from_step) if x.from_step else None,
                                      "option": x.decision, "how": "decision" if x.decision is not None else "jump",
                                      "actor": x.actor, "ts": x.ts, "reason": x.reason} for x in taken]
        for sd in group["steps"]:
            sd["execution"] = _execution(journal, state, book, sd, on_path, deviations, full_output, scrub)
            if sd["id"] in state.children:  # a repeated or recurring step: what each item (occurrence) did
                sd["items"] = [_item(journal, state, book, sd, kid, values, on_path, deviations, full_output, scrub)
                               for kid in state.children[sd["id"]]]

    ended = state.finished or row.finished or state.last_ts
    current_sha = None
    if row.path and Path(row.path).is_file():
        try:
            current_sha = hashlib.sha256(Path(row.path).read_bytes()).hexdigest()
        except OSError:
            current_sha = None
    acted = [{"name": who, "did": acts(events)} for who, events in state.people.items()]
    doc["people"]["release_manager"] = row.operator
    doc["people"]["pairs"] = list(dict.fromkeys(doc["people"]["pairs"] + [a["name"] for a in acted
                                                                          if a["name"] != row.operator]))
    doc["people"]["acted"] = acted
    outcome = state.outcome or row.outcome or "not finished"
    info = state.info
    doc["run"] = {
        "id": run_id, "operator": row.operator, "host": row.host, "tty": row.tty, "tmux": row.tmux,
        "rehearsal": bool(row.rehearsal), "faults": list(info.get("faults") or []), "seal": info.get("seal") or "",
        "time_scale": info.get("time_scale") or 1.0,
        "started": row.started, "finished": row.finished,
        "duration": (ended - row.started) if ended and row.started else None,
        "outcome": outcome, "outcome_words": outcome_words(state.outcome) if state.outcome else "not finished",
        "outcome_reason": state.outcome_reason or "", "outcome_section": state.outcome_section,
        "rollback": _rollback(state, book, title),
        "sections_entered": list(state.entered),
        "sha256": row.sha256 or book.sha256,
        "runbook_changed": bool(state.runbook_changes),
        "runbook_changes": [{"ts": e.ts, "old_sha": p.old_sha, "new_sha": p.new_sha, "diff": p.diff}
                            for e in state.runbook_changes if isinstance(p := e.payload, ev.RunbookChanged)],
        "file_now_differs": bool(current_sha and current_sha != (row.sha256 or book.sha256)),
        "schedule_check": _schedule(state), "events": state.last_seq,
        "chain": _chain(journal, run_id),
        "overrides": sorted(state.overrides), "deadline_passed": state.deadline_passed,
        "resumes": [{"ts": e.ts, "operator": r.operator or e.actor, "host": r.host}
                    for e in state.resumes if isinstance(r := e.payload, ev.Resumed)],
    }
    if info.get("app"):  # a [fleet] run: its app, owning team, and how far it was allowed to go
        doc["run"]["fleet"] = {k: info.get(k) or "" for k in ("app", "team", "dry", "hold")}
    doc["deviations"] = deviations
    doc["notes"] = [{"ts": n["ts"], "actor": n["actor"], "step": n["step"], "text": n["text"]} for n in state.notes]
    return _redact_doc(doc, scrub), redactor


def _run_vars(book: Runbook, row, all_vars: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    values: dict[str, Any] = dict(builtins(operator=row.operator))
    rows = []
    for name, var in book.vars.items():
        value = all_vars.get(name)
        known = value is not None
        if known and not var.secret:
            values[name] = value
        rows.append({"name": name, "value": MASK if var.secret and known else (value if known else ""),
                     "known": known, "secret": var.secret, "origin": "run" if known else "not set",
                     "prompt": var.prompt or var.description or ""})
    for name, value in all_vars.items():
        if name not in book.vars:
            values.setdefault(name, value)
            rows.append({"name": name, "value": value, "known": True, "secret": False, "origin": "captured",
                         "prompt": ""})
    return values, rows


def _number(book: Runbook, step_id: str | None) -> int | None:
    for i, s in enumerate(book.steps, start=1):
        if s.id == step_id:
            return i
    return None


def _schedule(state: RunState) -> dict | None:
    sc = state.schedule
    if not sc:
        return None
    detail = sc.get("not_applicable") or sc.get("detail") or "; ".join(sc.get("problems") or [])
    return {"verdict": sc.get("verdict"), "detail": detail, "deadline": sc.get("deadline")}


def _rollback(state: RunState, book: Runbook, title) -> dict | None:
    """The rollback the run ended in: which section, entered from where, by whom, why."""
    if state.outcome != "rolled_back" or not state.outcome_section:
        return None
    sec = book.section(state.outcome_section)
    entry = next((x for x in reversed(state.entries) if x.section == state.outcome_section), None)
    return {"section": state.outcome_section, "title": sec.title if sec else state.outcome_section,
            "from_step": entry.from_step if entry else None,
            "from_title": title(entry.from_step) if entry and entry.from_step else None,
            "from_number": _number(book, entry.from_step) if entry else None,
            "option": entry.decision if entry else None, "actor": entry.actor if entry else None,
            "ts": entry.ts if entry else None, "reason": entry.reason if entry else ""}


def _deviation(e: ev.Event, resolved: ev.Event | None, state: RunState, title) -> dict:
    p = e.payload
    reason = getattr(p, "reason", "") or ""
    return {"seq": e.seq, "ts": e.ts, "kind": e.kind, "step": e.step, "actor": e.actor,
            "what": describe(e, title).text, "reason": reason if isinstance(reason, str) else "",
            "resolution": (f"{describe(resolved, title).text} at {_clock(resolved.ts)}" if resolved else
                           "not resolved when the record was made" if isinstance(p, ev.StepInterrupted) else None)}


def _early_tick(step_id: str, t, title) -> dict:
    return {"seq": 0, "ts": t.ts, "kind": "early_tick", "step": step_id, "actor": t.actor,
            "what": f"{title(step_id)}: ticked “{t.label}” {fmt_duration(t.early)} before the step's wait was over",
            "reason": "", "resolution": None}


def _clock(ts: float) -> str:
    import time

    return time.strftime("%H:%M:%S", time.localtime(ts))


def _execution(journal: Journal, state: RunState, book: Runbook, sd: dict, on_path: set[str],
               deviations: list[dict], full: bool, scrub) -> dict:
    sid = sd["id"]
    st = state.steps[sid]
    status = record_status(state, sid, on_path)
    titles = {p["number"] - 1: p["title"] for p in sd["panes"]}
    attempts = []
    for a in st.attempts:
        attempts.append({"attempt": a.attempt, "started": a.started, "started_by": a.started_by,
                         "command": a.command, "action": a.action, "with": a.params, "finished": a.finished,
                         "duration": a.duration, "command_duration": a.command_duration, "exit_code": a.exit_code,
                         "ok": a.ok, "error": a.error,
                         # an attempt of a step the run left ended there, whatever its command did
                         "status": a.status or ("left" if status == "left unfinished" else None),
                         "captured": dict(a.captured),
                         "retries": list(a.retries),
                         "output": _output(journal, state.run_id, sid, a.attempt, full, scrub, titles)})
    return {
        "status": status, "reason": st.reason, "settled_by": st.settled_by, "attempts": attempts,
        "ticks": [{"ts": t.ts, "actor": t.actor, "index": t.index, "label": t.label, "checked": t.checked,
                   "early": t.early} for t in st.ticks],
        # the four-eyes rule: who approved the command, when, and the exact command they were shown
        "sign_offs": [{"ts": so["ts"], "user": so["user"], "uid": so["uid"], "command": so["command"]}
                      for so in st.sign_offs],
        "timers": [{"timer": t.timer, "started": t.started, "deadline": t.deadline, "seconds": t.seconds,
                    "expired": t.expired} for t in st.timers],
        "panes": [{"ts": p.ts, "actor": p.actor, "pane": p.pane + 1, "title": titles.get(p.pane, f"pane {p.pane + 1}"),
                   "how": "matched" if p.matched else "ended by hand", "line": p.line} for p in st.pane_events],
        "decision": ({k: st.decision.get(k) for k in ("ts", "actor", "option", "label", "goto", "reason",
                                                       "criteria")} if st.decision else None),
        "deviations": [d for d in deviations if d["step"] == sid],
        "notes": [n for n in state.notes if n["step"] == sid],
    }


def _item(journal: Journal, state: RunState, book: Runbook, sd: dict, kid: str, values: dict, on_path: set[str],
          deviations: list[dict], full: bool, scrub) -> dict:
    """One item of a repeated step (or one occurrence of a recurring one), its texts with the item's values."""
    item, step = state.items[kid], book.step(sd["id"])
    shown = {**values, **item.bindings}
    checks = [for_people(c, shown) for c in step.checks]
    return {"id": kid, "label": item.label, "values": dict(item.bindings),
            "title": state.titled(kid, for_people(step.title, shown)), "checks": checks,
            "execution": _execution(journal, state, book, {**sd, "id": kid, "checks": checks}, on_path, deviations,
                                    full, scrub)}


def record_status(state: RunState, sid: str, on_path: set[str]) -> str:
    status = state.status(sid) if sid in state.steps else "pending"
    if status == LEFT:
        return "left unfinished"
    if status == ABANDONED or (status == "pending" and sid not in on_path and sid not in state.children):
        return "not on this run's path"
    if status == "pending" and state.outcome:
        return "not reached"
    return status


# ---- output -------------------------------------------------------------------------------------
def _full_lines(journal: Journal, run_id: str, step: str, attempt: int, stream: str, scrub) -> Iterator[str]:
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


def _output(journal: Journal, run_id: str, step: str, attempt: int, full: bool, scrub,
            pane_titles: dict[int, str]) -> list[dict]:
    """One entry per stream: the command's (`main`), then each pane's (`pane0`, ...), labelled as the
    screen labels them (pane 1, its title)."""
    outs = []
    for stream, total in journal.streams(run_id, step, attempt):
        if full:
            lines: Any = _full_lines(journal, run_id, step, attempt, stream, scrub)
            shown = total
        else:
            lines = [scrub(clean_line(x)) for x in journal.tail(run_id, step, attempt, TAIL_LINES, stream)[0]]
            shown = len(lines)
        pane = int(stream[4:]) if stream.startswith("pane") and stream[4:].isdigit() else None
        label = "Output" if pane is None else f"Pane {pane + 1} “{pane_titles.get(pane, f'pane {pane + 1}')}”"
        outs.append({"stream": stream, "pane": None if pane is None else pane + 1, "label": label,
                     "total_lines": total, "shown_lines": shown, "trimmed": shown < total, "lines": lines})
    return outs


def _redact_doc(doc: Any, text, seen: dict[str, str] | None = None) -> Any:
    """Redact every string except the output line generators (they redact as they go). A string met again
    (an actor, a check's label) is redacted once."""
    seen = {} if seen is None else seen
    if isinstance(doc, str):
        if doc not in seen:
            seen[doc] = text(doc)
        return seen[doc]
    if isinstance(doc, dict):
        return {k: (v if k == "lines" and not isinstance(v, list) else _redact_doc(v, text, seen))
                for k, v in doc.items()}
    if isinstance(doc, list):
        return [_redact_doc(x, text, seen) for x in doc]
    return doc
