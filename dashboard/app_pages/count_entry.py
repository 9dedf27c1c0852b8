"""Count entry, for a tablet on the warehouse floor: a counter's list of the day (blind: no
SAP quantities), a quantity per location as typed (``24*12+7``), materials not on the list,
and what was already counted, with corrections and voids that keep the history."""

from datetime import date, timedelta

import polars as pl
import streamlit as st
from counting_data import (
    counter_names,
    day_list,
    entered_counts,
    history_of,
    materials_matching,
    page_settings,
    write,
)

from pipelines.access import Action, Role, User
from pipelines.counting.records import add_count, edit_count, void_count
from pipelines.sap.expression import QuantityError, evaluate_quantity
from pipelines.settings import Settings

from auth import current_user


def number(value: float) -> str:
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def typed_quantity(text: str) -> tuple[float | None, str | None]:
    """(value, None) of what was typed, or (None, why it is not a quantity)."""
    try:
        value = evaluate_quantity(text)
    except QuantityError as error:
        return None, f"“{text.strip()}” is not a quantity: {error}"
    if value is not None and value < 0:
        return None, "a counted quantity cannot be negative"
    return value, None


def show_typed(text: str, location: str, unit: str | None) -> None:
    """The value of the quantity as typed, or why it is not one."""
    value, problem = typed_quantity(text)
    if problem:
        st.error(problem, icon=":material/error:")
    elif value is not None:
        st.markdown(f"= **{number(value)}** {unit or ''}")
    elif location.strip():
        st.caption("No quantity: saved as *location only* (seen there, not counted).")


def flash(message: str) -> None:
    st.session_state["entry_flash"] = message


@st.fragment
def count_form(key: str, *, day: date, counter: str, user: User, settings: Settings,
               material: str, plant: str,
               storage_location: str | None, unit: str | None,
               ask_storage_location: bool = False) -> None:
    """Location, quantity and flags of one count; typing reruns only this form."""
    generation = st.session_state.get(f"{key}_gen", 0)
    k = f"{key}_{generation}"  # a new generation after a save gives empty fields
    left, right = st.columns(2)
    location = left.text_input("Location (bin)", key=f"{k}_loc", placeholder="e.g. A-01-02")
    quantity = right.text_input("Quantity", key=f"{k}_qty", live=True,
                                placeholder="e.g. 24*12+7; empty = location only")
    show_typed(quantity, location, unit)
    if ask_storage_location:
        storage_location = st.text_input("Storage location", value=storage_location or "",
                                         key=f"{k}_sloc", placeholder="optional") or None
    moved, not_received = st.columns(2)
    movement = moved.checkbox("Stock moved during the count", key=f"{k}_moved")
    unreceived = not_received.checkbox("Possibly not received in SAP", key=f"{k}_unrec")
    notes = st.text_input("Notes", key=f"{k}_notes")
    if st.button("Save count", key=f"{k}_save", type="primary", icon=":material/save:"):
        _, problem = typed_quantity(quantity)
        if problem:
            st.error(f"Not saved: {problem}")
            return
        outcome = write(add_count, count_date=day, material=material, plant=plant,
                        quantity=quantity or None, storage_location=storage_location,
                        location=location or None, counter=counter, notes=notes or None,
                        movement_during_count=movement, possibly_not_received=unreceived,
                        user=user, settings=settings)
        if not outcome.ok:
            st.error(f"Not saved: {outcome.error}")
            return
        what = f"{number(evaluate_quantity(quantity))} {unit or ''}".strip() \
            if quantity.strip() else "location only"
        flash(f"Saved count {outcome.result}: {material} {what}"
              + (f" at {location}" if location else "") + ".")
        st.session_state[f"{key}_gen"] = generation + 1
        st.rerun()


st.title("Count entry")
user = current_user()
if user is None:
    st.info("Sign in to enter counts.")
    st.stop()
if not user.may(Action.ENTER_COUNTS):
    st.info(f"{user.name} is a {user.role.value}: viewers can see counts but not enter them.")
    st.stop()
settings = page_settings()
if settings is None:
    st.stop()
if message := st.session_state.pop("entry_flash", None):
    st.success(message)

pick_day, pick_counter = st.columns(2)
day = pick_day.date_input("Date", value=date.today(), key="entry_day", format="YYYY-MM-DD")
names = counter_names(day - timedelta(days=31), day + timedelta(days=31))
# Account names are lower case (pipelines/accounts.py); the team may be written "ANA".
mine = next((name for name in names if name.casefold() == user.name.casefold()), None)
if mine is None and (user.role is Role.COUNTER or not names):
    names, mine = [user.name, *names], user.name
default = names.index(mine) if mine in names else 0
counter = pick_counter.selectbox("Counter", names, index=default, key="entry_counter")

todo = day_list(day, counter)
open_lines = todo.filter(pl.col("status") == "planned")
done = todo.filter(pl.col("status") == "counted")
st.subheader(f"To count: {open_lines.height} of {todo.height}")
st.caption("Blind count: SAP quantities are not shown. Write each location on its own entry; "
           "nothing there: 0; seen but not counted: location only.")
if todo.is_empty():
    st.info(f"Nothing is scheduled for {counter} on {day:%A %d %B}. Add materials below.")
for line in pl.concat([open_lines, done]).iter_rows(named=True):
    finished = line["status"] == "counted"
    where = f" · SLoc {line['storage_location']}" if line["storage_location"] else ""
    label = (f"{line['material']} · {line['description'] or ''}{where} · plant "
             f"{line['plant']}" + (f" · {line['reason']}" if line["reason"] != "cycle" else ""))
    with st.expander(label, icon=":material/check_circle:" if finished
                     else ":material/radio_button_unchecked:"):
        if line["request_note"]:
            st.caption(line["request_note"])
        count_form(f"line_{line['schedule_id']}_{counter}_{day}", day=day, counter=counter,
                   user=user, settings=settings, material=line["material"],
                   plant=line["plant"], storage_location=line["storage_location"],
                   unit=line["base_uom"])

st.subheader("A material not on the list")
search = st.text_input("Material number or description", key="entry_search", live=True,
                       placeholder="e.g. 10000001, 000010000001 or bolt")
if search.strip():
    found = materials_matching(search)
    if found.is_empty():
        st.warning(f"No active material matches “{search.strip()}”.")
    else:
        options = {f"{m['material']}|{m['plant']}": m for m in found.iter_rows(named=True)}
        picked = st.selectbox(
            "Material", list(options), key="entry_pick",
            format_func=lambda k: f"{options[k]['material']} · plant {options[k]['plant']} · "
                                  f"{options[k]['description'] or ''}")
        chosen = options[picked]
        count_form(f"extra_{picked}_{counter}_{day}", day=day, counter=counter, user=user,
                   settings=settings,
                   material=chosen["material"],
                   plant=chosen["plant"], storage_location=None, unit=chosen["base_uom"],
                   ask_storage_location=True)

st.subheader(f"Counted on {day:%d %B} by {counter}")
show_voided = st.toggle("Show voided and corrected entries", key="entry_voided")
entries = entered_counts(day, counter, include_voided=show_voided)
if entries.is_empty():
    st.caption("Nothing yet.")
else:
    st.dataframe(
        # Narrow tablet screen: what was counted where comes first, the description last.
        entries.select("count_id", "material", "location", "quantity_expr", "quantity",
                       "base_uom", "entered_at", "storage_location", "voided_at",
                       "description").with_columns(
            pl.col("location", "storage_location", "quantity_expr").fill_null("")),
        hide_index=True, width="stretch",
        column_config={
            "count_id": st.column_config.NumberColumn("#", format="%d", width="small"),
            "material": "Material",
            "description": st.column_config.TextColumn("Description", width="medium"),
            "storage_location": "SLoc", "location": "Location", "quantity_expr": "Typed",
            "quantity": st.column_config.NumberColumn("Quantity", format="localized"),
            "base_uom": "Unit",
            "entered_at": st.column_config.DatetimeColumn("Saved", format="HH:mm"),
            "voided_at": st.column_config.DatetimeColumn("Voided", format="HH:mm"),
        })
    live = entries.filter(pl.col("voided_at").is_null())
    if not live.is_empty():
        options = {row["count_id"]: row for row in live.iter_rows(named=True)}
        with st.expander("Correct or void an entry", icon=":material/edit:"):
            picked = st.selectbox(
                "Entry", list(options), key="entry_change",
                format_func=lambda i: f"#{i} · {options[i]['material']} · "
                                      f"{options[i]['location'] or '–'} · "
                                      f"{options[i]['quantity_expr'] or 'location only'}")
            entry = options[picked]
            with st.form(f"edit_{picked}"):
                left, right = st.columns(2)
                new_location = left.text_input("Location", value=entry["location"] or "")
                new_quantity = right.text_input("Quantity", value=entry["quantity_expr"] or "")
                new_notes = st.text_input("Notes", value=entry["notes"] or "")
                why = st.text_input("Reason", placeholder="e.g. second pallet found")
                save, void = st.columns(2)
                corrected = save.form_submit_button("Save correction", type="primary")
                voided = void.form_submit_button("Void this entry")
            if corrected:
                _, problem = typed_quantity(new_quantity)
                outcome = None if problem else write(
                    edit_count, picked, user=user, location=new_location or None,
                    quantity=new_quantity or None, notes=new_notes or None,
                    reason=why or None, settings=settings)
                if outcome is not None and outcome.ok:
                    flash(f"Corrected entry {picked} (now {outcome.result}).")
                    st.rerun()
                st.error(f"Not saved: {problem or outcome.error}")
            if voided:
                outcome = write(void_count, picked, user=user, reason=why or None,
                                settings=settings)
                if outcome.ok:
                    flash(f"Voided entry {picked}; it stays in the history.")
                    st.rerun()
                st.error(f"Not voided: {outcome.error}")
            history = history_of(picked)
            if history.height > 1:
                st.caption("History of this entry (oldest first)")
                st.dataframe(history.select("count_id", "location", "quantity_expr",
                                            "entered_by", "entered_at", "voided_at",
                                            "voided_by", "void_reason"),
                             hide_index=True, width="stretch")
