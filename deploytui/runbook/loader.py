"""Load a runbook file into the typed model, turning every failure into `FILE:LINE: where: field: what`."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import RunbookError
from .model import Runbook

Loc = tuple[Any, ...]  # where in the TOML: ("steps", 3, "with", "url")
MAX_BYTES = 2 * 1024 * 1024  # a runbook is prose and commands; anything bigger is a mistake


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    where: str  # "step 'recycle'", "vars 'rc'", "schedule", "runbook"
    field: str  # "with.url", "panes[0].until", "" when the whole thing is wrong
    message: str
    warning: bool = False  # worth a look, but the runbook may run

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        message = f"warning: {self.message}" if self.warning else self.message
        parts = [loc, self.where] + ([self.field] if self.field else []) + [message]
        return ": ".join(p for p in parts if p)


class LineMap:
    """Where each table and key of a TOML file starts, by path: ("steps", 3, "run") -> line 42.

    tomllib keeps no positions, so we scan the text: table headers, array-of-table headers and
    `key =` lines, skipping multi-line strings. Good enough to point a person at the right line."""

    _header = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
    _key = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')\s*=")

    def __init__(self, text: str):
        self.lines: dict[Loc, int] = {}
        counters: dict[Loc, int] = {}
        table: Loc = ()
        in_string: str | None = None
        for lineno, line in enumerate(text.splitlines(), start=1):
            if in_string:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            header = self._header.match(line)
            if header:
                names = tuple(n.strip().strip("\"'") for n in header.group(2).split("."))
                if header.group(1) == "[[":
                    parent = self._resolve(names[:-1], counters)
                    key = parent + (names[-1],)
                    counters[key] = counters.get(key, -1) + 1
                    # a new element resets the counters of arrays nested inside the previous one
                    for k in [k for k in counters if len(k) > len(key) and k[: len(key)] == key]:
                        del counters[k]
                    table = key + (counters[key],)
                else:
                    table = self._resolve(names, counters)
                self.lines.setdefault(table, lineno)
                continue
            assignment = self._key.match(line)
            if assignment:
                name = assignment.group(1).strip("\"'")
                self.lines.setdefault(table + (name,), lineno)
                rest = line[assignment.end() :]
                for quote in ('"""', "'''"):
                    if rest.count(quote) % 2 == 1:
                        in_string = quote
                        break

    @staticmethod
    def _resolve(names: Loc, counters: dict[Loc, int]) -> Loc:
        """Turn `steps.panes` into ("steps", 3, "panes") using the current array indexes."""
        path: Loc = ()
        for name in names:
            path = path + (name,)
            if path in counters:
                path = path + (counters[path],)
        return path

    def find(self, loc: Loc) -> int | None:
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None


def describe_location(data: Any, loc: Loc) -> tuple[str, str]:
    """("step 'recycle'", "with.url") for loc ("steps", 3, "with", "url")."""
    if not loc:
        return "runbook", ""
    head = loc[0]
    if head in ("steps", "sections") and len(loc) >= 2 and isinstance(loc[1], int):
        kind = "step" if head == "steps" else "section"
        ident = None
        try:
            ident = data[head][loc[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        where = f"{kind} '{ident}'" if isinstance(ident, str) else f"{kind} #{loc[1] + 1}"
        return where, _field(loc[2:])
    if head == "vars" and len(loc) >= 2:
        return f"vars '{loc[1]}'", _field(loc[2:])
    return str(head), _field(loc[1:])


def _field(parts: Loc) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def _toml_error(path: str, err: tomllib.TOMLDecodeError) -> Problem:
    msg = str(err)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    line = int(m.group(1)) if m else None
    msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg) or "not valid TOML"
    if m:
        msg = f"{msg} (column {m.group(2)})"
    return Problem(path, line, "toml", "", f"not valid TOML: {msg}")


def _pydantic_message(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against the runbook format)"
    if kind == "missing":
        return "required, but missing"
    msg = str(err.get("msg", "invalid"))
    got = err.get("input")
    if kind.endswith("_type") and not isinstance(got, dict | list):
        msg = f"{msg}, got {type(got).__name__} {str(got)[:40]!r}"
    return msg


def _dedupe_union_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic reports each branch of `str | int`; one line per location is enough."""
    seen, out = set(), []
    for e in errors:
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p in {"str", "int", "float"}))
        if loc in seen:
            continue
        seen.add(loc)
        out.append({**e, "loc": loc})
    return out


def read_text(path: str | Path) -> str:
    p = Path(path)
    try:
        if p.is_dir():
            raise RunbookError([f"{path}: is a directory, not a runbook file"])
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise RunbookError([f"{path}: {size // 1024} KiB is too large for a runbook (limit {MAX_BYTES // 1024} KiB)"])
        raw = p.read_bytes()
    except FileNotFoundError:
        raise RunbookError([f"{path}: no such file"]) from None
    except PermissionError:
        raise RunbookError([f"{path}: permission denied"]) from None
    except OSError as e:
        raise RunbookError([f"{path}: cannot read: {e.strerror or e}"]) from None
    if b"\x00" in raw:
        raise RunbookError([f"{path}: binary data, not a TOML runbook"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise RunbookError([f"{path}:{line}: encoding: not UTF-8 (byte 0x{raw[e.start]:02x}); save the file as UTF-8"]) from None


def parse(text: str, path: str = "<runbook>") -> Runbook:
    """Validate `text` into a Runbook; raises RunbookError listing every problem."""
    if not text.strip():
        raise RunbookError([f"{path}: empty file: a runbook needs a [runbook] table and [[steps]]"])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RunbookError([str(_toml_error(path, e))]) from None
    lines = LineMap(text)
    try:
        book = Runbook.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in _dedupe_union_errors(e.errors()):
            where, field = describe_location(data, err["loc"])
            problems.append(Problem(path, lines.find(err["loc"]), where, field, _pydantic_message(err)))
        problems.sort(key=lambda p: p.line or 0)
        raise RunbookError([str(p) for p in problems]) from None
    book.path = path
    book.text = text
    book.sha256 = hashlib.sha256(text.encode()).hexdigest()
    return book


def load(path: str | Path) -> Runbook:
    return parse(read_text(path), str(path))


def line_map(book: Runbook) -> LineMap:
    return LineMap(book.text)
