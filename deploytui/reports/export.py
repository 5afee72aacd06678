"""Deploy plans (before) and deploy records (after) for change-advisory-board review.

    plan(book, vars=None, fmt="md", at=None, journal=None) -> str (bytes for "pdf")
    record(journal, run_id, fmt="md", full_output=False, summary=False) -> str (bytes for "pdf")
    write_plan(book, out, ...) / write_record(journal, run_id, out, ...)   # stream into a file

Both build one plain document (dicts and lists: the JSON export as it is, docs/export-schema.md; built in
plan.py and record.py) and hand it to a renderer: Markdown (export_md), HTML from Jinja2 templates
(export_html), PDF from that HTML (export_pdf), or the streaming JSON writer here. Command output is never
held whole: each attempt's output is a generator over the journal's chunks, redacted line by line as it is
written. Every other string is redacted once, before rendering."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, BinaryIO, TextIO, cast

from ..errors import UserError
from ..journal.store import Journal
from ..runbook.model import Runbook
from ..text.redact import Redactor
from .estimate import Expected, expected_durations, fmt_duration
from .plan import SCHEMA_VERSION, known_vars, plan_document
from .record import TAIL_LINES, record_document

FORMATS = ("md", "html", "json", "pdf")
BINARY = ("pdf",)
JIRA_LIMIT = 32_767  # characters in a Jira description

__all__ = ["FORMATS", "JIRA_LIMIT", "SCHEMA_VERSION", "TAIL_LINES", "fmt_clock", "fmt_duration", "fmt_time",
           "plan", "record", "write_json", "write_plan", "write_record"]


# ---- public API ------------------------------------------------------------------------------
def plan(book: Runbook, vars: dict[str, Any] | None = None, fmt: str = "md", *, secrets: Iterable[str] = (),
         at: float | None = None, journal: Journal | None = None, summary: bool = False,
         generated: float | None = None) -> str | bytes:
    """The deploy plan of `book` with the variables known so far, planned for `at` (epoch), with expected
    durations from `journal`'s history of this runbook."""
    out: Any = io.BytesIO() if fmt in BINARY else io.StringIO()
    write_plan(book, out, vars, fmt, secrets=secrets, at=at, journal=journal, summary=summary, generated=generated)
    return out.getvalue()


def write_plan(book: Runbook, out: IO, vars: dict[str, Any] | None = None, fmt: str = "md", *,
               secrets: Iterable[str] = (), at: float | None = None, journal: Journal | None = None,
               summary: bool = False, generated: float | None = None) -> None:
    _check_fmt(fmt, summary)
    given = dict(vars or {})
    known = [str(given[n]) for n, v in book.vars.items() if v.secret and n in given]
    known += [os.environ[v.from_env] for v in book.vars.values() if v.secret and v.from_env
              and os.environ.get(v.from_env)]
    redactor = Redactor(list(secrets) + known)
    values, rows = known_vars(book, given, now=at)
    expected = expected_durations(journal, book) if journal is not None else Expected.none()
    doc = redactor.value(plan_document(book, given, values=values, var_rows=rows, expected=expected, at=at,
                                       generated=generated))
    _render(doc, fmt, out, summary)


def record(journal: Journal, run_id: str, fmt: str = "md", full_output: bool = False, *,
           secrets: Iterable[str] = (), summary: bool = False, generated: float | None = None) -> str | bytes:
    """The deploy record of run `run_id` (a unique prefix, or `last`), as text (bytes for PDF)."""
    out: Any = io.BytesIO() if fmt in BINARY else io.StringIO()
    write_record(journal, run_id, out, fmt, full_output, secrets=secrets, summary=summary, generated=generated)
    return out.getvalue()


def write_record(journal: Journal, run_id: str, out: IO, fmt: str = "md", full_output: bool = False, *,
                 secrets: Iterable[str] = (), summary: bool = False, generated: float | None = None) -> None:
    """Like `record`, written into `out` as it goes (use this for --full-output into a file)."""
    _check_fmt(fmt, summary)
    doc, _redactor = record_document(journal, run_id, full_output and not summary, secrets=secrets,
                                     generated=generated)
    _render(doc, fmt, out, summary)


def _check_fmt(fmt: str, summary: bool = False) -> None:
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r} (use one of: {', '.join(FORMATS)})", 2)
    if summary and fmt != "md":
        raise UserError("--summary is a Markdown form (for a Jira description): use it with --format md", 2)


def _render(doc: dict, fmt: str, out: IO, summary: bool) -> None:
    if fmt == "json":
        write_json(doc, out)
        out.write("\n")
    elif fmt == "md":
        from .export_md import write_md, write_summary

        (write_summary if summary else write_md)(doc, cast(TextIO, out))
    elif fmt == "html":
        from .export_html import write_html

        write_html(doc, cast(TextIO, out))
    else:
        from .export_pdf import write_pdf

        write_pdf(doc, cast(BinaryIO, out))  # BINARY formats are given a binary file


# ---- formatting helpers shared by the renderers ------------------------------------------------
def fmt_time(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(ts))


def fmt_clock(ts: float | None) -> str:
    return "" if ts is None else time.strftime("%H:%M:%S", time.localtime(ts))


def schedule_text(schedule: dict | None) -> str:
    if not schedule:
        return "no schedule declared"
    parts = []
    if schedule.get("days"):
        parts.append("usual days " + ", ".join(schedule["days"]))
    if schedule.get("avoid"):
        parts.append("never on " + ", ".join(schedule["avoid"]) + " without an override")
    if schedule.get("holidays"):
        around = schedule.get("holidays_around") or 0
        parts.append(f"no {schedule['holidays']} public holidays" + (f" (or {around} day{'s' if around > 1 else ''}"
                                                                     " around them)" if around else ""))
    w = schedule.get("window")
    if w:
        parts.append(f"window {w['start']}-{w['end']} {w['tz']} (hard deadline {w['end']})")
    if schedule.get("when"):
        parts.append(f"applies when {schedule['when']}")
    return "; ".join(parts) or "no constraints"


def write_json(value: Any, out: IO, indent: int = 0) -> None:
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
