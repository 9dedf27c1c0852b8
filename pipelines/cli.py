"""The ``wics`` command: load a file, write and load demo data, start the whole system, back
the warehouse up and restore it."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.ingest.after_load import refresh_after_load
from pipelines.ingest.load import LoadResult, load_file
from pipelines.settings import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
console = Console(stderr=False, highlight=False)


def _print_result(result: LoadResult, refreshed: list[str]) -> None:
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
    if result.moved_to:
        rows.append(("file now at", str(result.moved_to)))
    for name, value in rows:
        table.add_row(f"[dim]{name}[/]", str(value))
    console.print(table)
    if result.error:
        console.print(f"[{colour}]{result.error}[/]")


def load_command(args: argparse.Namespace) -> int:
    settings = get_settings()
    path = Path(args.path)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.fields[rows]}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(f"reading {path.name}", total=None, rows="")

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(task, description=f"{phase} {path.name}", completed=done,
                       total=total or None, rows=f"{done:,}/{total:,} rows" if total else "")

        try:
            result = load_file(path, as_of=args.as_of, settings=settings, progress=progress,
                               force=args.force)
        except FileNotFoundError as error:
            console.print(f"[red]{error}[/]")
            return 2
        refreshed = refresh_after_load(result, settings) if result.status == "loaded" else []
    _print_result(result, refreshed)
    return 0 if result.ok else 1


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


def demo_command(args: argparse.Namespace) -> int:
    """Write realistic demo exports into drop/ and load them through the Dagster jobs."""
    from pipelines.demo.exports import write_demo_exports
    from pipelines.warehouse.db import query

    settings = get_settings()
    _ensure_dagster_home(settings)
    loaded = query("SELECT count(*) FROM load_log WHERE status = 'loaded'",
                   path=settings.database).item()
    if loaded and not args.reset:
        console.print(f"Demo data already loaded in {settings.home} ({loaded} files); "
                      "`wics demo --reset` starts over.")
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
    # Dated yesterday and today, so the demo's freshness checks are green.
    files = write_demo_exports(settings.drop_dir, materials=args.materials,
                               stock_rows=args.materials * 3,
                               start=date.today() - timedelta(days=1))
    from pipelines.defs.launch import load_through_dagster

    failed = 0
    for path in files:
        result = load_through_dagster(path)
        colour = "green" if result.success else "red"
        console.print(f"[{colour}]{'loaded' if result.success else 'FAILED'}[/] {path.name} "
                      f"(Dagster run {result.run_id[:8]})")
        failed += not result.success
    return 1 if failed else 0


def up_command(args: argparse.Namespace) -> int:
    """Start Dagster (webserver + daemon) and the Streamlit dashboard; Ctrl-C stops both."""
    settings = get_settings()
    _ensure_dagster_home(settings)
    env = {**os.environ, "WICS_HOME": str(settings.home)}
    bin_dir = Path(sys.executable).parent
    commands = [
        [str(bin_dir / "dagster"), "dev", "-w", str(REPO_ROOT / "workspace.yaml"),
         "-h", args.host, "-p", str(args.dagster_port)],
        [str(bin_dir / "streamlit"), "run", str(REPO_ROOT / "dashboard" / "streamlit_app.py"),
         "--server.port", str(args.dashboard_port), "--server.address", args.host,
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
    ]
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # `kill` stops both servers like Ctrl-C does

    signal.signal(signal.SIGTERM, stop)
    processes = [subprocess.Popen(c, cwd=REPO_ROOT, env=env) for c in commands]
    console.print(f"Dagster UI:  http://{args.host}:{args.dagster_port}\n"
                  f"Dashboard:   http://{args.host}:{args.dashboard_port}\n"
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
                      help="load even if the same bytes were loaded before")
    load.set_defaults(handler=load_command)

    demo = commands.add_parser("demo", help="write demo SAP exports and load them via Dagster")
    demo.add_argument("--materials", type=int, default=2000, help="material × plant rows")
    demo.add_argument("--reset", action="store_true", help="empty the warehouse first")
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
    up.add_argument("--host", default=os.environ.get("WICS_HOST", "127.0.0.1"))
    up.add_argument("--dagster-port", type=int, default=int(os.environ.get("WICS_DAGSTER_PORT",
                                                                           "3000")))
    up.add_argument("--dashboard-port", type=int,
                    default=int(os.environ.get("WICS_DASHBOARD_PORT", "8501")))
    up.set_defaults(handler=up_command)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
