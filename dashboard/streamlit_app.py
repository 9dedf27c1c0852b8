"""WICS dashboard: one st.navigation app, a module per page under app_pages/."""

import streamlit as st

st.set_page_config(page_title="WICS", page_icon=":material/inventory_2:", layout="wide")

pages = st.navigation(
    {
        "Warehouse": [
            st.Page("app_pages/overview.py", title="Overview", icon=":material/warehouse:",
                    default=True),
            st.Page("app_pages/count_schedule.py", title="Count schedule",
                    icon=":material/calendar_month:"),
            st.Page("app_pages/count_entry.py", title="Count entry",
                    icon=":material/edit_note:"),
            st.Page("app_pages/loads.py", title="SAP loads", icon=":material/upload_file:"),
        ],
    }
)
pages.run()
