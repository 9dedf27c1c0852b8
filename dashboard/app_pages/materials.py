"""Materials: find a material and see everything WICS knows about it, or where every material
was last found (the part-locations report)."""

from datetime import date

import altair as alt
import polars as pl
import streamlit as st

from pipelines.access import Action
from pipelines.counting.materials import entry_state

import formatting
import materials_data as data
from auth import current_user

st.title("Materials")
view = st.radio("View", ["One material", "Part locations of all materials"], horizontal=True,
                label_visibility="collapsed", key="materials_view")


def _quantity(value: float | None, unit: str | None) -> str:
    text = formatting.quantity(value)
    return f"{text} {unit}" if unit and value is not None else text


def _money(value: float | None, currency: str | None) -> str:
    """Cents only where they matter: a metric has room for about ten characters."""
    big = value is not None and abs(value) >= 1000
    return formatting.money(value, currency, decimals=0 if big else 2)


def _blank(frame: pl.DataFrame) -> pl.DataFrame:
    """Empty text shows as nothing, not as a grey "None" in every other cell."""
    return frame.with_columns(pl.col(pl.String).fill_null(""),
                              pl.col(pl.Null).cast(pl.String).fill_null(""))


def choose_material() -> tuple[str, str] | None:
    """The material × plant to show: from the search, else from the address (?material=)."""
    text = st.text_input("Material number or description", key="material_search",
                         placeholder="10000001, 000000000010000001, or words of the "
                         "description such as 'bolt m8'")
    wanted = (st.query_params.get("material"), st.query_params.get("plant"))
    if not text:
        if wanted[0] and wanted[1]:
            return wanted[0], wanted[1]
        if not wanted[0]:
            st.caption("Search by number (with or without leading zeros), by the start of a "
                       "number, or by words of the description.")
            return None
        text = wanted[0]  # ?material= without a plant: its plants to choose from
    found = data.search(text)
    if found.is_empty():
        st.warning(f"No material matches “{text}”.")
        return None
    keys = list(found.select("material", "plant").iter_rows())
    labels = {
        (row["material"], row["plant"]):
            f"{row['material']} · plant {row['plant']} · {row['description'] or ''}"
            + (f" · {row['abc_indicator']}" if row["abc_indicator"] else "")
            + ("" if row["is_active"] else " · inactive")
        for row in found.iter_rows(named=True)
    }
    chosen = st.selectbox(
        f"{len(keys)} found" + (" (the first 50)" if len(keys) >= 50 else ""), keys,
        index=keys.index(wanted) if wanted in keys else 0,
        format_func=labels.__getitem__, key="material_choice",
    )
    return chosen


def stock_chart(stock: pl.DataFrame, unit: str | None) -> None:
    if stock.is_empty():
        st.info("No SAP stock line of this material in any MB52 snapshot of its plant.")
        return
    chart = (
        alt.Chart(stock.to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("yearmonthdate(snapshot_date):O", title="Snapshot",
                    axis=alt.Axis(format="%Y-%m-%d", labelAngle=-45)),
            y=alt.Y("sum(sap_qty):Q", title=f"SAP stock ({unit or 'base unit'})"),
            color=alt.Color("storage_location:N", title="Storage location"),
            tooltip=[alt.Tooltip("snapshot_date:T", title="Snapshot", format="%Y-%m-%d"),
                     alt.Tooltip("storage_location:N", title="Storage location"),
                     alt.Tooltip("sap_qty:Q", title="Stock", format=",.3~f"),
                     alt.Tooltip("unrestricted:Q", title="Unrestricted", format=",.3~f"),
                     alt.Tooltip("in_transit:Q", title="In transit (not counted)",
                                 format=",.3~f")],
        )
        .properties(height=300)
    )
    st.altair_chart(chart, width="stretch")


def show_material(material: str, plant: str) -> None:
    details = data.material_details(material, plant)
    if details is None:
        st.warning(f"Material {material} is not in the material master of plant {plant}.")
        return
    record, stock, variances, schedule = (details[k] for k in ("record", "stock", "variances",
                                                                "schedule"))
    unit = record["base_uom"]

    st.header(f"{material} · {record['description'] or 'no description'}", divider="gray")
    status = "active" if record["is_active"] else ":red[inactive: the latest MM60 of its " \
        "plant does not list it]"
    st.caption(f"Plant {plant} · {status} · master data from "
               f"{record['loaded_from'] or 'an earlier load'}"
               + (f" ({record['loaded_at']:%Y-%m-%d %H:%M})" if record["loaded_at"] else ""))

    latest = stock.filter(pl.col("snapshot_date") == stock["snapshot_date"].max()) \
        if stock.height else stock
    last_count = variances.row(0, named=True) if variances.height else None
    upcoming = schedule.filter((pl.col("status") == "planned")
                               & (pl.col("count_date") >= date.today()))
    price = (record["price"] / record["price_unit"]) if record["price"] is not None \
        and record["price_unit"] else None
    cells = st.columns(5)
    cells[0].metric(
        "SAP stock", _quantity(latest["sap_qty"].sum() if latest.height else None, unit),
        help="Latest snapshot " + (f"{latest['snapshot_date'][0]:%Y-%m-%d}" if latest.height
                                   else "none") + ": the stock basis counts are compared with")
    cells[1].metric("Stock value (unrestricted)",
                    _money(latest["value_unrestricted"].sum() if latest.height else None,
                           record["currency"]))
    cells[2].metric("Unit price", _money(price, record["currency"]),
                    help=f"price {record['price']} per {record['price_unit']:g} {unit or ''}"
                    if price is not None else None)
    if last_count is None or last_count["variance_qty"] is None:
        delta = None  # never counted, or no snapshot to compare with
    elif last_count["variance_qty"] == 0:
        delta = "matches SAP"
    elif last_count["variance_pct"] is None:
        delta = f"{last_count['variance_qty']:+,g} vs SAP 0"
    else:
        delta = f"{last_count['variance_pct']:+.1f} % vs SAP"
    cells[3].metric(
        "Last count", f"{last_count['count_date']:%Y-%m-%d}" if last_count else "never",
        delta=delta, delta_arrow="off" if delta == "matches SAP" else "auto",
        # Any variance beyond tolerance is bad, whichever its sign.
        delta_color="red" if last_count and last_count["within_tolerance"] is False
        else "gray", help="red: out of tolerance" if last_count else None)
    cells[4].metric("Next planned count",
                    f"{upcoming['count_date'].min():%Y-%m-%d}" if upcoming.height else "none")

    st.dataframe(
        _blank(pl.DataFrame([record]).select(
            "material_type", "material_group", "base_uom", "abc_indicator", "price",
            "price_unit", "currency", "valuation_type", "last_change", "updated_at")),
        hide_index=True, width="stretch",
        column_config={"material_type": "Type", "material_group": "Material group",
                       "base_uom": "Base unit", "abc_indicator": "ABC",
                       "price": st.column_config.NumberColumn("Price", format="%.2f"),
                       "price_unit": st.column_config.NumberColumn("Per", format="%g"),
                       "currency": "Currency", "valuation_type": "Valuation type",
                       "last_change": st.column_config.DateColumn("Last change in SAP",
                                                                  format="YYYY-MM-DD"),
                       "updated_at": st.column_config.DatetimeColumn(
                           "Changed in WICS", format="YYYY-MM-DD HH:mm")},
    )

    left, right = st.columns([1, 1], gap="large")
    with left:
        st.subheader("SAP stock by storage location")
        stock_chart(stock, unit)
    with right:
        st.subheader("Where it was last found")
        places = details["places"]
        if places.is_empty():
            st.info("No count has recorded a location of this material yet.")
        else:
            st.dataframe(
                _blank(places.select("storage_location", "location", "last_seen",
                                     "last_quantity", "last_counters")),
                hide_index=True, width="stretch", height=min(38 + 35 * places.height, 300),
                column_config={"storage_location": "SLoc", "location": "Location",
                               "last_seen": st.column_config.DateColumn(
                                   "Last seen", format="YYYY-MM-DD"),
                               "last_quantity": st.column_config.NumberColumn(
                                   "Counted there", format="localized",
                                   help="empty: seen there, not counted"),
                               "last_counters": "By"},
            )

    counts, changes = details["counts"], details["changes"]
    tabs = st.tabs([f"Counts and variances ({variances.height})",
                    f"Count schedule ({schedule.height})",
                    f"MM60 changes ({changes.height})"])
    with tabs[0]:
        if variances.is_empty() and counts.is_empty():
            st.info("This material has not been counted yet.")
        else:
            st.dataframe(
                _blank(variances), hide_index=True, width="stretch",
                column_config={
                    "count_date": st.column_config.DateColumn("Count date", format="YYYY-MM-DD"),
                    "counted_qty": st.column_config.NumberColumn("Counted", format="localized"),
                    "sap_snapshot_date": st.column_config.DateColumn("SAP snapshot",
                                                                     format="YYYY-MM-DD"),
                    "sap_qty": st.column_config.NumberColumn("SAP", format="localized"),
                    "variance_qty": st.column_config.NumberColumn("Variance",
                                                                  format="localized"),
                    "variance_pct": st.column_config.NumberColumn("Variance %",
                                                                  format="%.1f %%"),
                    "variance_value": st.column_config.NumberColumn("Value", format="localized"),
                    "currency": "Cur.", "tolerance_pct": st.column_config.NumberColumn(
                        "Tolerance %", format="%g"),
                    "within_tolerance": "Within", "needs_recount": "Recount",
                    "count_lines": "Entries", "counters": "Counters"},
            )
            st.markdown("**Every count entry**, corrected and voided ones included")
            entries = counts.with_columns(entry_state())
            st.dataframe(
                _blank(entries.select("count_id", "count_date", "state", "storage_location",
                                      "location", "quantity", "quantity_expr", "counter",
                                      "entered_by", "entered_at", "voided_by", "void_reason",
                                      "notes")),
                hide_index=True, width="stretch",
                column_config={
                    "count_id": st.column_config.NumberColumn("Count", format="%d"),
                    "count_date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
                    "state": "State", "storage_location": "SLoc", "location": "Location",
                    "quantity": st.column_config.NumberColumn("Quantity", format="localized"),
                    "quantity_expr": "Typed", "counter": "Counter", "notes": "Notes",
                    "entered_by": "Entered by",
                    "entered_at": st.column_config.DatetimeColumn("Entered",
                                                                  format="YYYY-MM-DD HH:mm"),
                    "voided_by": "Voided by", "void_reason": "Why"},
            )
            user = current_user()
            may_write = user is not None and user.may(Action.ENTER_COUNTS)
            st.page_link("app_pages/counts.py",
                         label="Correct or void these counts" if may_write
                         else "These counts in the counts list",
                         icon=":material/edit_note:" if may_write else ":material/list:",
                         query_params={"material": material})
    with tabs[1]:
        if schedule.is_empty():
            st.info("This material has never been on the count schedule.")
        else:
            st.dataframe(
                _blank(schedule.drop("schedule_id")), hide_index=True, width="stretch",
                column_config={
                    "count_date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
                    "storage_location": "SLoc", "counter": "Counter", "reason": "Reason",
                    "status": "Status",
                    "counted_on": st.column_config.DateColumn("Counted on",
                                                              format="YYYY-MM-DD"),
                    "priority": "Priority", "requested_by": "Requested by",
                    "request_note": "Note",
                    "source_count_date": st.column_config.DateColumn(
                        "Recount of", format="YYYY-MM-DD"),
                    "created_by": "Created by",
                    "created_at": st.column_config.DatetimeColumn("Created",
                                                                  format="YYYY-MM-DD HH:mm")},
            )
    with tabs[2]:
        if changes.is_empty():
            st.info("No MM60 load has changed this material since it was first loaded.")
        else:
            st.dataframe(
                _blank(changes), hide_index=True, width="stretch",
                column_config={
                    "changed_at": st.column_config.DatetimeColumn("When",
                                                                  format="YYYY-MM-DD HH:mm"),
                    "load_id": st.column_config.NumberColumn("Load", format="%d"),
                    "file_name": "File", "change": "Change", "field": "Field",
                    "old_value": "Old", "new_value": "New"},
            )


def show_part_locations() -> None:
    st.caption("Where each material was last found: every storage location and bin a "
               "non-voided count recorded, latest first (the part-locations report).")
    left, middle, right = st.columns([1, 3, 1], vertical_alignment="bottom")
    plant = left.text_input("Plant", key="part_locations_plant", max_chars=8,
                            placeholder="all plants").strip() or None
    places, totals = data.part_locations_screen(plant)
    if places.is_empty():
        st.info("No count has recorded a location yet.")
        return
    shown = places["material"].n_unique()
    middle.caption(f"{totals['materials']:,} materials in {totals['places']:,} places"
                   + (f"; the first {places.height:,} places ({shown:,} materials) shown, the "
                      "download has all" if places.height < totals["places"] else ""))
    right.download_button(
        "Download xlsx", data=lambda: data.part_locations_xlsx(plant),
        file_name=f"part_locations_{plant or 'all'}_{date.today():%Y-%m-%d}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/download:", on_click="ignore", width="stretch",
        help=f"every place of every material{'' if plant is None else ' of plant ' + plant}: "
        f"{totals['places']:,} rows, written when you click (the whole report of a big "
        "warehouse takes up to a minute)")
    st.dataframe(
        _blank(places.drop("first_seen")), hide_index=True,
        width="stretch", height=600,
        column_config={
            "material": "Material", "plant": "Plant", "description": "Description",
            "storage_location": "SLoc", "location": "Location",
            "last_seen": st.column_config.DateColumn("Last seen", format="YYYY-MM-DD"),
            "last_quantity": st.column_config.NumberColumn("Counted there", format="localized"),
            "base_uom": "Unit", "last_counters": "By",
            "days_seen": st.column_config.NumberColumn("Days seen")},
    )


if view == "One material":
    chosen = choose_material()
    if chosen is not None:
        if (st.query_params.get("material"), st.query_params.get("plant")) != chosen:
            st.query_params.update({"material": chosen[0], "plant": chosen[1]})
        show_material(*chosen)
else:
    show_part_locations()
