"""The `deploytui` command. Heavy imports (Textual, boto3) happen inside the commands that need them."""

from __future__ import annotations

import sys
from contextlib import closing
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
team_store_option = click.option("--team-store", "store_url", metavar="s3://BUCKET/PREFIX", envvar="DEPLOYTUI_TEAM_STORE",
                                 help="The team's shared store: runs are shipped there, blocks kept there.")

ENVIRONMENT = """\b
Environment variables deploytui reads:
  DEPLOYTUI_OPERATOR   who drives (else the settings' operator, else $USER)
  DEPLOYTUI_JOURNAL    the journal file (like --journal)
  DEPLOYTUI_CONFIG     the settings file (default: config.toml in your config dir)
  DEPLOYTUI_DEBUG      set: an internal error prints its traceback
  DEPLOYTUI_VAR_NAME   the value of runbook variable NAME (the way for secrets)
  DEPLOYTUI_PUBLISH    the socket a driver publishes its run on for followers (default: a private one per run)
  DEPLOYTUI_PUBLISH_GROUP  the group that may read that socket (`share --group` sets both)
  DEPLOYTUI_TEAM_STORE the team's store, s3://BUCKET/PREFIX (like --team-store)
  PAGER                the pager `p` opens a step's full output in (default: less -R +G)
  VISUAL, EDITOR       the editor of core.edit steps
  TMUX                 inside tmux: copying goes through tmux's buffer
  AWS_*, GITHUB_TOKEN, GH_TOKEN, GITLAB_TOKEN, SLACK_WEBHOOK_URL: read by native actions (see the README)
\b
Settings: config.toml in your config dir (theme, operator, export_dir, journal; see the README).
Deploytui sets DEPLOYTUI_PROCESS and DEPLOYTUI_SECRET_* in the environment of the commands it runs (a
rehearsal also DEPLOYTUI_REHEARSAL and DEPLOYTUI_WORLD_URL); DEPLOYTUI_REHEARSAL_SEAL and
DEPLOYTUI_REHEARSAL_VARS hand a rehearsal to its sealed process (never set them yourself)."""


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

            problems = [*problems, *gaps(book)]
        for problem in problems:
            click.echo(str(problem), err=True)
        if any(not getattr(p, "warning", False) for p in problems):
            bad += 1
        elif book is not None:
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
@click.option("--progress", type=click.Choice(["text", "jsonl"]), default="text", show_default=True,
              help="Headless: progress as lines for people, or one JSON object per line (README: Headless runs).")
@click.option("--team", "from_team", is_flag=True,
              help="With --resume: take over a run from the team store (one a CI runner left for a person).")
@journal_option
@team_store_option
def run(runbook, var_pairs, resume_id, headless, answers, break_lock, operator, no_output, progress, from_team,
        journal_path, store_url) -> None:
    """Drive RUNBOOK (a full-screen app; --headless for pipelines and tests)."""
    if progress != "text" and not headless:
        raise UserError("--progress jsonl is for --headless runs", 2)
    if from_team:
        if not resume_id:
            raise UserError("--team takes over a run: give --resume RUN", 2)
        resume_id = _take_over(store_url, resume_id, journal_of(journal_path))
    start_run(runbook, var_pairs, resume_id, headless, answers, break_lock, operator, no_output, journal_path,
              progress=progress, store_url=store_url)


def start_run(runbook, var_pairs, resume_id, headless, answers, break_lock, operator, no_output, journal_path, *,
              time_scale: float = 1.0, rehearsal: bool = False, env: dict | None = None,
              extra_vars: dict | None = None, banner: list[str] | None = None, vet_values=None,
              faults: list[str] | None = None, seal: str = "", clock=None, world: dict | None = None,
              progress: str = "text", store_url: str | None = None) -> None:
    from .engine.ending import Ended, Ending, ending_signals, reason_for
    from .engine.headless import drive, driver_line, exit_line, jsonl_printer, load_answers, progress_printer
    from .engine.run import Run
    from .fleet.pipeline import Pipeline, team_store
    from .runbook.loader import load
    from .runbook.variables import (
        clock_builtins,
        parse_assignments,
        refuse_secrets_on_the_command_line,
        resolve,
    )

    if not runbook and not resume_id:
        raise UserError("give a RUNBOOK file, or --resume RUN", 2)
    journal_path, operator = journal_of(journal_path), operator_of(operator)

    def fleet_store():
        """The team store, or the fleet's state beside the journal; a rehearsal never ships to the team's."""
        return team_store(None, journal_path, {}) if rehearsal else team_store(store_url, journal_path, env)
    given = parse_assignments(var_pairs)
    answer_set = load_answers(answers)
    book = load(runbook) if runbook else None
    if book is not None:
        refuse_unchecked(book)
        refuse_secrets_on_the_command_line(book, given)  # before the journal: a refusal creates no file
    journal = open_journal(journal_path)
    with closing(journal):  # folds the WAL into the file on every way out
        if resume_id and not rehearsal and journal.run(resume_id).rehearsal:
            raise UserError(f"run {resume_id} is a rehearsal: resume it in its world with "
                            f"`deploytui rehearse --resume {resume_id}`", 2)
        if book is None:  # a resume: the runbook the run was started with
            refuse_secrets_on_the_command_line(_stored_runbook(journal, resume_id), given)
        if book is not None and not resume_id and not rehearsal:
            resume_id = _offer_resume(journal, book, headless, given, env)
        if headless:
            ending = Ending()
            the_run = publisher = pipeline = None
            code, why, signum = 0, "the headless driver stopped", None
            with ending_signals(ending):
                try:
                    if resume_id:
                        the_run = Run.resume(journal, resume_id, operator=operator, env=env, book=book, given=given,
                                             headless=True, clock=clock)
                    else:
                        assert book is not None  # without --resume there is a RUNBOOK (refused above otherwise)
                        values, missing = resolve(book, {**(extra_vars or {}), **answer_set.vars, **given},
                                                  environ=env, builtins=clock_builtins(clock))
                        if missing:
                            raise UserError(f"{book.path}: no value for {', '.join(missing)}: give --var NAME=VALUE",
                                            2)
                        if vet_values:
                            vet_values(values)
                        store, shared = fleet_store()
                        pipeline = Pipeline.before(book, values, store, shared, operator)
                        the_run = Run.start(journal, book, values, operator=operator, time_scale=time_scale,
                                            rehearsal=rehearsal, env=env, break_lock=break_lock, headless=True,
                                            faults=faults, seal=seal, clock=clock, world=world)
                    if pipeline is None:  # a resumed run: its runbook is known now
                        store, shared = fleet_store()
                        pipeline = Pipeline(store, shared, the_run.book, the_run.state.info.get("app") or "")
                    pipeline.attach(the_run, journal)
                    publisher = publish(the_run)
                    for line in banner or []:  # before the run's events, which the printer replays
                        click.echo(driver_line(line, the_run.run_id) if progress == "jsonl" else line)
                    printer = (jsonl_printer if progress == "jsonl" else progress_printer)(
                        the_run, click.echo, show_output=not no_output)
                    ending.arm()  # a signal kept while the run started is raised here
                    code = drive(the_run, answer_set, printer)
                    pipeline.after(code)
                except Ended as e:
                    code, why, signum = e.exit_code, e.reason, e.signum
                except KeyboardInterrupt:
                    code, why, signum = 130, reason_for(2), 2
                finally:
                    ending.disarm()  # a second signal must not cut the closing short
                    if the_run is not None:
                        the_run.close(why, signal=signum)
                    if publisher is not None:
                        publisher.close()
                    if pipeline is not None and not pipeline.close() and the_run is not None:
                        click.echo(f"deploytui: the team store has not got all of run {the_run.run_id} yet: "
                                   "`deploytui sync` ships the rest", err=True)
            if progress == "jsonl":
                click.echo(exit_line(code, the_run.run_id if the_run is not None else None))
            sys.exit(code)
        from .tui.app import run_app

        publishers: list = []
        pipelines: list = []

        def fleet_board():
            """(read, where) for the app's fleet board (`F`) when the runbook is a fleet's."""
            the_book = book or (_stored_runbook(journal, resume_id) if resume_id else None)
            if the_book is None or the_book.fleet is None:
                return None
            from .fleet.blocks import board as read_board

            store, _shared = fleet_store()
            return (lambda: read_board(store)), store.where

        def before_start(values: dict[str, str]) -> None:
            """A run started on the screen is a fleet app's deploy too: refused (one line, exit 5, before it
            exists) while its app is blocked or an app it cannot deploy with is deploying."""
            if book is not None:
                store, shared = fleet_store()
                pipelines.append(Pipeline.before(book, values, store, shared, operator))

        def on_run(run) -> None:
            publishers.append(publish(run))
            if not pipelines or pipelines[-1].run is not None:  # a resumed run: claimed when it started
                store, shared = fleet_store()
                pipelines.append(Pipeline(store, shared, run.book, run.state.info.get("app") or ""))
            pipelines[-1].attach(run, journal)  # marked as deploying, shipped to the team store

        try:
            run_app(journal=journal, book=book, given=given, resume_id=resume_id, operator=operator,
                    break_lock=break_lock, time_scale=time_scale, rehearsal=rehearsal, env=env,
                    extra_vars=extra_vars or {}, banner=banner or [], faults=faults, seal=seal,
                    config=settings(), clock=clock, world=world, on_run=on_run, before_start=before_start,
                    fleet_board=fleet_board())
        finally:
            for publisher in filter(None, publishers):
                publisher.close()
            for pipeline in pipelines:
                pipeline.close()


def publish(run):
    """Publish the run for followers (follow/publish.py) on DEPLOYTUI_PUBLISH (default: a private per-run
    socket), readable by DEPLOYTUI_PUBLISH_GROUP when `share --group` set it. A socket that cannot be made
    is said once and never stops the deploy."""
    import os

    from .follow.publish import Publisher

    path = os.environ.get("DEPLOYTUI_PUBLISH")
    try:
        return Publisher(run, Path(path) if path else None, os.environ.get("DEPLOYTUI_PUBLISH_GROUP") or None).start()
    except (UserError, OSError) as e:
        run.note(f"followers must read the journal: the run could not be published ({e})")
        return None


@main.command()
@click.argument("run_id", metavar="RUN")
@click.option("--reason", required=True, help="Why the run ends here (it goes into the record).")
@click.option("--operator", metavar="NAME", help="Who ends it (default: $USER).")
@journal_option
@team_store_option
def abort(run_id: str, reason: str, operator: str | None, journal_path: Path | None, store_url: str | None) -> None:
    """End an open RUN as aborted, without opening it: what its stopped driver left running is ended and its
    lock is released. A run open in a live deploytui is aborted there instead."""
    from .engine.run import Run

    if not _journal_exists(journal_path):
        raise UserError(f"{journal_path or 'the default journal'}: no journal yet (nothing has been run)", 2)
    journal = open_journal(journal_path)
    run = Run.abort_closed(journal, run_id, reason, operator=operator)
    if run.book.fleet is not None:  # its app is no longer deploying
        from .fleet.blocks import clear_active
        from .fleet.pipeline import team_store

        clear_active(team_store(store_url, journal_path)[0], run.state.info.get("app") or "", run.run_id)
    click.echo(f"run {run.run_id} aborted: {reason.strip()}")


@main.command()
@click.argument("run_id", metavar="RUN")
@click.option("-o", "--output", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE instead of standard output.")
@journal_option
def answers(run_id: str, out_path: Path | None, journal_path: Path | None) -> None:
    """What the people of RUN did, as a TOML answers file: `run --headless --answers FILE` does it again
    (a rehearsal a person drove, replayed in CI)."""
    from .engine.headless import answers_toml

    if not _journal_exists(journal_path):
        raise UserError(f"{journal_path or 'the default journal'}: no journal yet (nothing has been run)", 2)
    journal = open_journal(journal_path, readonly=True)
    row = journal.run(run_id)
    text = answers_toml(journal.events(row.id), row.id)
    _write_out(out_path, "toml", lambda f: f.write(text))


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
@click.option("--operator", metavar="NAME", envvar="DEPLOYTUI_OPERATOR",
              help="Who is practising (default: $DEPLOYTUI_OPERATOR, the settings' operator, or $USER).")
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
    given = session.passed_vars(req)  # before the world: its environment replaces this process's
    world, book = session.open_world(req)
    try:
        start_run(book.path if book is not None and not resume_id else None, given, resume_id,
                  headless, answers, None, operator, no_output, req.journal,
                  time_scale=world.time_scale, rehearsal=True, env=world.env, extra_vars=world.vars,
                  banner=world.describe(), vet_values=lambda values: world.refuse_outside(values, book),
                  clock=world.clock, **world.started())
    finally:
        for line in session.close_world(world, req.journal):
            click.echo(line)


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
@click.option("--limit", default=30, show_default=True, help="How many runs, newest first (0: all).")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@click.option("--team", is_flag=True, help="The team's runs, from the team store (every laptop and CI runner).")
@journal_option
@team_store_option
def history(limit: int, as_json: bool, team: bool, journal_path: Path | None, store_url: str | None) -> None:
    """List runs: id, runbook, environment, operator, started, duration, outcome."""
    if team:
        _team_history(store_url, limit, as_json)
        return
    import json
    import time
    from datetime import datetime

    from .reports.timeline import run_json
    from .runbook.durations import format_duration

    journal = open_journal(journal_path, readonly=True) if _journal_exists(journal_path) else None
    rows = journal.runs(limit) if journal else []
    if as_json:
        click.echo(json.dumps([run_json(r) for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no runs yet")
        return
    click.echo(f"{'RUN':22} {'RUNBOOK':24} {'ENV':10} {'OPERATOR':12} {'STARTED':16} {'DURATION':9} OUTCOME")
    for r in rows:
        started = datetime.fromtimestamp(r.started).strftime("%Y-%m-%d %H:%M")
        duration = format_duration((r.finished or time.time()) - r.started)
        outcome = (r.outcome or "open") + (" (REHEARSAL)" if r.rehearsal else "")
        click.echo(f"{r.id:22} {r.runbook_id[:24]:24} {(r.environment or '-')[:10]:10} {r.operator[:12]:12} "
                   f"{started:16} {duration:9} {outcome}")


def _the_team_store(store_url: str | None, what: str):
    """The team store named, or one line saying how to name it."""
    from .fleet.pipeline import team_store

    store, shared = team_store(store_url, None)
    if not shared:
        raise UserError(f"{what} the team store: give --team-store s3://BUCKET/PREFIX (or set DEPLOYTUI_TEAM_STORE)",
                        2)
    return store


def _take_over(store_url: str | None, run_id: str, journal_path: Path | None) -> str:
    """Copy an open run of the team store into this journal, to resume it here; its chain goes on from the
    last event shipped, and what is added is shipped back."""
    from .fleet.team import Mirror
    from .journal import default_path

    mirror = Mirror(_the_team_store(store_url, "--team reads"), run_id, into=Path(journal_path or default_path()))
    mirror.journal.close()
    return mirror.run_id


def _team_history(store_url: str | None, limit: int, as_json: bool) -> None:
    from .fleet.team import team_history

    store = _the_team_store(store_url, "--team reads")
    _print_rows(team_history(store, limit), as_json, f"no runs in {store.where} yet",
                f"{'RUN':22} {'RUNBOOK':24} {'ENV':14} {'RELEASE':12} {'OPERATOR':20} OUTCOME",
                lambda r: f"{r['id']:22} {r['runbook_id'][:24]:24} {(r['environment'] or '-')[:14]:14} "
                          f"{(r['release'] or '-')[:12]:12} {r['operator'][:20]:20} {r['outcome']}")


def _print_rows(rows: list[dict], as_json: bool, empty: str, header: str, line) -> None:
    """A JSON array for scripts, or a header and one `line(row)` per row for people."""
    import json

    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif not rows:
        click.echo(empty)
    else:
        click.echo(header)
        for r in rows:
            click.echo(line(r))


def _team_journal(team: bool, store_url: str | None, run_id: str, journal_path: Path | None):
    """The journal to read a run from: the local one, or (--team) a copy of the run from the team store."""
    if not team:
        return _existing_journal(journal_path), run_id
    from .fleet.team import fetch_run

    store = _the_team_store(store_url, "--team reads")
    return fetch_run(store, run_id)


team_flag = click.option("--team", is_flag=True, help="Read the run from the team store, not this journal.")


@main.command()
@click.argument("app")
@click.option("--reason", required=True, help="Why (the team reads it when the pipeline refuses to start).")
@click.option("--operator", metavar="NAME", help="Who blocks it (default: $USER).")
@journal_option
@team_store_option
def block(app: str, reason: str, operator: str | None, journal_path: Path | None, store_url: str | None) -> None:
    """Block APP's pipeline: its runs refuse to start until someone unblocks it (kept in the team store,
    else beside the journal)."""
    _set_block(app, True, reason, operator, journal_path, store_url)


@main.command()
@click.argument("app")
@click.option("--reason", required=True, help="Why it may deploy again.")
@click.option("--operator", metavar="NAME", help="Who unblocks it (default: $USER).")
@journal_option
@team_store_option
def unblock(app: str, reason: str, operator: str | None, journal_path: Path | None, store_url: str | None) -> None:
    """Let APP's pipeline run again."""
    _set_block(app, False, reason, operator, journal_path, store_url)


def _set_block(app, blocked, reason, operator, journal_path, store_url) -> None:
    from .fleet import blocks
    from .fleet.pipeline import team_store
    from .runbook.templates import current_operator

    store, _shared = team_store(store_url, journal_path)
    before = blocks.block_of(store, app)
    if not blocked and before is None:
        raise UserError(f"{app} is not blocked: nothing to lift (store: {store.where})", 2)
    state = blocks.set_block(store, app, blocked, reason, operator or current_operator())
    click.echo(f"{app}: {'blocked' if blocked else 'unblocked'} by {state['by']} in {store.where}: {state['reason']}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@journal_option
@team_store_option
def board(as_json: bool, journal_path: Path | None, store_url: str | None) -> None:
    """The fleet board: every app's latest run, the stage it is at, how it ended, and whether it is blocked."""
    from .fleet.blocks import board as fleet_board
    from .fleet.pipeline import team_store

    store, _shared = team_store(store_url, journal_path)

    def line(r: dict) -> str:
        block = r.get("block")
        stage = (r.get("stage") or "-") + (" (dry)" if r.get("dry") else "")
        live = "yes" if r.get("deploying") else "stale mark" if r.get("stale") else "no"
        return (f"{r['app'][:20]:20} {(r.get('release') or '-')[:10]:10} {stage[:14]:14} "
                f"{(r.get('outcome') or '-')[:12]:12} {live:10} {(r.get('run') or '-'):22} "
                + (f"by {block['by']}: {block['reason']}" if block else "no"))

    _print_rows(fleet_board(store), as_json, f"no apps in {store.where} yet",
                f"{'APP':20} {'RELEASE':10} {'STAGE':14} {'OUTCOME':12} {'DEPLOYING':10} {'RUN':22} BLOCKED", line)


@main.command()
@click.argument("run_ids", nargs=-1, metavar="[RUN]...")
@journal_option
@team_store_option
def sync(run_ids: tuple[str, ...], journal_path: Path | None, store_url: str | None) -> None:
    """Ship to the team store what it has not got of the journal's runs (default: all of them): after an
    outage, or a run driven offline."""
    from .fleet.ship import sync as ship

    store = _the_team_store(store_url, "sync ships to")
    journal = _existing_journal(journal_path)
    ids = [journal.run(r).id for r in run_ids] or [r.id for r in journal.runs(limit=1_000_000)]
    failed = 0
    for run_id, problem in ship(store, journal, ids):
        click.echo(f"{run_id}: " + (f"NOT shipped: {problem}" if problem else f"in {store.where}"))
        failed += bool(problem)
    if failed:
        sys.exit(1)


def _journal_exists(path: Path | None) -> bool:
    from .journal import default_path

    return Path(journal_of(path) or default_path()).exists()


def _existing_journal(path: Path | None):
    if not _journal_exists(path):
        raise UserError(f"{path or 'the default journal'}: no journal yet (nothing has been run)", 2)
    return open_journal(path, readonly=True)


run_id_argument = click.argument("run_id", metavar="RUN")  # a run id, a unique prefix of one, or `last`


@main.command()
@run_id_argument
@click.option("--output/--no-output", "with_output", default=False, help="Include each step's output tail.")
@click.option("--json", "as_json", is_flag=True, help="The run and its events as JSON, for scripts.")
@team_flag
@journal_option
@team_store_option
def show(run_id: str, with_output: bool, as_json: bool, team: bool, journal_path: Path | None,
         store_url: str | None) -> None:
    """Print a run's timeline (RUN: an id, a unique prefix of one, or `last`)."""
    import json
    import shutil

    from .reports.timeline import timeline, timeline_json

    journal, run_id = _team_journal(team, store_url, run_id, journal_path)
    if as_json:
        click.echo(json.dumps(timeline_json(journal, run_id), indent=2, ensure_ascii=False, default=str))
        return
    width = shutil.get_terminal_size((100, 24)).columns
    for line in timeline(journal, run_id, with_output=with_output, width=width):
        click.echo(line)


format_option = click.option("--format", "fmt", type=click.Choice(["md", "html", "json", "pdf"]), default="md",
                             show_default=True)
output_option = click.option("-o", "--output", "out_path", type=click.Path(dir_okay=False, path_type=Path),
                             help="Write to FILE instead of standard output.")
summary_option = click.option("--summary", is_flag=True,
                              help="Markdown short enough for a Jira description (32,767 characters).")


def _write_out(out_path: Path | None, fmt: str, write) -> None:
    binary = fmt == "pdf"
    if out_path is None:
        if binary and sys.stdout.isatty():
            raise UserError("a PDF on a terminal is unreadable: give -o FILE.pdf (or redirect the output)", 2)
        write(sys.stdout.buffer if binary else sys.stdout)
        return
    try:
        with open(out_path, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            write(f)
    except OSError as e:
        raise UserError(f"{out_path}: cannot write: {e.strerror or e}") from None
    click.echo(f"wrote {out_path}", err=True)


def _ask_plan_vars(book, values: dict) -> dict[str, str]:
    """A plan shows the commands that will run, so it needs every non-secret value: asked on a terminal,
    refused in one line without one. Returns the values asked."""
    from .reports.plan import needed_vars
    from .runbook.variables import problem

    missing = needed_vars(book, values)
    asked: dict[str, str] = {}
    if not missing:
        return asked
    if not sys.stdin.isatty():
        raise UserError(f"{book.path}: the plan needs {', '.join(missing)}: give "
                        + " ".join(f"--var {n}=VALUE" for n in missing), 2)
    for name in missing:
        spec = book.vars[name]
        choices = click.Choice(spec.choices) if spec.choices else None
        while True:
            value = click.prompt(spec.prompt or spec.description or name, type=choices, err=True)
            why = problem(name, spec, str(value))
            if not why:
                asked[name] = str(value)
                break
            click.echo(f"deploytui: {why}", err=True)
    return asked


@main.command()
@click.argument("runbook", type=click.Path(path_type=Path))
@var_option
@click.option("--at", "at_text", metavar="'YYYY-MM-DD HH:MM'",
              help="When the deploy is planned (in the deploy window's time zone): checked against the schedule.")
@format_option
@output_option
@summary_option
@journal_option
def plan(runbook: Path, var_pairs, at_text: str | None, fmt: str, out_path: Path | None, summary: bool,
         journal_path: Path | None) -> None:
    """The deploy plan for CAB review, before the deploy (durations from the journal's earlier runs)."""
    from datetime import datetime

    from .reports.export import write_plan
    from .reports.plan import parse_at
    from .runbook.loader import load
    from .runbook.templates import builtins
    from .runbook.variables import parse_assignments, refuse_secrets_on_the_command_line, resolve

    book = load(runbook)
    given = parse_assignments(var_pairs)
    refuse_secrets_on_the_command_line(book, given)
    at = None
    if at_text:
        tz = book.schedule.window.tz if book.schedule and book.schedule.window else None
        try:
            at = parse_at(at_text, tz)
        except ValueError:
            raise UserError(f"--at {at_text!r}: expected a date and time like '2026-11-24 10:00'", 2) from None
    # `today` and the defaults made from it are those of the planned day
    day = builtins(datetime.fromtimestamp(at).astimezone()) if at else None
    values, _missing = resolve(book, given, builtins=day)
    asked = _ask_plan_vars(book, values)
    if asked:  # defaults made of the values asked follow from them
        values, _missing = resolve(book, {**given, **asked}, builtins=day)
    journal = open_journal(journal_path, readonly=True) if _journal_exists(journal_path) else None
    try:
        _write_out(out_path, fmt, lambda f: write_plan(book, f, values, fmt, at=at, journal=journal,
                                                       summary=summary))
    finally:
        if journal is not None:
            journal.close()


@main.command()
@run_id_argument
@format_option
@output_option
@summary_option
@click.option("--full-output", is_flag=True, help="Every line of every step's output (default: the last 40).")
@click.option("--sign-with", "key", type=click.Path(dir_okay=False, path_type=Path),
              help="Sign the written record with this SSH private key (ssh-keygen -Y sign): FILE.sig beside it.")
@team_flag
@journal_option
@team_store_option
def export(run_id: str, fmt: str, out_path: Path | None, summary: bool, full_output: bool, key: Path | None,
           team: bool, journal_path: Path | None, store_url: str | None) -> None:
    """The deploy record of a run for CAB review, after the deploy (RUN: an id, a unique prefix, or `last`)."""
    from .reports.export import write_record

    if key is not None and out_path is None:
        raise UserError("--sign-with signs a file: give -o FILE too", 2)
    journal, run_id = _team_journal(team, store_url, run_id, journal_path)
    _write_out(out_path, fmt, lambda f: write_record(journal, run_id, f, fmt, full_output, summary=summary))
    if key is not None and out_path is not None:
        from .reports.signing import sign

        click.echo(f"signed: {sign(out_path, key)}", err=True)


@main.command()
@click.argument("run_id", required=False)
@click.option("--expect", metavar="HASH", help="The final hash the chain must end at (a record prints it).")
@click.option("--record", "record_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A record: its JSON holds the final hash; with --signature, check who signed it.")
@click.option("--signature", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="The record's .sig.")
@click.option("--allowed-signers", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="ssh-keygen's allowed signers file: who may sign records.")
@click.option("--identity", help="The signer the signature must be from (as in the allowed signers file).")
@team_flag
@journal_option
@team_store_option
def verify(run_id, expect, record_path, signature, allowed_signers, identity, team, journal_path, store_url) -> None:
    """Was anything in a run's record changed, removed or reordered? Exit 0 intact, 1 with where it breaks."""
    import json

    if signature is not None:
        from .reports.signing import check

        if not (record_path and allowed_signers and identity):
            raise UserError("checking a signature needs --record, --allowed-signers and --identity", 2)
        click.echo(check(record_path, signature, allowed_signers, identity))
    if run_id is None:
        if signature is None:
            raise UserError("give a RUN to verify (or --record with --signature)", 2)
        return
    if record_path is not None and expect is None:
        try:
            expect = json.loads(record_path.read_text())["run"]["chain"]["final"]
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{record_path}: not a JSON deploy record with a final hash (export --format json)", 2) \
                from None
    journal, run_id = _team_journal(team, store_url, run_id, journal_path)
    verdict = journal.verify(journal.run(run_id).id, expect)
    if not verdict.intact:
        click.echo(f"run {verdict.run_id}: NOT INTACT: {verdict.problems[0]}", err=True)
        sys.exit(1)
    click.echo(f"run {verdict.run_id}: intact: {verdict.events} events chained, final hash {verdict.final}")


# ---- following a deploy (issue 7) --------------------------------------------------------------------


@main.command()
@click.argument("run_id", required=False)
@click.option("--socket", "socket_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Follow the run the driver publishes on this socket (no access to the journal needed).")
@click.option("--sign", is_flag=True, help="Let this pair sign off steps that ask for it (key A), as themselves.")
@click.option("--team", is_flag=True, help="Follow a run from the team store (a CI pipeline, from a laptop).")
@journal_option
@team_store_option
def follow(run_id: str | None, socket_path: Path | None, sign: bool, team: bool, journal_path: Path | None,
           store_url: str | None) -> None:
    """A read-only screen of a run (default: the one being driven now), with its own size and scroll.

    It follows the driver's published socket when there is one (cheap for the driver, and the way for a pair
    of another Unix user, or on another machine through an SSH forward of the socket), else the journal."""
    from .follow.feed import follow as open_follow
    from .tui.follow import run_follow

    feed = None
    if team:
        import threading

        from .fleet.team import Mirror, team_history

        store = _the_team_store(store_url, "--team reads")
        if run_id is None:
            open_runs = [r for r in team_history(store, 200) if r["outcome"] == "open"]
            if not open_runs:
                raise UserError(f"no open run in {store.where}: give a RUN (see `deploytui history --team`)", 2)
            run_id = open_runs[0]["id"]
        mirror = Mirror(store, run_id)
        stop = threading.Event()
        mirror.keep_up(stop)
        try:
            run_follow(open_follow(mirror.path, mirror.run_id))
        finally:
            stop.set()
        return
    if socket_path is None:
        if not _journal_exists(journal_path):
            raise UserError(f"{journal_path or 'the default journal'}: no journal yet (nothing has been run); "
                            "a pair of another user gives --socket PATH", 2)
        feed = open_follow(journal_of(journal_path), run_id)
        driver = feed.journal.driver(feed.run_id)
        if driver and driver.get("socket") and not feed.stopped and Path(driver["socket"]).exists():
            socket_path = Path(driver["socket"])
            feed.close()
            feed = None
    if feed is not None:
        if sign:
            raise UserError("signing off goes through the driver's published socket, and this run has none live", 2)
        run_follow(feed, config=settings())
        return
    from .follow.client import SocketFollow

    assert socket_path is not None  # given, or found beside the journal's live driver
    run_follow(SocketFollow(socket_path), sign=sign, config=settings())


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
                echo=_echo_now)


def _echo_now(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()
