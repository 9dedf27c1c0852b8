"""WICS dashboard: one st.navigation app, a module per page under app_pages/."""

import streamlit as st

st.set_page_config(page_title="WICS", page_icon=":material/inventory_2:", layout="wide")

pages = st.navigation(
    {
        "Warehouse": [
            st.Page("app_pages/overview.py", title="Overview", icon=":material/warehouse:",
                    default=True),
            st.Page("app_pages/materials.py", title="Materials", icon=":material/search:"),
            st.Page("app_pages/counts.py", title="Counts", icon=":material/fact_check:"),
            st.Page("app_pages/loads.py", title="SAP loads", icon=":material/upload_file:"),
        ],
    }
)
pages.run()
