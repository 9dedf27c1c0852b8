"""Overview: what the warehouse holds right now."""

import streamlit as st

from warehouse_data import stock_value_by_plant, warehouse_totals

st.title("Warehouse overview")
totals = warehouse_totals()

if not totals["active_materials"] and not totals["snapshot_lines"]:
    st.info("The warehouse is empty. Drop SAP exports into the drop folder, run "
            "`wics load FILE`, or `make demo` for demo data.")

left, middle, right, last = st.columns(4)
left.metric("Active materials", f"{totals['active_materials']:,}",
            help="material × plant rows of the latest MM60 loads")
middle.metric("Plants", totals["plants"])
right.metric("Latest SAP snapshot", str(totals["latest_snapshot"] or "none"),
             help=f"{totals['snapshot_lines']:,} MB52 lines")
last.metric("Count records", f"{totals['counts']:,}")

st.subheader("Unrestricted stock value, latest snapshot")
st.dataframe(stock_value_by_plant(), hide_index=True, width="stretch",
             column_config={"value_unrestricted": st.column_config.NumberColumn(
                 "Value unrestricted", format="%.2f")})
