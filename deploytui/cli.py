"""The `deploytui` command. Heavy imports (Textual, boto3) happen inside the commands that need them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import UserError


class Group(click.Group):
    """Turns UserError into one line on stderr and its exit code, never a traceback."""

    def main(self, *args, **kwargs):
        """Bad flags and arguments are one line too (click's own report takes four)."""
        kwargs.pop("standalone_mode", None)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.UsageError as e:
            where = e.ctx.command_path if e.ctx else "deploytui"
            click.echo(f"deploytui: {e.format_message()} (see `{where} --help`)", err=True)
            sys.exit(e.exit_code)
        except click.exceptions.ClickException as e:
            click.echo(f"deploytui: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("deploytui: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

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
        except BrokenPipeError:  # `deploytui plan ... | head`: the reader left, which is fine
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except (click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except Exception as e:  # a bug of ours: still one line, the traceback only on request
            import os

            if os.environ.get("DEPLOYTUI_DEBUG"):
                raise
            click.echo(f"deploytui: internal error: {type(e).__name__}: {e} (DEPLOYTUI_DEBUG=1 shows the "
                       "traceback)", err=True)
            sys.exit(70)


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
@click.option("--rehearsal", is_flag=True,
              help="Also list the steps and panes a rehearsal cannot play (a tool the world lacks, no stand-in).")
def check(runbooks: tuple[Path, ...], rehearsal: bool) -> None:
    """Validate and lint runbooks; print FILE:LINE problems and exit 2 if any."""
    from .integrations.registry import registry
    from .runbook.lint import check_file

    bad = 0
    for path in runbooks:
        book, problems = check_file(str(path), registry())
        if rehearsal and book is not None:
            from .sandbox.rehearse import gaps

            problems = problems + gaps(book)
        for line in problems:
            click.echo(line, err=True)
        if problems:
            bad += 1
        else:
            n_sec = len({s.section for s in book.steps})
            click.echo(f"{path}: ok: {len(book.steps)} steps in {n_sec} sections, {len(book.vars)} variables")
    if bad:
        sys.exit(2)


def open_journal(path: Path | None, readonly: bool = False):
    from .journal import Journal

    return Journal(path, readonly=readonly)


var_option = click.option("--var", "var_pairs", multiple=True, metavar="NAME=VALUE",
                          help="Set a runbook variable (repeatable).")


@main.command()
@click.argument("runbook", required=False, type=click.Path(path_type=Path))
@var_option
@click.option("--resume", "resume_id", metavar="RUN", help="Reopen a run from the journal and continue it.")
@click.option("--headless", is_flag=True, help="No screen: run auto steps and timers, stop when a person is needed.")
@click.option("--answers", type=click.Path(path_type=Path), help="TOML answers for checks, decisions and runs.")
@click.option("--break-lock", metavar="REASON", help="Take over a runbook+environment locked by another run.")
@click.option("--operator", metavar="NAME", help="Who is driving (default: $USER).")
@click.option("--no-output", is_flag=True, help="Headless: do not print commands' output.")
@journal_option
def run(runbook, var_pairs, resume_id, headless, answers, break_lock, operator, no_output, journal_path) -> None:
    """Drive RUNBOOK (a full-screen app; --headless for pipelines and tests)."""
    start_run(runbook, var_pairs, resume_id, headless, answers, break_lock, operator, no_output, journal_path)


def start_run(runbook, var_pairs, resume_id, headless, answers, break_lock, operator, no_output, journal_path, *,
              time_scale: float = 1.0, rehearsal: bool = False, env: dict | None = None,
              extra_vars: dict | None = None, banner: list[str] | None = None, vet_values=None, clock=None,
              started: dict | None = None) -> None:
    from .engine.headless import drive, load_answers, progress_printer
    from .engine.run import Run
    from .runbook.loader import load
    from .runbook.variables import clock_builtins, parse_assignments, resolve

    if not runbook and not resume_id:
        raise UserError("give a RUNBOOK file, or --resume RUN", 2)
    given = parse_assignments(var_pairs)
    answer_set = load_answers(answers)
    journal = open_journal(journal_path)
    if resume_id and not rehearsal and journal.run(resume_id).rehearsal:
        raise UserError(f"run {resume_id} is a rehearsal: resume it in its world with "
                        f"`deploytui rehearse --resume {resume_id}`", 2)
    book = load(runbook) if runbook else None
    if book is not None and not resume_id and not rehearsal:
        resume_id = _offer_resume(journal, book, headless)
    if headless:
        if resume_id:
            the_run = Run.resume(journal, resume_id, operator=operator, env=env, book=book, clock=clock,
                                 secrets={k: v for k, v in given.items()})
        else:
            values, missing = resolve(book, {**(extra_vars or {}), **answer_set.vars, **given}, environ=env,
                                      builtins=clock_builtins(clock))
            if missing:
                raise UserError(f"{book.path}: no value for {', '.join(missing)}: give --var NAME=VALUE", 2)
            if vet_values:
                vet_values(values)
            the_run = Run.start(journal, book, values, operator=operator, time_scale=time_scale, clock=clock,
                                rehearsal=rehearsal, env=env, break_lock=break_lock, started=started)
        for line in banner or []:
            click.echo(line)
        progress_printer(the_run, click.echo, show_output=not no_output)
        code = 0
        try:
            code = drive(the_run, answer_set, click.echo)
        finally:
            the_run.close()
        sys.exit(code)
    from .tui.app import run_app

    run_app(journal=journal, book=book, given=given, resume_id=resume_id, operator=operator,
            break_lock=break_lock, time_scale=time_scale, rehearsal=rehearsal, env=env,
            extra_vars=extra_vars or {}, banner=banner or [], clock=clock, started=started)


@main.command()
@click.argument("runbook", required=False, type=click.Path(path_type=Path))
@var_option
@click.option("--time-scale", default=60.0, show_default=True, type=click.FloatRange(min=1.0),
              help="How much faster time passes: at 60 a 15 minute gate lasts 15 s.")
@click.option("--fault", "faults", multiple=True, metavar="NAME",
              help="Make the world go wrong this way (repeatable; --list-faults lists them).")
@click.option("--list-faults", is_flag=True, help="List the faults a rehearsal can inject, and exit.")
@click.option("--resume", "resume_id", metavar="RUN", help="Bring a rehearsal's world back and continue it.")
@click.option("--start-at", metavar="HH:MM",
              help="The world's time when it starts (default: now; a runbook's deploy window: its opening).")
@click.option("--unsealed", metavar="REASON",
              help="Rehearse without the network seal, where Linux namespaces are not available (recorded).")
@click.option("--headless", is_flag=True, help="No screen: run auto steps and timers, stop when a person is needed.")
@click.option("--answers", type=click.Path(path_type=Path), help="TOML answers for checks, decisions and runs.")
@click.option("--operator", metavar="NAME", help="Who is practising (default: $USER).")
@click.option("--no-output", is_flag=True, help="Headless: do not print commands' output.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the world is laid out (default: a new directory, removed at the end).")
@journal_option
def rehearse(runbook, var_pairs, time_scale, faults, list_faults, resume_id, start_at, unsealed, headless, answers,
             operator, no_output, workdir, journal_path) -> None:
    """Run the real RUNBOOK in a sealed local world: moto AWS, local git remotes, a recording GitHub and Slack."""
    from .journal import default_path
    from .sandbox import faults as fault_catalogue
    from .sandbox import seal, session

    if list_faults:
        for line in fault_catalogue.listing():
            click.echo(line)
        return
    req = session.Request(runbook=runbook, resume_id=resume_id, var_pairs=var_pairs, time_scale=time_scale,
                          faults=faults, start_at=start_at, unsealed=unsealed, headless=headless, answers=answers,
                          operator=operator, no_output=no_output, workdir=workdir,
                          journal=Path(journal_path or default_path()).resolve())
    session.check(req)
    if session.must_seal(req):
        seal.seal_and_exec(session.reexec_argv(req), session.reexec_env(req))
    if not headless:
        click.echo(f"building the rehearsal world for {runbook or resume_id} ...", err=True)
    world, book = session.open_world(req)
    try:
        start_run(book.path if book is not None and not resume_id else None, session.passed_vars(req), resume_id,
                  headless, answers, None, operator, no_output, req.journal,
                  time_scale=world.time_scale, rehearsal=True, env=world.env, extra_vars=world.vars,
                  banner=world.describe(), vet_values=lambda values: world.refuse_outside(values, book),
                  clock=world.clock, started=world.started())
    finally:
        for line in session.close_world(world, req.journal):
            click.echo(line)


def _offer_resume(journal, book, headless: bool) -> str | None:
    """An unfinished run of the same runbook is offered for resuming (a person decides; headless never)."""
    open_runs = [r for r in journal.active_runs() if r.runbook_id == book.runbook.id and not r.rehearsal]
    if not open_runs or headless or not sys.stdin.isatty():
        return None
    r = open_runs[0]
    from datetime import datetime

    since = datetime.fromtimestamp(r.started).strftime("%a %H:%M")
    if click.confirm(f"Run {r.id} of {book.runbook.id} ({r.environment or '-'}, {r.operator}, since {since}) "
                     "is unfinished. Resume it?", default=True):
        return r.id
    return None


@main.command()
@click.option("--limit", default=30, show_default=True)
@journal_option
def history(limit: int, journal_path: Path | None) -> None:
    """List runs: id, runbook, environment, operator, started, duration, outcome."""
    from datetime import datetime

    from .runbook.durations import format_duration

    journal = open_journal(journal_path, readonly=True) if _journal_exists(journal_path) else None
    rows = journal.runs(limit) if journal else []
    if not rows:
        click.echo("no runs yet")
        return
    click.echo(f"{'RUN':22} {'RUNBOOK':24} {'ENV':10} {'OPERATOR':12} {'STARTED':16} {'DURATION':9} OUTCOME")
    for r in rows:
        started = datetime.fromtimestamp(r.started).strftime("%Y-%m-%d %H:%M")
        duration = format_duration((r.finished or __import__("time").time()) - r.started)
        outcome = r.outcome or "open"
        if r.rehearsal:
            outcome += " (rehearsal)"
        click.echo(f"{r.id:22} {r.runbook_id[:24]:24} {(r.environment or '-')[:10]:10} {r.operator[:12]:12} "
                   f"{started:16} {duration:9} {outcome}")


def _journal_exists(path: Path | None) -> bool:
    from .journal import default_path

    return Path(path or default_path()).exists()


@main.command()
@click.argument("run_id")
@click.option("--output/--no-output", "with_output", default=False, help="Include each step's output tail.")
@journal_option
def show(run_id: str, with_output: bool, journal_path: Path | None) -> None:
    """Print a run's timeline."""
    from .reports.timeline import timeline

    if not _journal_exists(journal_path):
        raise UserError(f"{journal_path or 'the default journal'}: no journal yet (nothing has been run)", 2)
    journal = open_journal(journal_path, readonly=True)
    for line in timeline(journal, run_id, with_output=with_output):
        click.echo(line)


format_option = click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md",
                             show_default=True)
output_option = click.option("-o", "--output", "out_path", type=click.Path(dir_okay=False, path_type=Path),
                             help="Write to FILE instead of standard output.")


def _write_out(out_path: Path | None, write) -> None:
    if out_path is None:
        write(sys.stdout)
        return
    try:
        with open(out_path, "w", encoding="utf-8") as f:
            write(f)
    except OSError as e:
        raise UserError(f"{out_path}: cannot write: {e.strerror or e}") from None
    click.echo(f"wrote {out_path}", err=True)


@main.command()
@click.argument("runbook", type=click.Path(path_type=Path))
@var_option
@format_option
@output_option
def plan(runbook: Path, var_pairs, fmt: str, out_path: Path | None) -> None:
    """The deploy plan for CAB review, before the deploy."""
    from .reports.export import write_plan
    from .runbook.loader import load
    from .runbook.variables import parse_assignments, resolve

    book = load(runbook)
    values, _missing = resolve(book, parse_assignments(var_pairs))  # unknown values stay as templates
    _write_out(out_path, lambda f: write_plan(book, f, values, fmt))


@main.command()
@click.argument("run_id")
@format_option
@output_option
@click.option("--full-output", is_flag=True, help="Every line of every step's output (default: the last 40).")
@journal_option
def export(run_id: str, fmt: str, out_path: Path | None, full_output: bool, journal_path: Path | None) -> None:
    """The deploy record of a run for CAB review, after the deploy."""
    from .reports.export import write_record

    if not _journal_exists(journal_path):
        raise UserError(f"{journal_path or 'the default journal'}: no journal yet (nothing has been run)", 2)
    journal = open_journal(journal_path, readonly=True)
    _write_out(out_path, lambda f: write_record(journal, run_id, f, fmt, full_output))


# ---- following a deploy (issue 7) --------------------------------------------------------------------


@main.command()
@click.argument("run_id", required=False)
@journal_option
def follow(run_id: str | None, journal_path: Path | None) -> None:
    """A read-only screen of a run (default: the active one), updated from the journal as it is written."""
    from .follow.feed import follow as open_follow

    if not _journal_exists(journal_path):
        raise UserError(f"{journal_path or 'the default journal'}: no journal yet (nothing has been run)", 2)
    feed = open_follow(journal_path, run_id)
    from .tui.follow import run_follow

    run_follow(feed)


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--socket", "socket_path", type=click.Path(dir_okay=False, path_type=Path),
              help="tmux socket to create (default: a private directory under /tmp).")
@click.option("--group", help="Group whose members may connect (read-only); default: your primary group.")
@click.option("--session", help="tmux session name (default: deploy-HHMMSS).")
@click.option("--co-driver", "co_drivers", multiple=True, metavar="USER",
              help="A user who may type into the run too (repeatable).")
@click.option("--detach", is_flag=True, help="Do not attach this terminal; only print the commands.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def share(socket_path, group, session, co_drivers, detach, command) -> None:
    """Run COMMAND (a deploy: `-- deploytui run ...`) in a tmux session pairs can attach to."""
    from .follow.share import attach
    from .follow.share import share as start_share

    shared = start_share(list(command), socket=socket_path, group=group, session=session,
                         co_drivers=tuple(co_drivers))
    for line in shared.instructions():
        click.echo(line)
    if not detach and sys.stdin.isatty() and sys.stdout.isatty():
        sys.exit(attach(shared))


@main.command()
@click.argument("run_id", required=False)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0: any free port).")
@click.option("--no-token", is_flag=True, help="No access token in the URL (anyone who can reach it can watch).")
@journal_option
def serve(run_id: str | None, host: str, port: int, no_token: bool, journal_path: Path | None) -> None:
    """The read-only follower of a run, served to browsers (textual-serve) with an access token."""
    from .tui.serve import serve as start_serve

    if not _journal_exists(journal_path):
        raise UserError(f"{journal_path or 'the default journal'}: no journal yet (nothing has been run)", 2)
    start_serve(journal_path, run_id, host=host, port=port, token=not no_token,
                echo=lambda line: click.echo(line) or sys.stdout.flush())
