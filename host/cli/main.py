"""The ``exechost`` command: its parser, and the ``config``, ``check`` and ``plugins`` commands."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import exechost
import pluggy
from exechost.api import build_executor, journal_path
from exechost.autoload import unknown_tables
from exechost.cli.plugins import COLUMNS, PROBLEMS, plugin_reports
from exechost.cli.resume import Unadopted
from exechost.cli.run import run_batch
from exechost.cli.runs import show_runs
from exechost.cli.taskfile import command_task, read_json_lines, read_task_file
from exechost.config import (
    DEFAULT_EXECUTOR,
    SEARCH_ORDER,
    Config,
    PluginSettings,
    Source,
    Value,
    env_name,
    load_config,
)
from exechost.discovery import PLUGINS_GROUP, find_entries
from exechost.errors import ConfigError, ExecHostError
from exechost.executor import Executor
from exechost.journal import DEFAULT_JOURNAL
from exechost.multi import load_executors
from exechost.text import shown
from rich.console import Console
from rich.markup import escape

USAGE_ERROR = 2
"""The exit status of a usage or configuration error."""

OUTPUT_MODES = ("grouped", "quiet")
BROKEN_PIPE = 128 + signal.SIGPIPE
"""The exit status when standard output is closed early (``| head``), as a shell reports a tool
that SIGPIPE stopped."""

START_DEADLINE = 60.0
"""How long ``exechost check`` waits for each executor's backend to start and end."""

PLAIN_HEADLINE = ("kind", "name", "distribution", "version", "status")
"""The columns of ``exechost plugins`` on each plugin's first line outside a wide terminal; the
others follow on lines of their own."""

CONFIG_HELP = f"""\
configuration (the first found is used):
{chr(10).join(f"  {n}. {place}" for n, place in enumerate(SEARCH_ORDER, 1))}
precedence, highest first: command-line options, EXECHOST_* environment variables, the file,
the defaults. Any key has a variable: EXECHOST_PARALLELISM=8, EXECHOST_EXECUTOR=gpu,
EXECHOST_EXECUTORS__GPU__PARALLELISM=1, EXECHOST_PLUGINS__AUTOLOAD=false. `exechost config`
shows the effective values and where each comes from."""

RUN_HELP = f"""\
task files:
  TOML   [[tasks]] tables:  key = ["etl", "load"]  command = ["python3", "load.py"]
         optional: priority = 10, queue = "io", executor = "gpu", executor_config = {{timeout = 60}}
  JSON   {{"tasks": [{{"key": "a", "command": ["true"]}}, ...]}}
  JSONL  one JSON task object per line, in a .jsonl file (read a line at a time)
  -      one JSON task object per line on standard input
  -- CMD ARG...   a single command, run as one task

routing: a task runs on the executor it names, else on the executor whose `queues` list its
queue, else on the default executor ({DEFAULT_EXECUTOR!r} unless configured).

journal: every run is recorded in .exechost/journal.sqlite (the `journal` key or --journal
changes where, `journal = false` or --no-journal turns it off); `exechost runs` lists the runs.
After a killed or interrupted run, `exechost run --resume TASKFILE` skips the tasks that
succeeded, adopts those still running where the backend can, and runs the rest.

exit status: 0 every task succeeded, 1 a task failed (or a backend could not start),
2 usage or configuration error, 128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM, 141 when
standard output is closed early, as by `| head`); a stop terminates every running task and
prints the partial summary.

examples:
  exechost run --config examples/exechost.toml examples/tasks.toml
  exechost run --resume --config examples/exechost.toml examples/tasks.toml
  exechost run --parallelism 8 --log-dir logs tasks.json
  exechost run --executor sequential -- python3 -c 'print("hello")'
  printf '{{"key": "a", "command": ["true"]}}\\n' | exechost run -

{CONFIG_HELP}"""


def build_parser() -> argparse.ArgumentParser:
    """The ``exechost`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="exechost",
        description="Run commands on pluggable executors (local processes, Celery, Dask, ...) "
        "chosen in exechost.toml.",
        epilog="Run `exechost COMMAND --help` for a command's options.\n\n" + CONFIG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"exechost {exechost.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, epilog: str = CONFIG_HELP) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument(
            "--config", metavar="PATH", help="the configuration file (instead of the search)"
        )
        sub.set_defaults(subparser=sub)
        return sub

    run = command("run", "Run a batch of tasks and sum up how they went.", RUN_HELP)
    run.add_argument(
        "taskfile",
        nargs="?",
        metavar="TASKFILE",
        help="a .toml or .json task file, or - for JSON lines on standard input "
        "(or give `-- CMD ARG...` instead)",
    )
    run.add_argument("--executor", metavar="NAME", help="the default executor for this run")
    run.add_argument(
        "--parallelism",
        type=_count,
        metavar="N",
        help="at most N tasks at once across all executors (0: no limit); also the parallelism "
        "of each executor that sets none",
    )
    run.add_argument(
        "--log-dir", metavar="DIR", help="where task logs go (every executor that writes logs)"
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="print every task's outcome as JSON on standard output (progress goes to stderr)",
    )
    run.add_argument(
        "--output",
        choices=OUTPUT_MODES,
        help="grouped: print each task's output whole when it ends, on standard output (progress "
        "and summary go to stderr); quiet: only in the logs. Default: grouped for `-- CMD`, "
        "quiet for a task file",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="resume the journal's last run of TASKFILE: skip the tasks that succeeded, adopt "
        "the unfinished ones a backend can take over, run the rest",
    )
    run.add_argument(
        "--unadopted",
        choices=[policy.value for policy in Unadopted],
        default=Unadopted.RERUN.value,
        help="with --resume, what to do with a task whose earlier attempt was not finished and "
        "no backend could adopt (it may have run): run it again, or fail it (default: %(default)s)",
    )
    _report_option(
        run,
        "write the run's HTML report to PATH at its end (a timeline of every task, "
        "the failed and the slowest ones)",
    )
    _journal_options(run)

    runs = command(
        "runs",
        "List the journaled runs of this directory, newest first, or one run's tasks: their "
        "state, attempt, exit status, log and error.",
    )
    runs.add_argument("run_id", nargs="?", type=int, metavar="RUN", help="the run to show")
    runs.add_argument("--json", action="store_true", help="print it as JSON")
    runs.add_argument(
        "--limit", type=_count, default=20, metavar="N", help="list at most N runs (default 20)"
    )
    _report_option(runs, "with RUN, write its HTML report to PATH instead of listing its tasks")
    _journal_options(runs)

    config = command("config", "Show the effective configuration and where each value is from.")
    config.add_argument("--json", action="store_true", help="print it as JSON")

    command(
        "check",
        "Check the configuration and import every configured backend and observer plugin; "
        "exit 1 listing every problem.",
    )

    plugins = command(
        "plugins",
        "List the installed executor backends and observer plugins (from metadata: nothing is "
        "imported unless --check).",
    )
    plugins.add_argument("--json", action="store_true", help="print the list as JSON")
    plugins.add_argument(
        "--check",
        action="store_true",
        help="import each plugin: report import errors, executors that do not support this "
        "exechost's API version, and each executor's capabilities (exit 1 on any problem)",
    )
    return parser


def _report_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--report", metavar="PATH", help=help_text)


def _journal_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--journal",
        metavar="PATH",
        help=f"the journal file (default: the `journal` key, else {DEFAULT_JOURNAL})",
    )
    where.add_argument("--no-journal", action="store_true", help="record nothing")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``exechost`` command; return its exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in args_list:
        split = args_list.index("--")
        args_list, command = args_list[:split], args_list[split + 1 :]
    parser = build_parser()
    args = parser.parse_args(args_list)
    if command and args.command != "run":
        args.subparser.error("`-- CMD ARG...` is only for `exechost run`")
    if args.command == "run" and args.taskfile is not None and command:
        args.subparser.error("give a TASKFILE or `-- CMD ARG...`, not both")
    if args.command == "run" and args.taskfile is None and not command:
        args.subparser.error("give a TASKFILE, - for JSON lines on stdin, or `-- CMD ARG...`")
    if args.command == "run" and args.resume and args.taskfile in (None, "-"):
        args.subparser.error("--resume needs a TASKFILE: runs are found by their task file")
    if args.command == "run" and args.resume and args.no_journal:
        args.subparser.error("--resume reads the journal: it cannot go with --no-journal")
    if args.command == "runs" and args.report is not None and args.run_id is None:
        args.subparser.error("--report needs a RUN: `exechost runs RUN --report PATH`")
    if getattr(args, "report", None) is not None and not Path(args.report).parent.is_dir():
        args.subparser.error(f"--report: no folder {shown(str(Path(args.report).parent))!r}")
    if args.command == "run":
        if args.output is None:
            args.output = "grouped" if command and not args.json else "quiet"
        if args.output == "grouped" and args.json:
            args.subparser.error("--json and --output grouped both write to standard output")
    stdout_taken = args.command == "run" and (args.json or args.output == "grouped")
    human = _Console(stderr=stdout_taken, soft_wrap=True, emoji=False)
    try:
        if args.command == "run":
            return _run(args, command, human)
        if args.command == "config":
            return _config(args, human)
        if args.command == "check":
            return _check(args, human)
        if args.command == "runs":
            return show_runs(_journal(args, _load_config(args)), args, human)
        return _plugins(args, human)
    except (ExecHostError, pluggy.PluginValidationError) as exc:
        _error(str(exc))
        return USAGE_ERROR
    except BrokenPipeError:  # `exechost ... | head`: stop quietly, as SIGPIPE stops other tools
        _discard_stdout()
        return BROKEN_PIPE


class _Console(Console):
    """A console that lets a closed pipe raise :class:`BrokenPipeError` (rich's exits with 1)."""

    def on_broken_pipe(self) -> None:
        _discard_stdout()
        raise BrokenPipeError


def _discard_stdout() -> None:
    """Send what is still written to standard output (a closed pipe) to ``/dev/null``."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _error(message: str) -> None:
    Console(stderr=True, soft_wrap=True, emoji=False).print(
        f"[bold red]exechost: error:[/] {_markup(message)}", highlight=False
    )


def _markup(text: str) -> str:
    """Untrusted text, shown escaped, inside rich markup."""
    return escape(shown(text, keep_newlines=True))


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0 (0: no limit), got {text!r}")
    return value


def _load_config(args: argparse.Namespace) -> Config:
    options = {}
    for key in ("executor", "parallelism"):
        value = getattr(args, key, None)
        if value is not None:
            options[key] = Value(value, Source("option", f"--{key}"))
    return load_config(args.config, options=options)


def _run(args: argparse.Namespace, command: list[str], console: Console) -> int:
    if command:
        tasks = [command_task(command)]
    elif args.taskfile == "-":
        tasks = read_json_lines(sys.stdin)
    else:
        tasks = read_task_file(args.taskfile)
    config = _load_config(args)
    journal = _journal(args, config)
    log_dir, temporary = args.log_dir, None
    if log_dir is None and not any(
        "log_dir" in config.section(name).settings for name in config.executor_names()
    ):
        if journal is not None:  # beside the journal, where a resumed run finds them
            log_dir = str(journal.parent / "logs")
        else:  # one folder for the run, removed at its end if every task succeeded
            log_dir = temporary = tempfile.mkdtemp(prefix="exechost-logs-")
    settings = {} if log_dir is None else {"log_dir": log_dir}
    try:
        executors = load_executors(config, journal=journal or False, **settings)
        return run_batch(
            tasks,
            executors,
            console,
            json_output=args.json,
            grouped=args.output == "grouped",
            temporary_logs=temporary,
            taskfile=None if args.taskfile in (None, "-") else str(Path(args.taskfile).resolve()),
            resume_policy=Unadopted(args.unadopted) if args.resume else None,
            report=args.report,
        )
    except BaseException as exc:  # nothing ran: the run's log folder holds nothing to keep
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        if not isinstance(exc, exechost.BackendError):
            raise
        _error(f"{exc}; no task ran")
        return 1


def _journal(args: argparse.Namespace, config: Config) -> Path | None:
    """The journal the command uses: the option's, else the configuration's, else the default
    one; ``None`` for none."""
    return None if args.no_journal else journal_path(config, args.journal, DEFAULT_JOURNAL)


def _config(args: argparse.Namespace, console: Console) -> int:
    config = _load_config(args)
    rows = [
        (key, value.value, str(value.source), env_name(*key.split(".")))
        for key, value in config.values.items()
    ]
    if args.json:
        document = {
            "file": None if config.file is None else str(config.file),
            "search_order": list(SEARCH_ORDER),
            "values": {key: {"value": v, "source": s, "env": e} for key, v, s, e in rows},
            "ignored_variables": list(config.ignored_variables),
        }
        print(json.dumps(document, indent=2, default=str))
        return 0
    where = config.file or f"none found, defaults apply (searched: {'; '.join(SEARCH_ORDER)})"
    console.print(f"# configuration file: {shown(str(where))}", markup=False)
    tables: dict[str, list[tuple[str, str | None, str]]] = {}
    for key, value, source, _ in rows:
        table, _, name = key.rpartition(".")
        tables.setdefault(table, []).append((name, _toml(value), source))
    width = max(len(name) + len(value or "") for rows in tables.values() for name, value, _ in rows)
    for table, entries in tables.items():
        if table:
            console.print(f"\n[{shown(table)}]", markup=False)
        for name, value, source in entries:
            line = f"{name} = {value}" if value is not None else f"# {name} is not set"
            console.print(shown(f"{line:<{width + 5}} # {source}"), markup=False)
    for variable in config.ignored_variables:
        console.print(f"# ignored: {shown(variable)} (names no configuration key)", markup=False)
    console.print(
        "\n# Each key can be set by an environment variable: EXECHOST_ and the key's path in "
        "capitals, with __ between tables, e.g. " + f"{rows[1][3]}, {rows[-1][3]}",
        markup=False,
    )
    return 0


def _check(args: argparse.Namespace, console: Console) -> int:
    try:
        config = _load_config(args)
    except ConfigError as exc:
        console.print(f"[red]problem[/] {_markup(str(exc))}", highlight=False)
        return 1
    problems = 0
    console.print(f"[green]ok[/] configuration: {config.file or 'defaults (no file)'}")
    for name in config.executor_names():
        try:
            executor = build_executor(config, name)
        except (ExecHostError, pluggy.PluginValidationError) as exc:
            problems += 1
            console.print(f"[red]problem[/] executor {name}: {_markup(str(exc))}", highlight=False)
            continue
        problem = _try_start(executor)
        if problem is not None:
            problems += 1
            console.print(f"[red]problem[/] executor {_markup(name)}: {_markup(problem)}")
            continue
        section = config.section(name)
        queues = f", queues {', '.join(section.queues)}" if section.queues else ""
        default = " (default)" if name == config.default_executor else ""
        console.print(
            f"[green]ok[/] executor {_markup(name)}{default}: backend {section.backend.value}, "
            f"parallelism {executor.parallelism or 'unlimited'}{queues}",
            highlight=False,
        )
    if config.plugins.autoload:
        for problem in unknown_tables(config.plugins, find_entries(PLUGINS_GROUP)):
            problems += 1
            console.print(f"[red]problem[/] {_markup(problem)}", highlight=False)
    for report in plugin_reports(config.plugins, check=True):
        if report.kind != "observer":
            continue
        if report.status in PROBLEMS:
            problems += 1
            console.print(
                f"[red]problem[/] observer plugin {_markup(report.name)}: {_markup(report.detail)}"
            )
        else:
            console.print(
                f"[green]{report.status}[/] observer plugin {_markup(report.name)}", highlight=False
            )
    if problems:
        console.print(f"[bold red]{problems} problem{'s' * (problems > 1)}[/]")
        return 1
    console.print("[bold green]everything is ready[/]")
    return 0


def _try_start(executor: Executor) -> str | None:
    """Start ``executor`` as ``run`` would, and end it; what went wrong, or ``None``.

    A backend that connects somewhere (a broker, a scheduler) does so when it starts, so this
    is what finds a service that does not answer.
    """
    errors: list[str] = []

    def start_and_end() -> None:
        try:
            executor.start()
            executor.end()
        except Exception as exc:  # any failure to start is the answer sought
            errors.append(str(exc) or type(exc).__name__)

    thread = threading.Thread(target=start_and_end, name="exechost-check", daemon=True)
    thread.start()
    thread.join(START_DEADLINE)
    if thread.is_alive():
        return f"its backend did not start within {START_DEADLINE:.0f}s"
    return errors[0] if errors else None


def _plugins(args: argparse.Namespace, console: Console) -> int:
    try:
        settings = _load_config(args).plugins
    except ConfigError as exc:
        Console(stderr=True, soft_wrap=True, emoji=False).print(
            f"[yellow]warning:[/] {_markup(str(exc))}", highlight=False
        )
        settings = PluginSettings()
    reports = plugin_reports(settings, check=args.check)
    if args.json:
        print(json.dumps([r.__dict__ for r in reports], indent=2))
    else:
        # capabilities are known only for imported backends: no empty column without --check
        columns = [(h, cell) for h, cell in COLUMNS if args.check or h != "capabilities"]
        rows = [[shown(cell(report)) for _, cell in columns] for report in reports]
        from rich.table import Table  # only here: every other command starts without it

        table = Table(*(header for header, _ in columns), box=None)
        for row in rows:
            table.add_row(*map(escape, row))
        if console.is_terminal and console.measure(table).maximum <= console.width:
            console.print(table)
        else:  # a pipe, a log or a narrow terminal: plain lines, nothing cut
            console.print(" ".join(PLAIN_HEADLINE), markup=False)
            for row in rows:
                cells = dict(zip((header for header, _ in columns), row, strict=True))
                console.print(" ".join(cells.pop(h) for h in PLAIN_HEADLINE), markup=False)
                for header, value in cells.items():
                    if value:
                        console.print(f"  {header}: {value}", markup=False)
    return 1 if any(r.status in PROBLEMS for r in reports) else 0


def _toml(value: Any) -> str | None:
    """A value as TOML writes it; ``None`` (which TOML lacks) for a key that is not set."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value)
