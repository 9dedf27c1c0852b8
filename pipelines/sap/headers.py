"""SAP column labels: the one table of header synonyms, and what kind of export a header is.

SAP prints a column's short, medium or long label depending on column width and user settings,
in the logon language. Labels are compared after ``label_key``: lower case, every run of
punctuation or spaces folded into one space (``Stor. Loc.`` = ``stor loc``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class ExportKind(StrEnum):
    MM60 = "mm60"
    MB52 = "mb52"
    COUNT_SHEET = "count_sheet"


# Canonical field -> labels seen in SAP exports (English short/medium/long, German) and in
# count sheets. Keep each label in exactly one field.
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "material": (
        "Material", "Material Number", "Material No", "Material No.", "Matl", "Mat.", "Matnr",
        "Materialnummer", "Material-Nr", "Materialnr",
    ),
    "plant": ("Plnt", "Plant", "Werk", "Wrk"),
    "storage_location": (
        "SLoc", "Stor. Loc.", "Stor Loc", "Storage Location", "Stor.Location", "Storage Loc.",
        "Lagerort", "LOrt", "LGort",
    ),
    "description": (
        "Material Description", "Material description", "Description", "Matl Description",
        "Material Text", "Short Text", "Materialkurztext", "Materialbezeichnung",
        "Bezeichnung", "Kurztext",
    ),
    "base_uom": (
        "BUn", "Base Unit of Measure", "Base Unit", "Base UoM", "BUoM", "UoM", "Unit",
        "Basismengeneinheit", "BME", "Basis-ME",
    ),
    "batch": ("Batch", "Charge"),
    "special_stock": (
        "S", "Special Stock", "Special Stock Indicator", "Spec. Stock", "SpecStk",
        "Sonderbestand", "Sonderbestandskennzeichen", "SoBest", "SB",
    ),
    "currency": ("Crcy", "Currency", "Curr.", "Waehrung", "Währung", "Whrg"),
    # MB52 stock columns
    "unrestricted": (
        "Unrestricted", "Unrestr.", "Unrestricted Stock", "Unrestricted Use",
        "Unrestricted-Use Stock", "Unrestricted use stock", "Frei verwendbar",
        "Frei verwendb.", "Frei verw.", "Freier Bestand",
    ),
    "quality_inspection": (
        "In Quality Insp.", "Quality Inspection", "In Qual. Insp.", "Qual. Insp.",
        "Stock in Quality Inspection", "In Quality Inspection", "Qualitätsprüfung",
        "In Qualitätsprüfung", "Qualitätsprüfbestand", "Q-Bestand",
    ),
    "restricted": (
        "Restricted-Use", "Restricted-Use Stock", "Restricted Use", "Restricted",
        "Restr.-Use", "Restricted-Use Stk", "Eingeschränkt verwendbar",
        "Eingeschr. verw.", "Nicht frei verwendbar",
    ),
    "blocked": ("Blocked", "Blocked Stock", "Gesperrt", "Gesperrter Bestand", "Sperrbestand"),
    "returns": ("Returns", "Blocked Returns", "Returns Stock", "Retouren", "Retourensperrbestand"),
    "in_transit": (
        "Transit/Transf.", "In Transit", "Transit and Transfer", "Stock in Transit",
        "Transit/Transfer", "In Transfer", "Transfer", "Umlagerung", "Transit/Umlag.",
        "Umlagerungsbestand",
    ),
    "value_unrestricted": (
        "Value Unrestricted", "Value Unrestr.", "Val. Unrestricted", "Value of Unrestricted",
        "Value of Unrestricted Stock", "Wert frei verwendbar", "Wert frei verw.",
        "Wert Frei", "Value Unrestricted Stock",
    ),
    # MM60 master columns
    "material_type": ("MTyp", "Material Type", "Mat. Type", "Matl Type", "Materialart", "MArt"),
    "material_group": (
        "Matl Group", "Material Group", "Mat. Group", "Matl Grp", "Warengruppe", "WGr",
    ),
    "abc_indicator": ("ABC", "ABC Indicator", "ABC Ind.", "ABC-Kennzeichen", "ABC Kz"),
    "price": (
        "Price", "Standard Price", "Std Price", "Moving Price", "Moving Avg. Price",
        "Preis", "Standardpreis", "Gleitender Preis",
    ),
    "price_unit": ("per", "Price Unit", "Price unit", "PEH", "Preiseinheit", "Pr. Unit"),
    "valuation_type": (
        "Valuation Type", "Val. Type", "ValTy", "Valuation type", "Bewertungsart", "BwTar",
    ),
    "last_change": (
        "Last Change", "Last Changed", "Changed On", "Changed on", "Last Chg.",
        "Letzte Änderung", "Geändert am", "Änderungsdatum",
    ),
    # Count sheets (ours, printed and filled in by counters)
    "count_date": ("Count Date", "Counted On", "Date", "Zähldatum", "Datum"),
    "location": ("Location", "Bin", "Storage Bin", "Bin Location", "Lagerplatz", "Platz"),
    "quantity": (
        "Counted Qty", "Counted Quantity", "Count Qty", "Quantity Counted", "Qty Counted",
        "Counted", "Quantity", "Qty", "Zählmenge", "Gezählt", "Menge",
    ),
    "counter": ("Counter", "Counted By", "Counted by", "Zähler"),
    "notes": ("Notes", "Note", "Remarks", "Comment", "Comments", "Bemerkung", "Notiz"),
}

# What makes a header an export of each kind (beyond material and plant, which all need).
# MB52 stock quantity columns, in table order: the one list of them (readers, schema checks,
# reconciliation's stock basis, quality checks, demo data). Physical stock is on the shelf.
STOCK_FIELDS = (
    "unrestricted", "quality_inspection", "restricted", "blocked", "returns", "in_transit",
)
PHYSICAL_STOCK = tuple(field for field in STOCK_FIELDS if field != "in_transit")
MASTER_FIELDS = (
    "material_type", "material_group", "abc_indicator", "price", "price_unit", "valuation_type",
)


def label_key(label: object) -> str:
    """Fold a header label for comparison: case, accents kept, punctuation and spacing folded."""
    text = unicodedata.normalize("NFKC", str(label or "")).replace("\u00a0", " ").lower()
    return re.sub(r"[^\w]+", " ", text).strip()


_FIELD_BY_LABEL: dict[str, str] = {
    label_key(label): field for field, labels in HEADER_SYNONYMS.items() for label in labels
}


def field_for_label(label: object) -> str | None:
    """The canonical field a header label names, or None for a column WICS does not use."""
    return _FIELD_BY_LABEL.get(label_key(label))


@dataclass(frozen=True)
class HeaderMatch:
    """A header row: where each canonical field is, and which export it makes the file."""

    columns: dict[str, int]  # canonical field -> column index (first occurrence)
    kind: ExportKind | None
    labels: tuple[str, ...]
    # Fields named by more than one column (two "Unrestricted", Plant + Werk, Quantity +
    # Counted Qty): field -> every column index. Which one is meant cannot be guessed.
    ambiguous: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def score(self) -> int:
        return len(self.columns)


def match_header(cells: Sequence[object]) -> HeaderMatch:
    """Map one row of cells to canonical fields and decide the export kind."""
    found: dict[str, list[int]] = {}
    for index, cell in enumerate(cells):
        name = field_for_label(cell)
        if name is not None:
            found.setdefault(name, []).append(index)
    columns = {name: indexes[0] for name, indexes in found.items()}
    ambiguous = {name: tuple(indexes) for name, indexes in found.items() if len(indexes) > 1}
    return HeaderMatch(columns, classify(columns), tuple(str(c or "") for c in cells),
                       ambiguous)


def ambiguity_reasons(header: HeaderMatch) -> list[str]:
    """One sentence per field that several columns name, quoting every such column."""
    reasons = []
    for name, indexes in header.ambiguous.items():
        quoted = " and ".join(f'"{header.labels[i].strip()}" (column {i + 1})' for i in indexes)
        reasons.append(f"ambiguous header: columns {quoted} all mean {name.replace('_', ' ')}; "
                       "WICS cannot tell which one to load, so remove or rename all but one")
    return reasons


def classify(columns: dict[str, int] | set[str]) -> ExportKind | None:
    """The export kind a set of recognised fields describes, or None."""
    fields = set(columns)
    if not {"material", "plant"} <= fields:
        return None
    if fields & set(STOCK_FIELDS):
        return ExportKind.MB52
    if "quantity" in fields:
        return ExportKind.COUNT_SHEET
    if fields & set(MASTER_FIELDS) or "description" in fields:
        return ExportKind.MM60
    return None
