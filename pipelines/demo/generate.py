"""Realistic, deterministic SAP data as frames: MM60 material lists, MB52 stock, count sheets.

For demos, tests and benchmarks. Frames use the canonical column names of DESIGN.md; the files
SAP users send are made from them by ``pipelines.demo.files``. Everything is seeded: the same
seed gives the same frame. Generation is vectorised with numpy/polars because the benchmark
asks for millions of rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.sap.headers import PHYSICAL_STOCK

DEFAULT_PLANTS: tuple[str, ...] = ("1000", "1100", "1200", "3000")
# One company-code currency per plant: the demo company has a UK plant (and a US one if asked).
PLANT_CURRENCY: dict[str, str] = {"2000": "USD", "3000": "GBP"}
_EUR_RATE: dict[str, float] = {"EUR": 1.0, "GBP": 0.86, "USD": 1.08}
# "Today" of the generated master data: creation and change dates end on it.
REFERENCE_DATE = dt.date(2026, 10, 31)
# Fixed stamps so the same frame always writes the same bytes.
STOCK_KEY: tuple[str, ...] = ("material", "plant", "storage_location", "batch", "special_stock")
COUNTERS: tuple[str, ...] = ("ANA", "BEN", "CHRIS", "DANA")

MASTER_SCHEMA: dict[str, pl.DataType] = {
    "material": pl.String(), "plant": pl.String(), "description": pl.String(),
    "material_type": pl.String(), "material_group": pl.String(), "base_uom": pl.String(),
    "abc_indicator": pl.String(), "price": pl.Float64(), "price_unit": pl.Int64(),
    "currency": pl.String(), "valuation_type": pl.String(), "last_change": pl.Date(),
    "created_on": pl.Date(), "created_by": pl.String(),
}
# Column order of SAP's MB52 layout, so every writer prints the familiar order.
STOCK_SCHEMA: dict[str, pl.DataType] = {
    "material": pl.String(), "plant": pl.String(), "storage_location": pl.String(),
    "description": pl.String(), "base_uom": pl.String(), "batch": pl.String(),
    "special_stock": pl.String(), "unrestricted": pl.Float64(), "currency": pl.String(),
    "value_unrestricted": pl.Float64(), "in_transit": pl.Float64(),
    "quality_inspection": pl.Float64(), "restricted": pl.Float64(), "blocked": pl.Float64(),
    "returns": pl.Float64(),
}
COUNT_SCHEMA: dict[str, pl.DataType] = {
    "count_date": pl.Date(), "material": pl.String(), "plant": pl.String(),
    "storage_location": pl.String(), "location": pl.String(), "quantity": pl.String(),
    "counter": pl.String(), "notes": pl.String(),
}

_EPOCH = dt.date(1970, 1, 1)


def _days(day: dt.date) -> int:
    return (day - _EPOCH).days


# --------------------------------------------------------------------------------------------
# Vocabulary: part descriptions look like a real plant's MAKTX (upper case, 40 chars, some
# German words because German users maintain half the master data).
# --------------------------------------------------------------------------------------------

def _choice(
    rng: np.random.Generator, options: Sequence[str | None], n: int,
    p: Sequence[float] | None = None,
) -> pl.Series:
    weights = None if p is None else np.asarray(p, dtype=float) / float(np.sum(p))
    idx = rng.choice(len(options), size=n, p=weights)
    return pl.Series(list(options), dtype=pl.String).gather(idx)


def _ints(rng: np.random.Generator, low: int, high: int, n: int, width: int = 0) -> pl.Series:
    """Random integers in [low, high] as text, zero-padded to width."""
    text = pl.Series(rng.integers(low, high + 1, n)).cast(pl.String)
    return text.str.zfill(width) if width else text


_COLORS = ("BLACK", "GREY", "BLUE", "RED", "GREEN", "WHITE", "NATUR", "YELLOW")


def _fastener(rng: np.random.Generator, n: int) -> pl.Series:
    kind = _choice(rng, (
        "HEX BOLT", "STUD BOLT", "SOCKET SCREW", "SET SCREW", "HEX NUT", "WASHER",
        "SECHSKANTSCHRAUBE", "ZYLINDERSCHRAUBE", "MUTTER", "SCHEIBE",
    ), n, (10, 8, 8, 5, 8, 7, 4, 4, 3, 2))
    diameter = _choice(rng, ("3", "4", "5", "6", "8", "10", "12", "16", "20", "24"), n)
    length = _choice(rng, ("8", "10", "12", "16", "20", "25", "30", "40", "50", "60", "80",
                           "100", "120"), n)
    standard = _choice(rng, ("DIN912", "DIN933", "DIN934", "DIN125", "DIN913", "ISO4017",
                             "ISO4762", "ISO7089"), n)
    grade = _choice(rng, ("8.8", "10.9", "12.9", "A2-70", "A4-80", "5.6"), n)
    finish = _choice(rng, ("", " ZN", " BLK", " GALV"), n, (40, 35, 15, 10))
    return kind + " M" + diameter + "X" + length + " " + standard + " " + grade + finish


def _bearing(rng: np.random.Generator, n: int) -> pl.Series:
    series = _choice(rng, ("60", "62", "63", "618", "619", "160"), n, (30, 30, 15, 10, 10, 5))
    seal = _choice(rng, ("-2RS", "-2Z", "-ZZ", "-RS", "", "-2Z C3", "-2RS C3"), n)
    kind = _choice(rng, ("BALL BEARING ", "DEEP GROOVE BRG ", "KUGELLAGER "), n, (80, 10, 10))
    return kind + series + _ints(rng, 0, 30, n, 2) + seal


def _cable(rng: np.random.Generator, n: int) -> pl.Series:
    cores = _choice(rng, ("2", "3", "4", "5", "7", "12"), n)
    section = _choice(rng, ("0.75", "1.5", "2.5", "4", "6", "10"), n)
    length = _choice(rng, ("5", "10", "25", "50", "100", "500"), n)
    return ("CABLE " + cores + "X" + section + "MM2 " + _choice(rng, _COLORS, n) + " "
            + length + "M")


def _part(rng: np.random.Generator, n: int) -> pl.Series:
    material = _choice(rng, (
        "PVC", "BRASS", "STAINLESS", "ALU", "RUBBER", "EPDM", "VITON", "PTFE", "CERAMIC",
        "STEEL", "MESSING", "EDELSTAHL", "GUSS", "GALV.", "REPLACEMENT", "HIGH TEMP",
    ), n)
    part = _choice(rng, (
        "GASKET", "SPRING", "FILTER", "HOUSING", "COUPLING", "GEAR", "SHAFT", "HOSE", "LABEL",
        "SWITCH", "RELAY", "PALLET", "CARTON", "BRACKET", "WELLE", "DICHTUNG", "GEHÄUSE",
        "LAGER", "SPACER", "COVER",
    ), n)
    color = _choice(rng, ("", *(" " + c for c in _COLORS)), n, (60, *(5,) * len(_COLORS)))
    return (material + " " + part + " " + _ints(rng, 10, 500, n) + "X" + _ints(rng, 10, 500, n)
            + color)


def _assembly(rng: np.random.Generator, n: int) -> pl.Series:
    part = _choice(rng, ("MOTOR", "GEARBOX", "PUMP", "SEAL KIT", "CONTROL UNIT", "VALVE BLOCK",
                         "FAN", "SENSOR HEAD"), n)
    letter = _choice(rng, tuple("ABCDKLMRSTX"), n)
    return ("ASSY " + part + " TYPE " + letter + _ints(rng, 100, 999, n) + " REV"
            + _ints(rng, 1, 9, n))


def _bulk(rng: np.random.Generator, n: int) -> pl.Series:
    kind = _choice(rng, ("GRANULATE", "PIGMENT", "ADDITIVE", "RESIN", "MASTERBATCH"), n)
    polymer = _choice(rng, ("PP", "PE", "PVC", "PET", "ABS", "PA6"), n)
    pack = _choice(rng, ("25KG BAG", "1000KG BB", "IBC", "200L DRUM", "500KG OCT"), n)
    return kind + " " + polymer + "-" + _ints(rng, 100, 9999, n) + " " + pack


def _fluid(rng: np.random.Generator, n: int) -> pl.Series:
    item = _choice(rng, ("VALVE", "OIL", "GREASE", "NOZZLE", "FITTING", "HOSE CLAMP"), n)
    size = _choice(rng, ("6", "8", "10", "12", "16", "20", "25", "32", "50", "100"), n)
    spec = _choice(rng, ("MESSING", "STAINLESS", "FOOD GRADE", "RUBBER", "HIGH TEMP", "PN16"), n)
    return item + " Ø" + size + "MM " + spec


@dataclass(frozen=True)
class _Family:
    build: Callable[[np.random.Generator, int], pl.Series]
    weight: float
    types: dict[str, float]
    groups: tuple[str, ...]
    uoms: dict[str, float]
    median_price: float  # per base unit
    price_units: dict[int, float]


_FAMILIES: tuple[_Family, ...] = (
    _Family(_fastener, 30, {"ROH": 30, "HAWA": 35, "ERSA": 25, "HALB": 10},
            ("01010", "01020", "01030", "MECH01"), {"PC": 45, "BOX": 30, "KG": 15, "EA": 10},
            0.6, {1: 50, 10: 20, 100: 25, 1000: 5}),
    _Family(_bearing, 8, {"ERSA": 50, "HAWA": 30, "ROH": 20},
            ("02010", "02020", "MECH02", "SPARE1"), {"EA": 70, "PC": 30},
            25.0, {1: 100}),
    _Family(_cable, 8, {"ROH": 60, "HALB": 20, "HAWA": 20},
            ("ELEC01", "ELEC02", "03000"), {"M": 92, "EA": 8}, 3.5, {1: 90, 10: 7, 100: 3}),
    _Family(_part, 30, {"ROH": 30, "HALB": 25, "ERSA": 15, "VERP": 20, "FERT": 10},
            ("04100", "04200", "YBMM01", "YBMM02", "SPARE2"),
            {"EA": 50, "PC": 30, "KG": 10, "M": 5, "BOX": 5}, 30.0, {1: 96, 10: 3, 100: 1}),
    _Family(_assembly, 10, {"FERT": 60, "HALB": 40}, ("05000", "YBFG01", "SERV01"),
            {"EA": 80, "PC": 20}, 900.0, {1: 100}),
    _Family(_bulk, 8, {"ROH": 85, "HALB": 15}, ("CHEM01", "CHEM02"), {"KG": 85, "L": 15},
            4.0, {1: 85, 100: 15}),
    _Family(_fluid, 6, {"ROH": 40, "HAWA": 30, "ERSA": 30}, ("04100", "MRO", "SPARE1", "CHEM02"),
            {"L": 40, "EA": 40, "KG": 20}, 15.0, {1: 95, 10: 5}),
)
_DECIMAL_UOMS = ("KG", "M", "L")

_USERS = ("KWEBER", "LMARTIN", "HKOWALSKI", "RBROWN", "SAPBATCH", "SGARCIA", "MMUELLER",
          "MIGRATION", "WF-BATCH", "AFISCHER", "CROSSI", "PSCHULZ", "JSMITH", "TNGUYEN",
          "EJOHANSSON", "DDUBOIS")
_USER_WEIGHTS = (8, 9, 9, 9, 9, 9, 8, 8, 8, 8, 7, 7, 7, 7, 6, 6)

_ALPHA_PREFIXES = ("RM", "FG", "SP", "TL", "PK", "CH", "EL", "MRO", "BRKT")
# Free-text material numbers of the "M8 WASHER/ZN" kind that old systems were migrated with.
_FREE_TEXT_MATERIALS: tuple[str, ...] = tuple(
    f"{size} {word}/{finish}"
    for size in ("M3", "M4", "M5", "M6", "M8", "M10", "M12", "M16", "M20", "M24")
    for word in ("WASHER", "NUT", "BOLT", "SCREW", "PIN", "CLIP", "RIVET", "SPACER")
    for finish in ("ZN", "A2", "A4", "BLK", "GALV", "NI")
)


def _alpha_materials(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct alphanumeric material numbers like ``BRKT-04471-A`` or ``M8 WASHER/ZN``."""
    n_free = min(n // 10, len(_FREE_TEXT_MATERIALS))
    free = [_FREE_TEXT_MATERIALS[i]
            for i in rng.choice(len(_FREE_TEXT_MATERIALS), n_free, replace=False)]
    n_coded = n - n_free
    # Distinct (prefix, number) codes guarantee distinct material numbers.
    digits = 5 if n_coded <= 400_000 else 7
    code = rng.choice(len(_ALPHA_PREFIXES) * 10**digits, n_coded, replace=False)
    prefix = pl.Series(_ALPHA_PREFIXES, dtype=pl.String).gather(code // 10**digits)
    number = pl.Series(code % 10**digits).cast(pl.String).str.zfill(digits)
    suffix = _choice(rng, ("", "-A", "-B", "-C", "-D", "-E", "-F", "-G", "-H"), n_coded,
                     (60, 5, 5, 5, 5, 5, 5, 5, 5))
    coded = (prefix + "-" + number + suffix).to_list()
    mixed = coded + free
    return [mixed[i] for i in rng.permutation(len(mixed))]


def _currency(plant: str) -> str:
    return PLANT_CURRENCY.get(plant, "EUR")


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def _conform(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return df.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def _max_number(materials: pl.Series, default: int = 10_000_000) -> int:
    digits = materials.filter(materials.str.contains(r"^\d+$")).cast(pl.Int64)
    top = digits.max()
    return int(top) if top is not None else default


def _generate_keys(
    rng: np.random.Generator, n_keys: int, plants: Sequence[str], *, first_number: int,
    created_from: int, created_to: int, changed_until: int, alpha_share: float = 0.05,
) -> pl.DataFrame:
    """n_keys material x plant rows (no valuation-type rows), unsorted. Dates are epoch days."""
    if n_keys <= 0:
        return _empty(MASTER_SCHEMA)
    n_plants = len(plants)
    # Most materials live in one plant, some are extended to several.
    spread = np.array([0.68, 0.2, 0.08, 0.04] + [0.02] * max(0, n_plants - 4))[:n_plants]
    counts = rng.choice(np.arange(1, n_plants + 1), size=n_keys, p=spread / spread.sum())
    cum = np.cumsum(counts)
    n_mat = int(np.searchsorted(cum, n_keys)) + 1
    counts = counts[:n_mat].copy()
    counts[-1] -= int(cum[n_mat - 1]) - n_keys
    # Distinct plants per material, the first plant (the main site) most often (Gumbel top-k).
    scores = np.log(1.0 / (np.arange(n_plants) + 1.5)) + rng.gumbel(size=(n_mat, n_plants))
    order = np.argsort(-scores, axis=1, kind="stable")
    plant_idx = order[np.arange(n_plants)[None, :] < counts[:, None]]
    mat_idx = np.repeat(np.arange(n_mat), counts)

    # Material numbers: internal numbering (18 digits, chronological) plus some alphanumerics.
    alpha = rng.random(n_mat) < alpha_share
    n_alpha = int(alpha.sum())
    gaps = rng.integers(1, 4, n_mat - n_alpha)
    numbers = first_number + np.cumsum(gaps) - (gaps[0] if len(gaps) else 0)
    material = np.empty(n_mat, dtype=object)
    material[~alpha] = pl.Series(numbers).cast(pl.String).str.zfill(18).to_list()
    material[alpha] = _alpha_materials(rng, n_alpha)

    family_weights = np.array([f.weight for f in _FAMILIES])
    family = rng.choice(len(_FAMILIES), n_mat, p=family_weights / family_weights.sum())
    description = np.empty(n_mat, dtype=object)
    mtype = np.empty(n_mat, dtype=object)
    mgroup = np.empty(n_mat, dtype=object)
    uom = np.empty(n_mat, dtype=object)
    median = np.empty(n_mat)
    price_unit = np.empty(n_mat, dtype=np.int64)
    for f_idx, fam in enumerate(_FAMILIES):
        idx = np.flatnonzero(family == f_idx)
        k = len(idx)
        if not k:
            continue
        description[idx] = fam.build(rng, k).to_list()
        mtype[idx] = _choice(rng, list(fam.types), k, list(fam.types.values())).to_list()
        mgroup[idx] = _choice(rng, fam.groups, k).to_list()
        uom[idx] = _choice(rng, list(fam.uoms), k, list(fam.uoms.values())).to_list()
        median[idx] = fam.median_price
        units = np.array(list(fam.price_units))
        weights = np.array(list(fam.price_units.values()), dtype=float)
        price_unit[idx] = units[rng.choice(len(units), k, p=weights / weights.sum())]
    packaging = mtype == "VERP"
    mgroup[packaging] = _choice(rng, ("PACK01", "PACK02"), int(packaging.sum())).to_list()
    unit_price = median * rng.lognormal(0.0, 0.9, n_mat)
    created = rng.integers(created_from, created_to + 1, n_mat)
    created[~alpha] = np.sort(created[~alpha])  # internal numbers are handed out in time order
    title_case = rng.random(n_mat) < 0.03  # a few typed in mixed case, as in real masters

    materials = pl.DataFrame({
        "material": pl.Series(material, dtype=pl.String),
        "description": pl.Series(description, dtype=pl.String),
        "material_type": pl.Series(mtype, dtype=pl.String),
        "material_group": pl.Series(mgroup, dtype=pl.String),
        "base_uom": pl.Series(uom, dtype=pl.String),
        "created_on": pl.Series(created.astype(np.int32)).cast(pl.Date),
        "created_by": _choice(rng, _USERS, n_mat, _USER_WEIGHTS),
        "_title": title_case,
    }).with_columns(
        description=pl.when(pl.col("_title"))
        .then(pl.col("description").str.to_titlecase())
        .otherwise(pl.col("description"))
        .str.slice(0, 40).str.strip_chars_end(),  # MAKTX holds 40 characters
    ).drop("_title")

    plant = np.asarray(plants, dtype=object)[plant_idx]
    rate = np.array([_EUR_RATE.get(_currency(p), 1.0) for p in plants])[plant_idx]
    price = np.round(unit_price[mat_idx] * price_unit[mat_idx] * rate
                     * rng.uniform(0.93, 1.07, n_keys), 2)
    price = np.maximum(price, 0.01)
    price[rng.random(n_keys) < 0.003] = 0.0  # a few materials never got a price
    created_key = created[mat_idx]
    last_change = created_key + np.floor(
        rng.random(n_keys) * (np.maximum(changed_until - created_key, 0) + 1)).astype(np.int64)
    never_changed = rng.random(n_keys) < 0.12
    keys = pl.DataFrame({
        "plant": pl.Series(plant, dtype=pl.String),
        "abc_indicator": _choice(rng, ("A", "B", "C", None), n_keys, (10, 20, 65, 5)),
        "price": price,
        "price_unit": price_unit[mat_idx],
        "last_change": pl.Series(last_change.astype(np.int32)).cast(pl.Date),
        "_never": never_changed,
    }).with_columns(
        currency=pl.col("plant").replace_strict(
            {p: _currency(p) for p in plants}, return_dtype=pl.String),
        valuation_type=pl.lit(None, dtype=pl.String),
        last_change=pl.when(pl.col("_never")).then(None).otherwise(pl.col("last_change")),
    )
    return _conform(pl.concat([materials.select(pl.all().gather(mat_idx)), keys],
                              how="horizontal"), MASTER_SCHEMA)


def _sort_master(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(["material", "plant", "valuation_type"], nulls_last=False, maintain_order=True)


def _split_key_count(n_rows: int) -> int:
    """Keys with split valuation: about 0.5 % of keys, each adding two valuation-type rows."""
    if n_rows < 20:
        return 0
    return max(1, round(n_rows * 0.005 / 1.01))


def generate_master(
    n_rows: int, seed: int = 7, plants: tuple[str, ...] = DEFAULT_PLANTS,
) -> pl.DataFrame:
    """An MM60 material list of exactly n_rows rows (material x plant, plus valuation-type rows).

    About 0.5 % of the material x plant keys use split valuation: besides their header row
    (blank valuation type) they appear once per valuation type (NEW/USED, NEW/REPAIRED), as MM60
    lists them. So the number of distinct keys is slightly below n_rows.
    """
    rng = np.random.default_rng(seed)
    n_split = _split_key_count(n_rows)
    n_keys = max(n_rows, 0) - 2 * n_split
    keys = _generate_keys(
        rng, n_keys, plants, first_number=10_000_001, created_from=_days(dt.date(2003, 1, 1)),
        created_to=_days(REFERENCE_DATE) - 90, changed_until=_days(REFERENCE_DATE),
    )
    if not n_split:
        return _sort_master(keys)
    base = keys.select(pl.all().gather(rng.choice(n_keys, n_split, replace=False)))
    second = _choice(rng, ("USED", "REPAIRED"), n_split, (75, 25))
    new_rows = base.with_columns(valuation_type=pl.lit("NEW"))
    used_rows = base.with_columns(
        valuation_type=second,
        price=(pl.col("price") * 0.55).round(2),  # used/repaired parts are valued lower
    )
    return _sort_master(pl.concat([keys, new_rows, used_rows]))


def churn_master(
    master: pl.DataFrame, seed: int = 8, added: float = 0.02, removed: float = 0.01,
    changed: float = 0.05,
) -> pl.DataFrame:
    """Next month's MM60: shares of material x plant keys added, removed and changed.

    Added keys are partly existing materials extended to another plant, partly new materials.
    Changed keys get a new price, ABC indicator, material group or description and a
    last_change after every date in the input.
    """
    rng = np.random.default_rng(seed)
    on = ["material", "plant"]
    keys = master.select(on).unique(maintain_order=True)
    n = keys.height
    order = rng.permutation(n)
    n_removed = min(round(removed * n), n)
    n_changed = min(round(changed * n), n - n_removed)
    removed_keys = keys.select(pl.all().gather(order[:n_removed]))
    changed_keys = keys.select(pl.all().gather(order[n_removed:n_removed + n_changed]))
    last = master["last_change"].max()
    base_day = _days(last if isinstance(last, dt.date) else REFERENCE_DATE)

    # New values per changed key, computed from its header row (blank valuation type first).
    header = (master.sort("valuation_type", nulls_last=False, maintain_order=True)
              .unique(on, keep="first", maintain_order=True))
    groups = sorted(g for g in master["material_group"].unique().to_list() if g is not None)
    current = changed_keys.join(header, on=on, how="left", maintain_order="left")
    what = rng.choice(4, n_changed, p=[0.5, 0.2, 0.15, 0.15])  # price, abc, group, text
    group_pos = current["material_group"].replace_strict(
        {g: i for i, g in enumerate(groups)}, default=0, return_dtype=pl.Int64).to_numpy()
    shift = rng.integers(1, max(len(groups), 2), n_changed)
    suffix = _choice(rng, (" NEU", " ALT", " REV2", " MOD"), n_changed)
    changes = current.select(on).with_columns(
        _what=pl.Series(what),
        _price=(current["price"] * pl.Series(rng.uniform(0.85, 1.2, n_changed))).round(2),
        _old_price=current["price"],
        _group=pl.Series(groups or [""], dtype=pl.String).gather(
            (group_pos + shift) % max(len(groups), 1)),
        _text=current["description"].str.slice(0, 40 - 5) + suffix,
        _changed_on=pl.Series((base_day + rng.integers(1, 31, n_changed)).astype(np.int32))
        .cast(pl.Date),
    ).with_columns(
        _price=pl.when(pl.col("_price") == pl.col("_old_price"))
        .then(pl.col("_price") + 0.01).otherwise(pl.col("_price")),
    )
    kept = master.join(removed_keys, on=on, how="anti", maintain_order="left")
    out = kept.join(changes, on=on, how="left", maintain_order="left")
    what_col = pl.col("_what")
    out = out.with_columns(
        price=pl.when((what_col == 0) & pl.col("valuation_type").is_null())
        .then(pl.col("_price")).otherwise(pl.col("price")),
        abc_indicator=pl.when(what_col == 1)
        .then(pl.col("abc_indicator").replace_strict({"A": "B", "B": "C", "C": "B"},
                                                      default="C", return_dtype=pl.String))
        .otherwise(pl.col("abc_indicator")),
        material_group=pl.when((what_col == 2) & (pl.col("_group") != pl.col("material_group")))
        .then(pl.col("_group")).otherwise(pl.col("material_group")),
        description=pl.when(what_col == 3)
        .then(pl.when(pl.col("_text") == pl.col("description"))
              .then(pl.col("description").str.slice(0, 34) + " (NEW)")
              .otherwise(pl.col("_text")))
        .otherwise(pl.col("description")),
        last_change=pl.when(what_col.is_not_null()).then(pl.col("_changed_on"))
        .otherwise(pl.col("last_change")),
    )
    # A group change with a single group available degrades to a price change.
    out = out.with_columns(
        price=pl.when((what_col == 2) & (pl.col("_group") == pl.col("material_group"))
                      & pl.col("valuation_type").is_null())
        .then(pl.col("_price")).otherwise(pl.col("price")),
    )
    out = _conform(out, MASTER_SCHEMA)

    # Added keys: ~30 % plant extensions of existing materials, the rest new materials.
    n_added = round(added * n)
    plants = sorted(master["plant"].unique().to_list()) or list(DEFAULT_PLANTS)
    new_from, new_to = base_day + 1, base_day + 30
    extensions = _empty(MASTER_SCHEMA)
    n_ext = n_added * 3 // 10 if len(plants) > 1 and n else 0
    if n_ext:
        materials = master["material"].unique(maintain_order=True)
        pool = 3 * n_ext + 10
        candidates = pl.DataFrame({
            "material": materials.gather(rng.integers(0, len(materials), pool)),
            "plant": _choice(rng, plants, pool),
        }).unique(maintain_order=True).join(keys, on=on, how="anti", maintain_order="left")
        candidates = candidates.head(n_ext)
        k = candidates.height
        source = header.unique("material", keep="first", maintain_order=True).drop(
            "plant", "abc_indicator", "valuation_type", "last_change")
        extensions = candidates.join(source, on="material", how="left", maintain_order="left")
        rate_to = pl.col("plant").replace_strict(
            {p: _EUR_RATE.get(_currency(p), 1.0) for p in plants}, return_dtype=pl.Float64)
        rate_from = pl.col("currency").replace_strict(_EUR_RATE, default=1.0,
                                                      return_dtype=pl.Float64)
        extensions = _conform(extensions.with_columns(
            price=(pl.col("price") / rate_from * rate_to
                   * pl.Series(rng.uniform(0.93, 1.07, k))).round(2),
            currency=pl.col("plant").replace_strict({p: _currency(p) for p in plants},
                                                    return_dtype=pl.String),
            abc_indicator=_choice(rng, ("A", "B", "C", None), k, (10, 20, 65, 5)),
            valuation_type=pl.lit(None, dtype=pl.String),
            last_change=pl.Series((rng.integers(new_from, new_to + 1, k)).astype(np.int32))
            .cast(pl.Date),
        ), MASTER_SCHEMA)
    new = _generate_keys(
        rng, n_added - extensions.height, plants,
        first_number=_max_number(master["material"]) + 1001,
        created_from=new_from, created_to=new_to, changed_until=new_to,
    ).join(master.select("material").unique(), on="material", how="anti",
           maintain_order="left")
    return _sort_master(pl.concat([out, extensions, new]))


# --------------------------------------------------------------------------------------------
# MB52 stock
# --------------------------------------------------------------------------------------------

# 13 storage location slots (a prime, so any step 1..12 walks through distinct slots);
# the last slot is the plant's own code, as many SAP plants name a storage location.
_SLOC_SLOTS = ("FG01", "RM01", "0001", "0002", "0003", "0005", "0010", "0020", "QA01", "SP01",
               "WIP1", "MRO1")
_SLOC_WEIGHTS = (16, 16, 15, 13, 5, 4, 5, 5, 5, 5, 4, 3, 4)


def _allocate(rng: np.random.Generator, n_lines: int, n_keys: int) -> tuple[np.ndarray, ...]:
    """Key index per line (sorted) and the line's number within its key."""
    if n_lines <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if n_keys <= 0:
        raise ValueError("cannot generate stock lines without material keys")
    # Some materials sit in many places (capped: no key gets hundreds of lines).
    weights = np.minimum(rng.lognormal(0.0, 1.0, n_keys), 15.0)
    weights[rng.random(n_keys) < 0.08] = 0.0  # and some have no stock at all
    if weights.sum() == 0:
        weights[:] = 1.0
    key_idx = np.sort(rng.choice(n_keys, size=n_lines, p=weights / weights.sum()))
    counts = np.bincount(key_idx, minlength=n_keys)
    starts = np.cumsum(counts) - counts
    return key_idx, np.arange(n_lines) - np.repeat(starts, counts)


def _stock_lines(rng: np.random.Generator, keys: pl.DataFrame, n_lines: int) -> pl.DataFrame:
    """Lines of the given keys with storage location and batch making each line unique.

    Line j of a key uses slot (offset + j * step) % 13, distinct for j < 13; from j = 13 on a
    batch (unique within the key) tells the lines apart, as batch-managed stock does anyway.
    """
    key_idx, j = _allocate(rng, n_lines, keys.height)
    k = keys.height
    offset = rng.choice(13, k, p=np.array(_SLOC_WEIGHTS) / np.sum(_SLOC_WEIGHTS))
    step = rng.integers(1, 13, k)
    decimal_uom = keys["base_uom"].is_in(list(_DECIMAL_UOMS)).to_numpy()
    batch_managed = rng.random(k) < np.where(decimal_uom, 0.5, 0.12)
    batch_format = rng.integers(0, 4, k)
    batch_base = rng.integers(0, 10**9, k)
    batch_year = rng.integers(2024, 2027, k)
    slot = (offset[key_idx] + j * step[key_idx]) % 13
    sloc = np.asarray(_SLOC_SLOTS + ("",), dtype=object)[slot]
    seq = pl.col("_seq")
    fmt = pl.col("_fmt")
    batch = (
        pl.when(~pl.col("_batch")).then(None)
        .when(fmt == 0).then(pl.concat_str([pl.lit("B"), pl.col("_year").cast(pl.String),
                                            pl.lit("-"), (seq % 10_000).cast(pl.String)
                                            .str.zfill(4)]))
        .when(fmt == 1).then((seq % 10**10).cast(pl.String).str.zfill(10))
        .when(fmt == 2).then(pl.lit("L") + (seq % 10**9).cast(pl.String).str.zfill(9))
        .otherwise(pl.lit("CH") + (seq % 10**8).cast(pl.String).str.zfill(8))
    )
    return keys.select(pl.all().gather(key_idx)).with_columns(
        _slot=pl.Series(slot), _sloc=pl.Series(sloc, dtype=pl.String),
        _batch=pl.Series(batch_managed[key_idx] | (j >= 13)),
        _fmt=pl.Series(batch_format[key_idx]), _seq=pl.Series(batch_base[key_idx] + j),
        _year=pl.Series(batch_year[key_idx]),
    ).with_columns(
        storage_location=pl.when(pl.col("_slot") == 12).then(pl.col("plant"))
        .otherwise(pl.col("_sloc")),
        batch=batch,
    ).drop("_slot", "_sloc", "_batch", "_fmt", "_seq", "_year")


def generate_stock(
    master: pl.DataFrame, n_rows: int, seed: int = 9, unknown_share: float = 0.0,
) -> pl.DataFrame:
    """MB52 warehouse stock lines of the master's material x plant keys, exactly n_rows lines.

    The key (material, plant, storage_location, batch, special_stock) is unique. unknown_share
    of the lines reference materials absent from the master (a stock export newer than the
    material list).
    """
    rng = np.random.default_rng(seed)
    n_rows = max(n_rows, 0)
    header = (master.sort("valuation_type", nulls_last=False, maintain_order=True)
              .unique(["material", "plant"], keep="first", maintain_order=True)
              .select("material", "plant", "description", "base_uom", "price", "price_unit",
                      "currency"))
    n_unknown = min(max(round(n_rows * unknown_share), 0), n_rows)
    parts = [_stock_lines(rng, header, n_rows - n_unknown)]
    if n_unknown:
        plants = sorted(header["plant"].unique().to_list()) or list(DEFAULT_PLANTS)
        ref = _days(REFERENCE_DATE)
        unknown = _generate_keys(
            rng, max(1, n_unknown // 3), plants,
            first_number=_max_number(master["material"]) + 5_000_001,
            created_from=ref, created_to=ref, changed_until=ref, alpha_share=0.0,
        ).select(header.columns)
        parts.append(_stock_lines(rng, unknown, n_unknown))
    lines = pl.concat(parts)
    n = lines.height
    if not n:
        return _empty(STOCK_SCHEMA)

    decimal = lines["base_uom"].is_in(list(_DECIMAL_UOMS)).to_numpy()
    raw = rng.lognormal(np.log(40.0), 1.3, n) * np.where(decimal, 3.0, 1.0)

    def quantity(values: np.ndarray) -> np.ndarray:
        # Integer units for pieces, three decimals for weights, lengths and volumes.
        return np.where(decimal, np.round(values, 3), np.round(values))

    unrestricted = quantity(raw)
    unrestricted[rng.random(n) < 0.08] = 0.0
    negative = rng.random(n) < 0.001  # negative stock allowed in some plants
    unrestricted[negative] = -quantity(rng.uniform(1.0, 20.0, n))[negative]

    def other(share: float) -> np.ndarray:
        amount = np.maximum(quantity(raw * rng.uniform(0.05, 0.5, n)), np.where(decimal, 0.001, 1))
        return np.where(rng.random(n) < share, amount, 0.0)

    special = _choice(rng, ("E", "K", "Q"), n, (40, 40, 20))
    lines = lines.with_columns(
        special_stock=pl.when(pl.Series(rng.random(n) < 0.06)).then(special),
        unrestricted=pl.Series(unrestricted) + 0.0,  # + 0.0 turns -0.0 into 0.0
        in_transit=pl.Series(other(0.04)),
        quality_inspection=pl.Series(other(0.08)),
        restricted=pl.Series(other(0.02)),
        blocked=pl.Series(other(0.04)),
        returns=pl.Series(other(0.01)),
    ).with_columns(
        value_unrestricted=(pl.col("unrestricted") * pl.col("price") / pl.col("price_unit"))
        .round(2, mode="half_away_from_zero") + 0.0,
    )
    return _conform(lines, STOCK_SCHEMA).sort(list(STOCK_KEY), nulls_last=False,
                                              maintain_order=True)


# --------------------------------------------------------------------------------------------
# Count sheets
# --------------------------------------------------------------------------------------------

def generate_counts(
    stock: pl.DataFrame, count_date: dt.date, n_rows: int, seed: int = 10,
) -> pl.DataFrame:
    """Count-sheet rows as counters fill them in: one row per location counted.

    Whole material x plant groups of the stock are counted (so a count can be reconciled), a few
    locations in two bins (main and overflow). Quantities are text: mostly the stock's physical
    quantity, ~15 % off by a little, a few typed as expressions such as ``24*10+3``.
    """
    rng = np.random.default_rng(seed)
    if n_rows <= 0 or stock.height == 0:
        return _empty(COUNT_SCHEMA)
    physical = pl.sum_horizontal([pl.col(c).fill_null(0.0) for c in PHYSICAL_STOCK
                                  if c in stock.columns])
    lines = stock.select(
        "material", "plant", "storage_location",
        (pl.col("base_uom").is_in(list(_DECIMAL_UOMS)) if "base_uom" in stock.columns
         else pl.lit(True)).alias("_decimal"),
        physical.alias("_qty"),
    )
    group_ids = lines.select("material", "plant").unique(maintain_order=True).with_row_index("_g")
    lines = lines.join(group_ids, on=["material", "plant"], how="left", maintain_order="left")
    sizes = np.bincount(lines["_g"].to_numpy(), minlength=group_ids.height)

    # Fill ~97 % of the rows with whole groups, the rest with overflow bins.
    target = max(1, n_rows - round(0.03 * n_rows))
    chosen: list[int] = []
    total = 0
    for group in rng.permutation(group_ids.height).tolist():
        if total + sizes[group] <= target:
            chosen.append(group)
            total += int(sizes[group])
            if total == target:
                break
    selected = lines.filter(pl.col("_g").is_in(chosen)) if chosen else lines.head(n_rows)
    m = selected.height
    extra = n_rows - m
    primary = selected.with_row_index("_line").with_columns(_bin=pl.lit(0, dtype=pl.Int64))
    rows = primary
    if extra > 0:
        split = np.sort(rng.choice(m, extra, replace=extra > m))
        bins = pl.DataFrame({"_line": split.astype(np.uint32)}).with_columns(
            _bin=(pl.int_range(pl.len()).over("_line") + 1).cast(pl.Int64))
        overflow = primary.drop("_bin").join(bins, on="_line", how="inner",
                                             maintain_order="right")
        # Each overflow bin holds a small share; the main bin keeps the rest.
        per_line = overflow.select(pl.len().over("_line")).to_series().to_numpy()
        line_qty = overflow["_qty"].to_numpy()
        parts = line_qty * rng.uniform(0.05, 0.3, extra) / per_line
        dec = overflow["_decimal"].to_numpy()
        parts = np.where(line_qty > 0, np.where(dec, np.round(parts, 3), np.floor(parts)), 0.0)
        overflow = overflow.with_columns(_qty=pl.Series(parts))
        moved = overflow.group_by("_line").agg(pl.col("_qty").sum().alias("_moved"))
        primary = primary.join(moved, on="_line", how="left", maintain_order="left").with_columns(
            _qty=(pl.col("_qty") - pl.col("_moved").fill_null(0.0)).round(3)).drop("_moved")
        rows = pl.concat([primary, overflow.select(primary.columns)]).sort(
            ["_line", "_bin"], maintain_order=True)

    n = rows.height
    qty = np.maximum(rows["_qty"].to_numpy(), 0.0)  # nobody counts negative stock
    dec = rows["_decimal"].to_numpy()
    variance = rng.random(n) < 0.15
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    delta = np.where(dec, np.round(qty * rng.uniform(0.005, 0.03, n) + 0.001, 3),
                     rng.integers(1, 4, n).astype(float))
    counted = np.where(variance, np.maximum(qty + sign * delta, 0.0), qty)
    counted = np.where(variance & (counted == qty), qty + delta, counted)
    counted = np.where(dec, np.round(counted, 3), np.round(counted))

    # Expressions: cartons x pack size (+ loose pieces), value equal to the true count.
    eligible = ~variance & ~dec & (counted >= 12)
    expression = eligible & (rng.random(n) < 0.02)
    if eligible.any() and not expression.any():
        expression[np.flatnonzero(eligible)[0]] = True
    pack_sizes = np.array([2, 3, 4, 5, 6, 10, 12, 20, 24, 25])
    pack = pack_sizes[rng.integers(0, len(pack_sizes), n)]
    pack = np.where(pack * 2 > counted, 2, pack)
    cartons = (counted // pack).astype(np.int64)
    loose = (counted - cartons * pack).astype(np.int64)

    notes_variance = _choice(rng, (None, None, "damaged carton", "found extra on pallet",
                                   "bin label missing", "recount please"), n)
    aisle = rng.integers(0, 24, n)
    overflow_bin = rows["_bin"].to_numpy() > 0
    out = rows.with_columns(
        _counted=pl.Series(counted), _dec=pl.Series(dec), _expr=pl.Series(expression),
        _cartons=pl.Series(cartons), _pack=pl.Series(pack), _loose=pl.Series(loose),
        _aisle=pl.Series(aisle), _variance=pl.Series(variance),
        _overflow=pl.Series(overflow_bin),
        _keep_zeros=pl.Series(rng.random(n) < 0.15),
        _level=_choice(rng, tuple("ABCDE"), n),
        _pos=_ints(rng, 1, 9, n),
        _ovf=_ints(rng, 1, 3, n),
        _note=notes_variance,
    )
    number_text = (
        pl.when(pl.col("_dec"))
        .then(pl.col("_counted").round(3).cast(pl.String).str.replace(r"\.0$", ""))
        .otherwise(pl.col("_counted").cast(pl.Int64).cast(pl.String))
    )
    expr_text = pl.concat_str([
        pl.col("_cartons").cast(pl.String), pl.lit("*"), pl.col("_pack").cast(pl.String),
        pl.when(pl.col("_loose") > 0).then(pl.lit("+") + pl.col("_loose").cast(pl.String))
        .otherwise(pl.lit("")),
    ])
    digits = pl.col("material").str.contains(r"^\d+$")
    out = out.with_columns(
        count_date=pl.lit(count_date, dtype=pl.Date),
        # Counters type material numbers without the leading zeros, mostly.
        material=pl.when(digits & ~pl.col("_keep_zeros"))
        .then(pl.col("material").str.strip_chars_start("0")).otherwise(pl.col("material")),
        location=pl.when(pl.col("_overflow")).then(pl.lit("OVERFLOW-") + pl.col("_ovf"))
        .otherwise(pl.concat_str([pl.lit("R"), pl.col("_aisle").cast(pl.String).str.zfill(2),
                                  pl.lit("-"), pl.col("_level"), pl.lit("-"), pl.col("_pos")])),
        quantity=pl.when(pl.col("_expr")).then(expr_text).otherwise(number_text),
        # Each counter walks their own aisles.
        counter=pl.Series(list(COUNTERS), dtype=pl.String).gather(aisle % len(COUNTERS)),
        notes=pl.when(pl.col("_expr") & (pl.col("_loose") == 0))
        .then(pl.concat_str([pl.col("_cartons").cast(pl.String), pl.lit(" cartons of "),
                             pl.col("_pack").cast(pl.String)]))
        .when(pl.col("_variance")).then(pl.col("_note")),
    )
    return _conform(out, COUNT_SCHEMA)


def next_day_stock(stock: pl.DataFrame, master: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The following day's MB52: ~5 % of the lines had goods issued."""
    rng = np.random.default_rng(seed)
    n = stock.height
    prices = (master.sort("valuation_type", nulls_last=False, maintain_order=True)
              .unique(["material", "plant"], keep="first", maintain_order=True)
              .select("material", "plant", pl.col("price").alias("_price"),
                      pl.col("price_unit").alias("_unit")))
    unrestricted = stock["unrestricted"].to_numpy()
    decimal = stock["base_uom"].is_in(list(_DECIMAL_UOMS)).to_numpy()
    issued = unrestricted * rng.uniform(0.0, 0.3, n)
    issued = np.where(decimal, np.round(issued, 3), np.floor(issued))
    moved = (rng.random(n) < 0.05) & (unrestricted > 0) & (issued > 0)
    out = stock.join(prices, on=["material", "plant"], how="left", maintain_order="left")
    return out.with_columns(
        _moved=pl.Series(moved),
        unrestricted=pl.Series(np.where(moved, np.round(unrestricted - issued, 3), unrestricted)),
    ).with_columns(
        value_unrestricted=pl.when(pl.col("_moved"))
        .then((pl.col("unrestricted") * pl.col("_price") / pl.col("_unit"))
              .round(2, mode="half_away_from_zero"))
        .otherwise(pl.col("value_unrestricted")),
    ).select(stock.columns)
