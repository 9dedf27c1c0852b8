"""The old way: the seed system's material-list update, one ORM row at a time.

WICS replaces a Django application (calvinc-org-10/WICS-3) whose material list was updated from
an SAP spreadsheet row by row. This module reproduces that way of working as fairly as it can,
so that the benchmark compares like with like on the same MM60 file:

- a Django model holding the MM60 fields of a material x plant (unique together, indexed on the
  material number, as the seed's ``MaterialList``);
- the workbook read with openpyxl in read-only mode, as the seed read it, and the header row
  mapped to fields by label;
- inside that same loop, one ``update_or_create`` per row, with Django's defaults (autocommit:
  every call is its own transaction: a SELECT ... FOR UPDATE, then an UPDATE or INSERT);
- then the rows missing from the file deleted. Here the old way is given the benefit of the
  doubt: one set-based ``DELETE`` per chunk of 500 ids instead of a ``delete()`` per row.

It does less than WICS does (no validation, no number-format detection, no duplicate collapsing,
no change history or report), which also favours it.

The seed ran on a database server: its last committed ``settings.py`` (deleted from the repository
in April 2023) points Django at MySQL (MariaDB on the developer's machine, MySQL on PythonAnywhere),
an earlier one at CockroachDB, and its ``architecture.md`` says "Django-based web application
backed by MySQL". Against a server every ORM call is a round trip through the database client and
every autocommitted row a durable commit, which is where the seed's minutes went. The benchmark
therefore runs the old way on a real PostgreSQL server (``benchmarks/postgres.py`` starts a
throwaway local cluster; MySQL is not on the machine, PostgreSQL is the server database at
hand) and falls back to a SQLite file when no server can be started, saying which it used.
Django is configured in-process (``settings.configure``); the table is created with the schema
editor, as ``migrate --run-syncdb`` would.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

# Labels of the MM60 workbook (long SAP labels, as the generator writes them) -> model field.
FIELDS = {
    "Material": "material",
    "Plant": "plant",
    "Material Description": "description",
    "Material Type": "material_type",
    "Material Group": "material_group",
    "Base Unit of Measure": "base_uom",
    "ABC Indicator": "abc_indicator",
    "Price": "price",
    "Price Unit": "price_unit",
    "Currency": "currency",
}
DELETE_CHUNK = 500

_model: Any = None


def sqlite_database(path: Path) -> dict[str, Any]:
    """Django's settings for a SQLite file."""
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}


def postgres_database(connection: dict[str, Any]) -> dict[str, Any]:
    """Django's settings for a PostgreSQL server (``host`` may be a unix-socket folder)."""
    return {"ENGINE": "django.db.backends.postgresql", "NAME": connection["dbname"],
            "USER": connection["user"], "HOST": connection["host"],
            "PORT": str(connection.get("port", 5432))}


def setup(database: Path | dict[str, Any]) -> Any:
    """Configure Django on a database (a SQLite file, or Django's settings of one such as
    ``postgres_database``), create the table and return the model class.

    Django can be configured once per process: the benchmark runs this in a fresh one.
    """
    global _model
    if _model is not None:
        return _model
    import django
    from django.conf import settings

    settings.configure(
        DATABASES={"default": database if isinstance(database, dict)
                   else sqlite_database(database)},
        INSTALLED_APPS=[],
        USE_TZ=False,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()
    from django.db import connection, models

    class MaterialList(models.Model):
        material = models.CharField(max_length=100)
        plant = models.CharField(max_length=20, blank=True, default="")
        description = models.CharField(max_length=250, blank=True, default="")
        material_type = models.CharField(max_length=100, blank=True, default="")
        material_group = models.CharField(max_length=100, blank=True, default="")
        base_uom = models.CharField(max_length=20, blank=True, default="")
        abc_indicator = models.CharField(max_length=5, blank=True, default="")
        price = models.FloatField(null=True, blank=True, default=0.0)
        price_unit = models.PositiveIntegerField(null=True, blank=True, default=1)
        currency = models.CharField(max_length=20, blank=True, default="")

        class Meta:
            app_label = "seed"
            constraints = [
                models.UniqueConstraint(fields=["material", "plant"], name="seed_material_plant"),
            ]
            indexes = [models.Index(fields=["material"])]

    with connection.schema_editor() as editor:
        editor.create_model(MaterialList)
    _model = MaterialList
    return MaterialList


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def update_material_list(path: Path) -> dict[str, Any]:
    """Apply one MM60 workbook the old way; returns rows read, created, updated and deleted."""
    from openpyxl import load_workbook

    model = _model
    if model is None:
        raise RuntimeError("call setup() first")
    started = time.perf_counter()
    book = load_workbook(path, read_only=True)
    sheet = book.active
    rows = sheet.iter_rows(values_only=True)
    header = next(rows)
    column = {FIELDS[label]: i for i, label in enumerate(header) if label in FIELDS}
    if "material" not in column:
        raise ValueError(f"{path.name}: no Material column in the first row")
    seen: set[int] = set()
    created = read = 0
    for row in rows:
        if row is None or all(v is None for v in row):
            continue
        read += 1
        values = {name: row[i] for name, i in column.items()}
        record, was_created = model.objects.update_or_create(
            material=_text(values["material"]),
            plant=_text(values.get("plant")),
            defaults={
                "description": _text(values.get("description")),
                "material_type": _text(values.get("material_type")),
                "material_group": _text(values.get("material_group")),
                "base_uom": _text(values.get("base_uom")),
                "abc_indicator": _text(values.get("abc_indicator")),
                "price": values.get("price"),
                "price_unit": values.get("price_unit"),
                "currency": _text(values.get("currency")),
            },
        )
        seen.add(record.pk)
        created += was_created
    book.close()
    loop_seconds = time.perf_counter() - started
    missing = [pk for pk in model.objects.values_list("pk", flat=True) if pk not in seen]
    for start in range(0, len(missing), DELETE_CHUNK):
        model.objects.filter(pk__in=missing[start:start + DELETE_CHUNK]).delete()
    seconds = time.perf_counter() - started
    return {
        "rows": read,
        "created": created,
        "updated": read - created,
        "deleted": len(missing),
        "materials": model.objects.count(),
        "loop_seconds": loop_seconds,
        "seconds": seconds,
    }
