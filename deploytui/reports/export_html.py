"""One standalone HTML file for plans and records, from the Jinja2 template `templates/document.html.j2`:
inline CSS, no scripts, no external assets, laid out for A4 (the PDF is this page, printed).

The template is rendered with `generate()`, so command output (a generator over the journal) streams into
the file line by line. The wording of facts, outcomes and entries is the Markdown renderer's, turned into
HTML here: a sentence is written once."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, TextIO

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from .estimate import fmt_duration
from .export import fmt_clock, fmt_time, schedule_text
from .export_md import entered, expected_text, facts, outcome_line, step_items


@lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def prose(text: str | None) -> Markup:
    """A runbook body (Markdown) as HTML; raw HTML in it is escaped, never passed through."""
    return Markup(_markdown().render(text)) if text else Markup("")


def inline_md(text: str) -> Markup:
    """One line of Markdown (`code`, **bold**) as inline HTML."""
    return Markup(_markdown().renderInline(text))


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)


def _last_ticks(ticks: list[dict]) -> dict[int, dict]:
    return {t["index"]: t for t in ticks}


def _long(x: dict) -> bool:
    return any(o["shown_lines"] > 60 for a in x["attempts"] for o in a["output"])


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("deploytui.reports", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      keep_trailing_newline=True, trim_blocks=False)
    env.filters.update(prose=prose, inline_md=inline_md, time=fmt_time, clock=fmt_clock, duration=fmt_duration,
                       value=_value, schedule=schedule_text)
    env.globals.update(entered=entered, step_items=step_items, expected=expected_text, last_ticks=_last_ticks,
                       long=_long)
    return env


def write_html(doc: dict, out: TextIO) -> None:
    rec = doc["kind"] == "record"
    template = environment().get_template("document.html.j2")
    first = True
    for chunk in template.generate(doc=doc, facts=facts(doc), outcome_line=outcome_line(doc) if rec else ""):
        out.write(chunk.lstrip() if first else chunk)  # the macros above the doctype leave blank lines
        first = False
