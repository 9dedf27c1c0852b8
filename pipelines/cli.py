"""The ``wics`` command: load a file, write an MM60's change report, write and load demo data,
start the whole system, show the settings, back the warehouse up and restore it."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.access import Role
from pipelines.accounts import (
    AccountError,
    accounts_path,
    add_account,
    get_account,
    list_accounts,
    normalise_name,
    remove_account,
)
from pipelines.background import Ahead
from pipelines.ingest.after_load import Refreshed, after_load_or_pending, refresh_pending
from pipelines.ingest.load import LoadResult, load_file
from pipelines.settings import ConfigError, Settings, describe_settings, get_settings

if TYPE_CHECKING:  # Dagster is imported when a command needs it, not at start
    from dagster import DagsterInstance

REPO_ROOT = Path(__file__).resolve().parent.parent
console = Console(stderr=False, highlight=False)


def _print_result(result: LoadResult, refreshed: list[str], reported: str | None) -> None:
    summary = result.summary
    colour = {"loaded": "green", "duplicate": "yellow"}.get(result.status, "red")
    console.print(f"[bold {colour}]{result.status.upper()}[/] {result.file_name} "
                  f"(load {result.load_id}, {result.kind or 'unrecognised'})")
    table = Table(show_header=False, box=None, padding=(0, 2))
    rows: list[tuple[str, object]] = [
        ("format", f"{summary.get('format', '')} {summary.get('encoding') or ''}".strip()),
        ("rows read", f"{result.rows_read:,}"),
        ("rows loaded", f"{result.rows_loaded:,}"),
    ]
    if result.snapshot_date:
        rows.append(("snapshot date", result.snapshot_date.isoformat()))
    if summary.get("skipped_rows"):
        rows.append(("skipped", ", ".join(f"{n} {k}" for k, n in summary["skipped_rows"].items())))
    if result.kind == "mm60" and result.status == "loaded":
        rows += [(name, f"{summary.get(name, 0):,}")
                 for name in ("added", "removed", "changed", "reactivated")]
        if summary.get("changed_fields"):
            rows.append(("changed fields", ", ".join(
                f"{f} {n}" for f, n in summary["changed_fields"].items())))
        if summary.get("collapsed_keys"):
            keys = ", ".join(f"{c['material']}/{c['plant']} rows {c['rows']}"
                             for c in summary["collapsed"][:10])
            rows.append(("collapsed duplicates", f"{summary['collapsed_keys']}: {keys}"))
    if result.kind == "mb52" and result.status == "loaded":
        rows.append(("replaced lines", f"{summary.get('replaced_lines', 0):,}"))
        if summary.get("unknown_materials"):
            rows.append(("not in material master", f"{summary['unknown_materials']:,} "
                         f"(e.g. {', '.join(summary['unknown_examples'][:5])})"))
    if result.kind == "count_sheet" and result.status == "loaded":
        rows += [("counted", summary.get("counted", 0)),
                 ("locations only", summary.get("locations_only", 0))]
    if result.status == "loaded":
        rows.append(("time", f"parse {result.parse_seconds:.2f} s, "
                             f"database {result.db_seconds:.2f} s"))
    rows += [("refreshed", name) for name in refreshed]
    if result.forced:
        rows.append(("forced", "yes: loaded knowingly despite " + (
            "; ".join(summary.get("forced_past", [])) or "having been loaded before")))
    if reported:
        rows.append(("dagster", reported))
    if result.moved_to:
        rows.append(("file now at", str(result.moved_to)))
    for name, value in rows:
        table.add_row(f"[dim]{name}[/]", str(value))
    console.print(table)
    if result.error:
        console.print(f"[{colour}]{result.error}[/]")
    if result.status == "rejected" and result.forceable:
        console.print(f"If the file is right, load it anyway: wics load --force "
                      f"\"{result.moved_to}\"")


def load_command(args: argparse.Namespace) -> int:
    settings = get_settings()
    _ensure_dagster_home(settings)
    path = Path(args.path)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.fields[rows]}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(f"reading {path.name}", total=None, rows="")

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(task, description=f"{phase} {path.name}", completed=done,
                       total=total or None, rows=f"{done:,}/{total:,} rows" if total else "")

        # Dagster imported and its instance opened while the file loads (the load spends its
        # time in polars and DuckDB, outside the GIL; Dagster's modules are not the load's).
        dagster = Ahead("wics-dagster", _open_dagster_instance, settings, daemon=True)
        # Refreshes left unfinished by a load that crashed come first (idempotent).
        leftovers = refresh_pending(settings)
        try:
            result = load_file(path, as_of=args.as_of, settings=settings, progress=progress,
                               force=args.force)
        except FileNotFoundError as error:
            console.print(f"[red]{error}[/]")
            return 2
        bar.update(task, description=f"refreshing after {path.name}")
        refreshed = (after_load_or_pending(result.load_id, settings)
                     if result.status == "loaded" else None)
        if result.status == "loaded" and refreshed is None:
            console.print("[yellow]Loaded, but the refresh after it failed (load_log."
                          "refresh_error); the next load or sensor tick retries it.[/]")
        reported = _report_to_dagster(dagster, result, refreshed, settings)
    lines = [f"load {r.load_id} (left unfinished): {line}" for r in leftovers
             for line in r.lines()]
    _print_result(result, lines + (refreshed.lines() if refreshed else []), reported)
    return 0 if result.ok else 1


def _open_dagster_instance(settings: Settings) -> DagsterInstance:
    from pipelines.defs.load_report import open_instance  # Dagster: about a second to import

    return open_instance(settings)


def _report_to_dagster(opening: Ahead[DagsterInstance], result: LoadResult,
                       refreshed: Refreshed | None, settings: Settings) -> str:
    """Record the load in Dagster with the instance opened while it loaded; if that opening
    failed, ``report_to_dagster`` opens it again and says what went wrong."""
    from pipelines.defs.load_report import report_to_dagster

    instance = None
    with contextlib.suppress(Exception):
        instance = opening.result()
    return report_to_dagster(result, refreshed, settings, instance)


def changes_command(args: argparse.Namespace) -> int:
    """Write the change report of an MM60 load (default: the latest) as xlsx."""
    from pipelines.reports.change_report import (
        mm60_load,
        report_file_name,
        write_load_change_report,
    )
    from pipelines.warehouse.db import warehouse

    settings = get_settings()
    load_id, path = args.load_id, args.path
    if load_id is not None and not load_id.isdigit() and path is None:
        load_id, path = None, load_id  # `wics changes out.xlsx`: the latest load's report
    if load_id is not None and not load_id.isdigit():
        console.print(f"[red]{load_id} is not a load number.[/]")
        return 2
    if not settings.database.exists():
        console.print(f"[red]There is no warehouse at {settings.database}.[/]")
        return 2
    try:
        with warehouse(settings.database, read_only=True) as con:
            number, _ = mm60_load(con, int(load_id) if load_id is not None else None)
        target = Path(path) if path else settings.reports_dir / report_file_name(number)
        started = time.perf_counter()
        number, written = write_load_change_report(target, number, database=settings.database)
    except LookupError as error:
        console.print(f"[red]{error}[/]")
        return 1
    console.print(f"[green]Change report[/] of load {number} written to {written} "
                  f"({time.perf_counter() - started:.1f} s)")
    return 0


def backup_command(args: argparse.Namespace) -> int:
    """Export the whole warehouse to a folder (default ``backups/wics-<timestamp>/``)."""
    from pipelines.warehouse.backup import backup_warehouse
    from pipelines.warehouse.db import WarehouseBusyError

    settings = get_settings()
    if not settings.database.exists():
        console.print(f"[red]There is no warehouse at {settings.database} to back up.[/]")
        return 2
    try:
        target, removed = backup_warehouse(
            settings, target=Path(args.path) if args.path else None)
    except (FileExistsError, WarehouseBusyError) as error:
        console.print(f"[red]Backup failed: {error}[/]")
        return 1
    size = sum(p.stat().st_size for p in target.iterdir())
    console.print(f"[green]Backed up[/] {settings.database} to {target} ({size / 2**20:,.1f} MiB)")
    for old in removed:
        console.print(f"[dim]removed old backup {old.name}[/]")
    return 0


def restore_command(args: argparse.Namespace) -> int:
    """Replace the warehouse with a backup; the replaced file is kept aside."""
    from pipelines.warehouse.backup import RestoreError, restore_warehouse

    settings = get_settings()
    try:
        restored = restore_warehouse(settings, Path(args.path))
    except RestoreError as error:
        console.print(f"[red]Not restored: {error}[/]")
        return 1
    console.print(f"[green]Restored[/] {restored.database} from {Path(args.path).resolve()}")
    table = Table(show_header=False, box=None, padding=(0, 2))
    for name, rows in restored.tables.items():
        table.add_row(f"[dim]{name}[/]", f"{rows:,} rows")
    console.print(table)
    if restored.replaced:
        console.print(f"The replaced warehouse is kept as {restored.replaced}")
    return 0


def _ensure_dagster_home(settings: Settings) -> None:
    settings.ensure_dirs()
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    config = Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml"
    if not config.exists():
        config.write_text((REPO_ROOT / "pipelines" / "dagster.yaml").read_text())


def _remember_demo_counters(settings: Settings, counters: tuple[str, ...]) -> None:
    """Give the demo's counting team to every later process (the load runs, `wics up`) by
    writing it into wics.toml, unless counters are configured already."""
    if settings.counters:
        return
    path = settings.toml_file
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    names = ", ".join(f'"{name}"' for name in counters)
    path.write_text(f"{existing.rstrip()}\n# written by `wics demo`: the demo's counting team\n"
                    f"counters = [{names}]\n".lstrip(), encoding="utf-8")
    console.print(f"the demo's counters {', '.join(counters)} are in {path}")


def demo_command(args: argparse.Namespace) -> int:
    """Write a demo drop, load it through the Dagster jobs, then add a quarter of counting."""
    from pipelines.demo.warehouse import DEMO_COUNTERS, fill_demo_history, write_demo_drop
    from pipelines.warehouse.db import query, warehouse

    started = time.perf_counter()
    settings = get_settings()
    _ensure_dagster_home(settings)
    loaded = query("SELECT count(*) FROM load_log WHERE status = 'loaded'",
                   path=settings.database).item()
    if loaded and not args.reset:
        console.print(f"Demo data already loaded in {settings.home} ({loaded} files); "
                      "`wics demo --reset` starts over.")
        _demo_accounts(settings.home)
        return 0
    if args.reset:
        from pipelines.warehouse.db import forget_schema

        for target in (settings.database, settings.drop_dir, settings.archive_dir,
                       settings.rejected_dir, settings.reports_dir):
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        forget_schema(settings.database)
        settings.ensure_dirs()
    _remember_demo_counters(settings, DEMO_COUNTERS)
    today = date.today()
    files = write_demo_drop(settings.drop_dir, today=today, materials=args.materials,
                            seed=args.seed)
    from pipelines.defs.launch import load_through_dagster, plan_counts_through_dagster

    failed = 0
    for path in files:
        result = load_through_dagster(path)
        colour = "green" if result.success else "red"
        console.print(f"[{colour}]{'loaded' if result.success else 'FAILED'}[/] {path.name} "
                      f"(Dagster run {result.run_id[:8]})")
        failed += not result.success
    _demo_accounts(settings.home)
    if failed:
        return 1
    loads_done = time.perf_counter()
    with warehouse(settings.database) as con:
        history = fill_demo_history(con, today=today, seed=args.seed,
                                    config=get_settings().counting)
    console.print(
        f"counting history from {history.first_day}: {history.count_rows:,} count rows, "
        f"{history.recounts_done:,} recounts done, {history.open_recounts:,} open; "
        f"today {history.today_counted:,} of {history.today_scheduled:,} scheduled lines "
        f"counted; {history.scheduled_ahead:,} lines planned up to {history.schedule_to}")
    # The counting assets materialized in Dagster from that state (today's lines kept), so
    # the UI shows the plan, the variances and the accuracy at once.
    plan = plan_counts_through_dagster(include_today=False)
    colour = "green" if plan.success else "red"
    console.print(f"[{colour}]{'planned' if plan.success else 'FAILED'}[/] the count schedule "
                  f"(Dagster run {plan.run_id[:8]})")
    if not plan.success:
        return 1
    console.print(f"demo ready in {time.perf_counter() - started:.1f} s (loads "
                  f"{loads_done - started:.1f} s, counting history {history.seconds:.1f} s)")
    return 0


def config_command(args: argparse.Namespace) -> int:
    """Print every setting, its effective value and where it came from (one line each, never
    wrapped or cut: paths are long)."""
    settings = get_settings()
    rows = describe_settings(settings)
    name_width = max(len(name) for name, _, _ in rows)
    value_width = min(max(len(value) for _, value, _ in rows), 60)
    for name, value, origin in rows:
        console.print(f"{name:<{name_width}}  {value:<{value_width}}  {origin}",
                      soft_wrap=True, markup=False)
    console.print(f"wics.toml: {settings.toml_file}"
                  f"{'' if settings.toml_file.is_file() else ' (not there)'}",
                  soft_wrap=True, markup=False)
    return 0


def _read_password(name: str) -> str:
    """The new password from standard input: typed twice at a terminal, else its first line."""
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"Password for {name}: ")
        if getpass.getpass("Again: ") != password:
            raise AccountError("the two passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


def users_command(args: argparse.Namespace) -> int:
    """Local accounts in WICS_HOME/users.json: add (password from stdin), list, remove."""
    home = get_settings().home
    try:
        if args.action == "add":
            password = None if args.oidc else _read_password(args.name)
            account = add_account(home, args.name, args.role, password, replace=args.replace)
            kind = "identity-provider role mapping" if args.oidc else "account"
            console.print(f"{kind} [bold]{account.name}[/] ({account.role.value}) saved "
                          f"in {accounts_path(home)}")
        elif args.action == "remove":
            remove_account(home, args.name)
            console.print(f"removed {normalise_name(args.name)}")
        else:
            table = Table("user", "role", "signs in with", "created", box=None, padding=(0, 2))
            for account in list_accounts(home):
                table.add_row(account.name, account.role.value,
                              "password" if account.has_password else "identity provider",
                              account.created_at)
            console.print(table if table.row_count else "no accounts yet")
    except AccountError as error:
        console.print(f"[red]{error}[/]")
        return 2
    return 0


def _demo_accounts(home: Path) -> None:
    """One account per role with a random password, printed once (kept only as hashes)."""
    console.print("\n[bold]Demo accounts[/] (sign in to the dashboard with these):")
    for role in Role:
        if get_account(home, role.value) is not None:
            console.print(f"  {role.value:<8} exists already; `wics users add {role.value} "
                          f"--role {role.value} --replace` sets a new password")
            continue
        password = secrets.token_urlsafe(12)
        add_account(home, role.value, role, password)
        console.print(f"  user [bold]{role.value:<8}[/] password [bold]{password}[/]")


def up_command(args: argparse.Namespace) -> int:
    """Start Dagster (webserver + daemon) and the Streamlit dashboard; Ctrl-C stops both."""
    settings = get_settings()
    _ensure_dagster_home(settings)
    host = args.host or settings.host
    dagster_port = args.dagster_port or settings.dagster_port
    dashboard_port = args.dashboard_port or settings.dashboard_port
    env = {**os.environ, "WICS_HOME": str(settings.home)}
    bin_dir = Path(sys.executable).parent
    commands = [
        # Warnings and errors only: the daemon's info lines include one per sensor tick.
        [str(bin_dir / "dg"), "dev", "-w", str(REPO_ROOT / "workspace.yaml"),
         "-h", host, "-p", str(dagster_port),
         "--log-level", args.log_level or settings.dagster_log_level],
        [str(bin_dir / "streamlit"), "run", str(REPO_ROOT / "dashboard" / "streamlit_app.py"),
         "--server.port", str(dashboard_port), "--server.address", host,
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
    ]
    if settings.oidc_configured:
        from pipelines.oidc import write_streamlit_secrets

        secrets_file = write_streamlit_secrets(
            settings, f"http://{host}:{dashboard_port}/oauth2callback")
        commands[1] += ["--secrets.files", str(secrets_file)]
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]Serving on {host}: Dagster's UI has no sign-in of its own; "
                      "put it behind a reverse proxy that adds one (README).[/]")

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # `kill` stops both servers like Ctrl-C does

    signal.signal(signal.SIGTERM, stop)
    processes = [subprocess.Popen(c, cwd=REPO_ROOT, env=env) for c in commands]
    console.print(f"Dagster UI:  http://{host}:{dagster_port}\n"
                  f"Dashboard:   http://{host}:{dashboard_port}\n"
                  f"Drop folder: {settings.drop_dir}\nCtrl-C stops both.")
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    return max((p.returncode or 0) for p in processes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wics", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    load = commands.add_parser("load", help="load one MM60, MB52 or count sheet file")
    load.add_argument("path", help="the file to load")
    load.add_argument("--as-of", type=date.fromisoformat, default=None,
                      help="snapshot date YYYY-MM-DD (default: from the file name, else mtime)")
    load.add_argument("--force", action="store_true",
                      help="load knowingly a file refused only as suspiciously small or as an "
                      "older MM60 (or the same bytes again); load_log records it as forced")
    load.set_defaults(handler=load_command)

    changes = commands.add_parser(
        "changes", help="write the change report (xlsx) of an MM60 load")
    changes.add_argument("load_id", nargs="?", metavar="LOAD_ID",
                         help="an MM60 load (default: the latest)")
    changes.add_argument("path", nargs="?", metavar="PATH",
                         help="the xlsx to write (default: WICS_HOME/reports/"
                         "material_changes_load<N>.xlsx)")
    changes.set_defaults(handler=changes_command)

    demo = commands.add_parser("demo", help="write demo SAP exports and load them via Dagster")
    demo.add_argument("--materials", type=int, default=2000, help="material × plant rows")
    demo.add_argument("--reset", action="store_true", help="empty the warehouse first")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the demo data")
    demo.set_defaults(handler=demo_command)

    backup = commands.add_parser("backup", help="export the whole warehouse to a folder")
    backup.add_argument("path", nargs="?", default=None,
                        help="a new folder (default: WICS_HOME/backups/wics-<timestamp>, the "
                             "last WICS_BACKUPS_KEEP kept)")
    backup.set_defaults(handler=backup_command)

    restore = commands.add_parser(
        "restore", help="replace the warehouse with a backup (refused while a load runs)")
    restore.add_argument("path", help="a folder written by `wics backup`")
    restore.set_defaults(handler=restore_command)

    up = commands.add_parser("up", help="start Dagster and the Streamlit dashboard")
    up.add_argument("--host", help="default WICS_HOST")
    up.add_argument("--dagster-port", type=int, help="default WICS_DAGSTER_PORT")
    up.add_argument("--dashboard-port", type=int, help="default WICS_DASHBOARD_PORT")
    up.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"],
                    help="Dagster's terminal log level (default WICS_DAGSTER_LOG_LEVEL, "
                    "warning: no line per sensor tick)")
    up.set_defaults(handler=up_command)

    config = commands.add_parser(
        "config", help="print the effective settings and where each came from")
    config.set_defaults(handler=config_command)
    users = commands.add_parser("users", help="local accounts of the dashboard and their roles")
    user_actions = users.add_subparsers(dest="action", required=True)
    add = user_actions.add_parser(
        "add", help="add an account; its password is read from standard input, never argv")
    add.add_argument("name", help="user name (letters, digits, . _ @ + -), or an e-mail")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--replace", action="store_true",
                     help="give an existing account a new password and role")
    add.add_argument("--oidc", action="store_true",
                     help="no password: the role of this identity-provider user (e-mail)")
    user_actions.add_parser("list", help="list the accounts and their roles")
    remove = user_actions.add_parser("remove", help="remove an account")
    remove.add_argument("name")
    users.set_defaults(handler=users_command)

    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as error:
        console.print(f"Configuration error: {error}", style="red", markup=False, soft_wrap=True)
        return 2


def run() -> None:
    """The ``wics`` command."""
    exit_without_teardown(main())


def exit_without_teardown(code: int) -> None:
    """End the process as a normal exit would, less the interpreter's teardown.

    Tearing down every module once Dagster, polars and DuckDB are imported takes 0.3-0.6 s,
    longer than many commands. Nothing is skipped that matters: the threads are waited for
    and the exit handlers run (one closes the warehouse) as at a normal exit; only the
    freeing of memory the process gives back anyway is left out.
    """
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    run()
