"""The deploy plan: what will run, in what order, when, for how long, what changes, and how to roll back.

`plan_document(book, values, ...)` builds the plain document (see docs/export-schema.md) that every
renderer reads; the record (record.py) starts from the same document and adds what happened."""

from __future__ import annotations

import os
import re
import time
import zoneinfo
from datetime import datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from ..engine import schedule as guard
from ..runbook.model import Runbook, Step, split_each
from ..runbook.templates import (
    SECRET_SHOWN,
    SecretRef,
    TemplateProblem,
    builtins,
    evaluate,
    for_people,
    referenced_names,
    render,
)
from ..text.redact import MASK
from .estimate import Expected, expected_durations, fmt_duration

SCHEMA_VERSION = 2


# ---- variables -------------------------------------------------------------------------------
def known_vars(book: Runbook, given: dict[str, Any], *, now: float | None = None) -> tuple[dict[str, Any], list[dict]]:
    """Variables for rendering (builtins, given values, defaults that render) and their table rows.
    Secret values are never placed in the rendering dict: text shows them masked."""
    values: dict[str, Any] = dict(builtins(datetime.fromtimestamp(now).astimezone() if now else None))
    rows = []
    for name, var in book.vars.items():
        value, known, origin = None, False, ""
        if name in given:
            value, known, origin = given[name], True, "given"
            if var.default is not None and str(value) == for_people(var.default, values):
                origin = "default"
        elif var.from_env and os.environ.get(var.from_env):
            value, known, origin = os.environ[var.from_env], True, f"from ${var.from_env}"
        if not known and var.default is not None:
            try:
                value, known, origin = render(var.default, values), True, "default"
            except TemplateProblem:
                value, origin = var.default, "default (resolved at run time)"
        if known and not var.secret:
            values[name] = value
        rows.append({"name": name, "value": MASK if var.secret and known else (value if known else ""),
                     "known": known, "secret": var.secret, "origin": origin or "asked at run time",
                     "prompt": var.prompt or var.description or ""})
    for name, value in given.items():
        if name not in book.vars:
            values[name] = value
    return values, rows


def people_text(text: str | None, values: dict[str, Any], secrets: set[str]) -> str:
    """Prose and commands as a reviewer reads them: known values filled in, secrets masked, a value only
    the run will know (a captured one) as ‹name›. Never raw template syntax."""
    return for_people(text or "", {**values, **{n: SECRET_SHOWN for n in secrets}})


def command_text(text: str | None, values: dict[str, Any], secrets: set[str]) -> str:
    """A shell command as it will run: values shell-quoted, secrets as the environment references the
    command gets, a value only the run will know as ‹name›."""
    if not text:
        return ""
    try:
        names = referenced_names(text)
    except TemplateProblem:
        return people_text(text, values, secrets)
    defaulted = {n for n in names if re.search(rf"\b{re.escape(n)}\s*\|\s*default\b", text)}  # its default shows
    filler = {n: SecretRef(n) if n in secrets else Markup(f"‹{n}›") for n in names
              if (n not in values and n not in defaulted) or n in secrets}
    try:
        return render(text, {**values, **filler}, shell=True)
    except TemplateProblem:
        return people_text(text, values, secrets)


def _value(value: Any, values: dict[str, Any], secrets: set[str]) -> Any:
    if isinstance(value, str):
        return people_text(value, values, secrets)
    if isinstance(value, dict):
        return {k: _value(v, values, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v, values, secrets) for v in value]
    return value


def _duration_text(value: str | int | None) -> str:
    if value is None:
        return ""
    return f"{value}s" if isinstance(value, int) else str(value)


# ---- steps and sections ----------------------------------------------------------------------
def step_document(book: Runbook, step: Step, number: int, values: dict[str, Any], secrets: set[str],
                  expected: Expected | None = None) -> dict:
    text = lambda t: people_text(t, values, secrets)  # noqa: E731
    gates = []
    if step.not_before:
        nb = step.not_before
        if nb.at:
            gates.append(f"not before {text(nb.at)}")
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
            applies = None  # it reads a value the run captures: decided at run time
        condition = {"expression": step.when, "applies": applies}
    panes = []
    for k, pane in enumerate(step.panes):
        kind = "tail" if pane.tail else "watch" if pane.watch else "action"
        panes.append({"number": k + 1, "title": text(pane.title) or f"pane {k + 1}", "kind": kind,
                      "source": text(pane.tail or pane.watch or pane.uses or ""),
                      "with": _value(pane.with_, values, secrets), "every": _duration_text(pane.every),
                      "until": pane.until or ""})
    decide = None
    if step.decide:
        decide = {"question": text(step.decide.question),
                  "options": [{"label": text(o.label), "goto": o.goto,
                               "description": text(o.description) if o.description else None}
                              for o in step.decide.options]}
    command = command_text(step.run, values, secrets)
    return {
        "number": number, "id": step.id, "title": text(step.title), "section": step.section,
        "repeat": _repeat_text(book, step), "ask": step.ask, "on_failure": step.on_failure,
        "body": text(step.body), "condition": condition,
        "command": command, "command_resolved": "‹" not in command,
        "action": step.uses, "with": _value(step.with_, values, secrets) if step.uses else {},
        "cwd": text(step.cwd) if step.cwd else None, "env": {k: text(v) for k, v in step.env.items()},
        "gates": gates, "wait": _duration_text(step.wait), "timeout": _duration_text(step.timeout),
        "retries": step.retries, "checks": [text(c) for c in step.checks], "decide": decide,
        "capture": dict(step.capture), "panes": panes, "interactive": step.interactive, "danger": step.danger,
        "auto": step.auto, "expected": expected.step(step.id) if expected else None,
    }


def _repeat_text(book: Runbook, step: Step) -> str | None:
    """How a step repeats, in words: once per item of a list, or in time."""
    rep = book.repetition(step)
    if rep:
        key, each, parallel = rep
        try:
            var, expression = split_each(each)
        except ValueError:  # `check` refuses it; an old journal's snapshot may still hold it
            return f"as `each = {each!r}` says"
        whole = f" (with the rest of section '{key}')" if key != step.id else ""
        return f"once for each {var} in {expression}{whole}" + (f", {parallel} at a time" if parallel > 1 else "")
    if step.every is not None:
        return f"every {_duration_text(step.every)}" + (f" until {step.until}" if step.until else "") + \
            ", alongside the steps after it"
    return None


def _group(book: Runbook, steps: list[Step], values: dict[str, Any], secrets: set[str],
           numbers: dict[str, int], expected: Expected | None) -> list[dict]:
    groups: list[dict] = []
    for step in steps:
        sec_id = step.section or ""
        if not groups or groups[-1]["id"] != sec_id:
            sec = book.section(step.section)
            groups.append({"id": sec_id, "title": people_text(sec.title if sec else (step.section or "Steps"),
                                                              values, secrets),
                           "on_demand": bool(sec and sec.on_demand), "rollback": bool(sec and sec.rollback),
                           "body": people_text(sec.body if sec else None, values, secrets),
                           "entered_from": [], "steps": []})
        groups[-1]["steps"].append(step_document(book, step, numbers[step.id], values, secrets, expected))
    return groups


def entries_of(book: Runbook, section_id: str, numbers: dict[str, int]) -> list[dict]:
    """The decisions whose `goto` leads into an on-demand section, in runbook order."""
    out = []
    for step in book.steps:
        for opt in step.decide.options if step.decide else []:
            target = opt.goto
            if target and (target == section_id or (target in numbers and book.step(target).section == section_id)):
                out.append({"step": step.id, "number": numbers[step.id], "option": opt.label})
    return out


# ---- timing ----------------------------------------------------------------------------------
def parse_at(text: str, tz: str | None = None) -> float:
    """`--at` as epoch seconds: "2026-11-24 10:00" (in the window's time zone when the runbook has one)."""
    when = datetime.fromisoformat(text.strip().replace("T", " ", 1))
    if when.tzinfo is None:
        when = when.replace(tzinfo=zoneinfo.ZoneInfo(tz)) if tz else when.astimezone()
    return when.timestamp()


def timing(book: Runbook, values: dict[str, Any], at: float | None, expected: Expected) -> dict:
    """When (`--at`), how long (from the journal's history of this runbook), and what to worry about."""
    window = book.schedule.window if book.schedule else None
    total = expected.whole() or expected.total(_planned_path(book, values))
    out: dict[str, Any] = {"at": at, "at_local": None, "window": None, "expected": total,
                           "history": expected.history, "warnings": []}
    if at is None:
        return out
    check = guard.check(book.schedule, at, values)
    local = datetime.fromtimestamp(at, zoneinfo.ZoneInfo(window.tz)) if window else datetime.fromtimestamp(at).astimezone()
    out["at_local"] = f"{local:%a %Y-%m-%d %H:%M} {window.tz if window else local.strftime('%Z')}"
    out["warnings"] = list(check.get("problems") or [])
    if check.get("not_applicable"):
        out["warnings"] = []
    if window and check.get("deadline"):
        deadline = check["deadline"]
        out["window"] = {"start": window.start, "end": window.end, "tz": window.tz, "deadline": deadline}
        left = deadline - at
        if total["median"] is not None and 0 < left < total["median"]:
            out["warnings"].append(f"the window leaves {fmt_duration(left)} after {local:%H:%M}, "
                                   f"but this deploy usually takes {fmt_duration(total['median'])}")
        elif total["median"] is not None and 0 < left < (total["max"] or 0):
            out["warnings"].append(f"the longest deploy so far ({fmt_duration(total['max'])}) would overrun the "
                                   f"window, which leaves {fmt_duration(left)}")
    return out


def _planned_path(book: Runbook, values: dict[str, Any]) -> list[Step]:
    """The main flow as far as the plan can tell: steps whose `when` is false are left out."""
    out = []
    for step in book.main_steps():
        if step.when:
            try:
                if not evaluate(step.when, values):
                    continue
            except Exception:
                pass
        out.append(step)
    return out


# ---- change summary --------------------------------------------------------------------------
def change_summary(book: Runbook, values: dict[str, Any], limit: int = 200) -> dict | None:
    """The commits and changelog between production and the release, where the runbook can find them:
    its `git.changelog` step's `repo`, `base` and `head`, else the variables `repo` with `base` (or
    `prod_ref`) and `head` (or `release_ref`, `git_sha`)."""
    for step in book.steps:
        if step.uses == "git.changelog":
            try:
                w = {k: render(str(v), values) for k, v in step.with_.items() if k in ("repo", "base", "head")}
            except TemplateProblem as e:
                return {"repo": str(step.with_.get("repo", "")), "base": str(step.with_.get("base", "")),
                        "head": str(step.with_.get("head", "HEAD")), "source": f"step '{step.id}'", "commits": [],
                        "changelog": [], "error": f"known only during the run ({e})"}
            if w.get("repo") and Path(w["repo"]).is_dir():
                return _commits(w["repo"], w.get("base"), w.get("head") or "HEAD", f"step '{step.id}'", limit)
    repo = values.get("repo")
    if isinstance(repo, str) and repo and Path(repo).is_dir():
        base = values.get("base") or values.get("prod_ref")
        head = values.get("head") or values.get("release_ref") or values.get("git_sha") or "HEAD"
        return _commits(repo, base, head, "variables", limit)
    return None


def _commits(repo_path: str, base: str | None, head: str, source: str, limit: int) -> dict:
    from ..integrations.git import parse_changelog

    summary: dict[str, Any] = {"repo": repo_path, "base": base, "head": head, "source": source, "commits": [],
                               "changelog": [], "error": None}
    try:
        import git

        repo = git.Repo(repo_path)
        parsed = []
        for c in repo.iter_commits(f"{base}..{head}" if base else head, max_count=limit):
            msg = c.message if isinstance(c.message, str) else c.message.decode(errors="replace")
            lines = [ln for ln in msg.strip().splitlines() if ln]
            subject = lines[0] if lines else ""
            parsed.append((subject, lines[1:]))
            summary["commits"].append({"sha": c.hexsha[:10], "author": c.author.name, "date": c.committed_date,
                                       "subject": subject})
        notes = parse_changelog(parsed)
        summary["changelog"] = [ln for ln in notes["markdown"].splitlines() if ln.strip()]
    except Exception as e:  # a missing ref or a broken repository is reported in the plan, not fatal
        summary["error"] = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return summary


# ---- the document ----------------------------------------------------------------------------
def plan_document(book: Runbook, given: dict[str, Any] | None = None, *, values: dict[str, Any] | None = None,
                  var_rows: list[dict] | None = None, expected: Expected | None = None, at: float | None = None,
                  generated: float | None = None) -> dict:
    given = dict(given or {})
    if values is None or var_rows is None:
        values, var_rows = known_vars(book, given, now=at)
    expected = expected or Expected.none()
    secrets = {n for n, v in book.vars.items() if v.secret}
    h = book.runbook
    numbers = {s.id: i for i, s in enumerate(book.steps, start=1)}
    main = _group(book, book.main_steps(), values, secrets, numbers, expected)
    rollback = _group(book, [s for s in book.steps if book.is_on_demand(s)], values, secrets, numbers, expected)
    for sec in rollback:
        sec["entered_from"] = entries_of(book, sec["id"], numbers)
        sec["expected"] = expected.total(book.steps_of_section(sec["id"]))
        sec["possible_from"] = sec["entered_from"][0] if sec["entered_from"] else None
    pairs = given.get("pairs") or []
    if isinstance(pairs, str):
        pairs = [p.strip() for p in pairs.split(",") if p.strip()]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "plan",
        "rehearsal": False,
        "generated": time.time() if generated is None else generated,
        "runbook": {"id": h.id, "title": people_text(h.title, values, secrets), "source": h.source,
                    "owner": people_text(h.owner, values, secrets), "description": people_text(h.description, values, secrets),
                    "path": book.path, "sha256": book.sha256},
        "environment": people_text(h.environment, values, secrets),
        "release": people_text(h.release, values, secrets),
        "schedule": book.schedule.model_dump() if book.schedule else None,
        "timing": timing(book, values, at, expected),
        "people": {"release_manager": str(given.get("release_manager") or people_text(h.owner, values, secrets)),
                   "pairs": list(pairs), "approvers": list(h.approvers), "acted": []},
        "vars": var_rows,
        "changes": change_summary(book, values),
        "risks": [people_text(r, values, secrets) for r in h.risks],
        "sections": main,
        "rollback": rollback,
        "approval": {"approvers": list(h.approvers)},
    }


def needed_vars(book: Runbook, values: dict[str, Any]) -> list[str]:
    """The variables a plan must ask for: declared, not secret (a plan never shows a secret), with no value and
    no default (a default made of other values follows once they are given), and not asked by a step during the
    run (`ask`: the plan shows it as ‹name›)."""
    asked = {s.ask for s in book.steps if s.ask}
    return [n for n, v in book.vars.items()
            if not v.secret and n not in values and v.default is None and n not in asked]


__all__ = ["SCHEMA_VERSION", "change_summary", "known_vars", "needed_vars", "parse_at", "plan_document",
           "expected_durations"]
