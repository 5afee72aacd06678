"""The `deploytui` command. Heavy imports (Textual, boto3) happen inside the commands that need them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import UserError


class Group(click.Group):
    """Turns UserError into one line on stderr and its exit code, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as e:
            for line in str(e).splitlines() or ["error"]:
                click.echo(f"deploytui: {line}" if not _looks_located(line) else line, err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("deploytui: interrupted", err=True)
            sys.exit(130)


def _looks_located(line: str) -> bool:
    head = line.split(":", 1)[0]
    return head.endswith(".toml") or "/" in head


journal_option = click.option("--journal", "journal_path", type=click.Path(dir_okay=False, path_type=Path),
                              envvar="DEPLOYTUI_JOURNAL", help="Journal file (default: your user data dir).")


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deploytui")
def main() -> None:
    """Drive a deploy runbook from the terminal, with a journal that proves what happened."""


@main.command()
@click.argument("runbooks", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(runbooks: tuple[Path, ...]) -> None:
    """Validate and lint runbooks; print FILE:LINE problems and exit 2 if any."""
    from .runbook.lint import check_file

    bad = 0
    for path in runbooks:
        book, problems = check_file(str(path))
        for line in problems:
            click.echo(line, err=True)
        if problems:
            bad += 1
        else:
            n_sec = len({s.section for s in book.steps})
            click.echo(f"{path}: ok: {len(book.steps)} steps in {n_sec} sections, {len(book.vars)} variables")
    if bad:
        sys.exit(2)
