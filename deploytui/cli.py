"""The `deploytui` command. Heavy imports (Textual, boto3) happen inside the commands that need them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import RunbookError, UserError


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
                              envvar="DEPLOYTUI_JOURNAL",
                              help="Journal file (default: $DEPLOYTUI_JOURNAL, the settings' journal, or your user "
                                   "data dir).")

ENVIRONMENT = """\b
Environment variables deploytui reads:
  DEPLOYTUI_OPERATOR   who drives (else the settings' operator, else $USER)
  DEPLOYTUI_JOURNAL    the journal file (like --journal)
  DEPLOYTUI_CONFIG     the settings file (default: config.toml in your config dir)
  DEPLOYTUI_DEBUG      set: an internal error prints its traceback
  DEPLOYTUI_VAR_NAME   the value of runbook variable NAME (the way for secrets)
  PAGER                the pager `p` opens a step's full output in (default: less -R +G)
  VISUAL, EDITOR       the editor of core.edit steps
  TMUX                 inside tmux: copying goes through tmux's buffer
  AWS_*, GITHUB_TOKEN, GH_TOKEN, GITLAB_TOKEN, SLACK_WEBHOOK_URL: read by native actions (see the README)
\b
Settings: config.toml in your config dir (theme, operator, export_dir, journal; see the README).
Deploytui sets DEPLOYTUI_PROCESS and DEPLOYTUI_SECRET_* in the environment of the commands it runs."""


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]}, epilog=ENVIRONMENT)
@click.version_option(package_name="deploytui")
def main() -> None:
    """Drive a deploy runbook from the terminal, with a journal that proves what happened."""


def settings():
    """The settings file (tui/config.py): read once, when a command needs it."""
    from .tui.config import load

    global _settings
    if _settings is None:
        _settings = load()
    return _settings


_settings = None


def journal_of(path: Path | None) -> Path | None:
    """--journal or $DEPLOYTUI_JOURNAL, else the settings' journal, else None (the default place)."""
    return path or settings().journal_path()


def operator_of(name: str | None) -> str | None:
    """--operator or $DEPLOYTUI_OPERATOR, else the settings' operator, else None ($USER)."""
    return name or settings().operator


@main.command()
@click.argument("runbooks", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(runbooks: tuple[Path, ...]) -> None:
    """Validate and lint runbooks; print FILE:LINE problems and exit 2 if any."""
    from .integrations.registry import registry
    from .runbook.lint import check_file

    bad = 0
    for path in runbooks:
        book, problems = check_file(str(path), registry())
        for problem in problems:
            click.echo(str(problem), err=True)
        if any(not getattr(p, "warning", False) for p in problems):
            bad += 1
        else:
            n_sec = len({s.section for s in book.steps})
            click.echo(f"{path}: ok: {len(book.steps)} steps in {n_sec} sections, {len(book.vars)} variables")
    if bad:
        sys.exit(2)


def open_journal(path: Path | None, readonly: bool = False):
    from .journal import Journal

    return Journal(journal_of(path), readonly=readonly)


var_option = click.option("--var", "var_pairs", multiple=True, metavar="NAME=VALUE",
                          help="Set a runbook variable (repeatable).")


@main.command()
@click.argument("runbook", required=False, type=click.Path(path_type=Path))
@var_option
@click.option("--resume", "resume_id", metavar="RUN", help="Reopen a run from the journal and continue it.")
@click.option("--headless", is_flag=True, help="No screen: run auto steps and timers, stop when a person is needed.")
@click.option("--answers", type=click.Path(path_type=Path), help="TOML answers for checks, decisions and runs.")
@click.option("--break-lock", metavar="REASON", help="Take over a runbook+environment locked by another run.")
@click.option("--operator", metavar="NAME", envvar="DEPLOYTUI_OPERATOR",
              help="Who is driving (default: $DEPLOYTUI_OPERATOR, the settings' operator, or $USER).")
@click.option("--no-output", is_flag=True, help="Headless: do not print commands' output.")
@journal_option
def run(runbook, var_pairs, resume_id, headless, answers, break_lock, operator, no_output, journal_path) -> None:
    """Drive RUNBOOK (a full-screen app; --headless for pipelines and tests)."""
    start_run(runbook, var_pairs, resume_id, headless, answers, break_lock, operator, no_output, journal_path)


def start_run(runbook, var_pairs, resume_id, headless, answers, break_lock, operator, no_output, journal_path, *,
              time_scale: float = 1.0, rehearsal: bool = False, env: dict | None = None,
              extra_vars: dict | None = None, banner: list[str] | None = None, vet_values=None,
              faults: list[str] | None = None, seal: str = "") -> None:
    from .engine.ending import Ended, ending_signals, reason_for
    from .engine.headless import drive, load_answers, progress_printer
    from .engine.run import Run
    from .runbook.loader import load
    from .runbook.variables import parse_assignments, refuse_secrets_on_the_command_line, resolve

    if not runbook and not resume_id:
        raise UserError("give a RUNBOOK file, or --resume RUN", 2)
    journal_path, operator = journal_of(journal_path), operator_of(operator)
    given = parse_assignments(var_pairs)
    answer_set = load_answers(answers)
    book = load(runbook) if runbook else None
    if book is not None:
        refuse_unchecked(book)
    journal = open_journal(journal_path)
    refuse_secrets_on_the_command_line(book or _stored_runbook(journal, resume_id), given)
    if book is not None and not resume_id and not rehearsal:
        resume_id = _offer_resume(journal, book, headless, given, env)
    if headless:
        with ending_signals():
            if resume_id:
                the_run = Run.resume(journal, resume_id, operator=operator, env=env, book=book, given=given,
                                     headless=True)
            else:
                values, missing = resolve(book, {**(extra_vars or {}), **answer_set.vars, **given}, environ=env)
                if missing:
                    raise UserError(f"{book.path}: no value for {', '.join(missing)}: give --var NAME=VALUE", 2)
                if vet_values:
                    vet_values(values)
                the_run = Run.start(journal, book, values, operator=operator, time_scale=time_scale,
                                    rehearsal=rehearsal, env=env, break_lock=break_lock, headless=True,
                                    faults=faults, seal=seal)
            printer = progress_printer(the_run, click.echo, show_output=not no_output)
            for line in banner or []:
                printer(line)
            code, why, signum = 0, "the headless driver stopped", None
            try:
                code = drive(the_run, answer_set, printer)
            except Ended as e:
                code, why, signum = e.exit_code, e.reason, e.signum
            except KeyboardInterrupt:
                code, why, signum = 130, reason_for(2), 2
            finally:
                the_run.close(why, signal=signum)
        sys.exit(code)
    from .tui.app import run_app

    run_app(journal=journal, book=book, given=given, resume_id=resume_id, operator=operator,
            break_lock=break_lock, time_scale=time_scale, rehearsal=rehearsal, env=env,
            extra_vars=extra_vars or {}, banner=banner or [], faults=faults, seal=seal, config=settings())


def _stored_runbook(journal, run_id: str):
    from .runbook.loader import parse

    row = journal.run(run_id)
    return parse(row.runbook_text, row.path or "<journal>")


def refuse_unchecked(book) -> None:
    """`run` and `rehearse` refuse what `check` refuses: a runbook `check` finds wrong never starts."""
    from .integrations.registry import registry
    from .runbook.lint import errors

    problems = [str(p) for p in errors(book, registry())]
    if problems:
        raise RunbookError(problems + [f"{book.path}: fix the problems above before running it "
                                       f"(`deploytui check {book.path}` lists them)"])


@main.command()
@click.argument("runbook", type=click.Path(path_type=Path))
@var_option
@click.option("--time-scale", default=60.0, show_default=True, type=click.FloatRange(min=1.0),
              help="How much faster time passes: at 60 a 15 minute gate lasts 15 s.")
@click.option("--headless", is_flag=True, help="No screen: run auto steps and timers, stop when a person is needed.")
@click.option("--answers", type=click.Path(path_type=Path), help="TOML answers for checks, decisions and runs.")
@click.option("--operator", metavar="NAME", envvar="DEPLOYTUI_OPERATOR",
              help="Who is practising (default: $DEPLOYTUI_OPERATOR, the settings' operator, or $USER).")
@click.option("--no-output", is_flag=True, help="Headless: do not print commands' output.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the local world lives (default: a new temporary directory).")
@journal_option
def rehearse(runbook, var_pairs, time_scale, headless, answers, operator, no_output, workdir, journal_path) -> None:
    """Run the real RUNBOOK against a local world: moto AWS, local git remotes, a recording GitHub."""
    import tempfile

    from .runbook.loader import load
    from .sandbox.rehearse import build_world

    book = load(runbook)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="deploytui-rehearse-"))
    if not headless:
        click.echo(f"building the rehearsal world for {book.runbook.id} in {workdir} ...", err=True)
    world = build_world(book, workdir, time_scale)
    try:
        start_run(runbook, var_pairs, None, headless, answers, None, operator, no_output, journal_path,
                  time_scale=world.time_scale, rehearsal=True, env=world.env, extra_vars=world.vars,
                  banner=world.describe(), vet_values=world.refuse_outside)
    finally:
        recorded = world.recorded()
        if recorded:
            click.echo("recorded instead of sent:")
            for line in recorded:
                click.echo(f"  {line}")
        world.close()


def _offer_resume(journal, book, headless: bool, given: dict[str, str], env: dict | None) -> str | None:
    """An unfinished run of the same runbook and environment is offered for resuming (a person decides;
    headless never). One started with other values than the --var given here is offered with "no" as the
    answer Enter gives."""
    if headless or not sys.stdin.isatty():
        return None
    offer = resumable(journal, book, given, env)
    if offer is None:
        return None
    r, differ = offer
    from datetime import datetime

    since = datetime.fromtimestamp(r.started).strftime("%a %H:%M")
    note = f" (it has other values for {', '.join(differ)})" if differ else ""
    if click.confirm(f"Run {r.id} of {book.runbook.id} ({r.environment or '-'}, {r.operator}, since {since}) "
                     f"is unfinished{note}. Resume it?", default=not differ):
        return r.id
    return None


def resumable(journal, book, given: dict[str, str], env: dict | None):
    """(the unfinished run of this runbook *and environment*, the --var names whose values differ from it),
    or None. A run of another environment is never offered; when the environment cannot be known yet (the
    form will ask), nothing is offered rather than a guess."""
    from .runbook import templates
    from .runbook.variables import SECRET_VAR, resolve

    try:
        values, _missing = resolve(book, given, environ=env)
        environment = templates.render(book.runbook.environment, {**templates.builtins(), **values}) \
            if book.runbook.environment else ""
    except (UserError, templates.TemplateProblem):
        return None
    for r in journal.active_runs():
        if r.runbook_id == book.runbook.id and not r.rehearsal and (r.environment or "") == environment:
            differ = [k for k, v in given.items() if k in r.vars and str(r.vars[k]) not in (v, SECRET_VAR)]
            return r, differ
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

    return Path(journal_of(path) or default_path()).exists()


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
    feed = open_follow(journal_of(journal_path), run_id)
    from .tui.follow import run_follow

    run_follow(feed, config=settings())


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
    start_serve(journal_of(journal_path), run_id, host=host, port=port, token=not no_token,
                echo=lambda line: click.echo(line) or sys.stdout.flush())
