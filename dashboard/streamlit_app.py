"""WICS dashboard: sign-in first, then one st.navigation app of the pages the user's role sees.

The page table is ``navigation.PAGES``; every page is a thin module under app_pages/.
"""

import streamlit as st

from auth import require_sign_in
from navigation import pages_for

st.set_page_config(page_title="WICS", page_icon=":material/inventory_2:", layout="wide")

user = require_sign_in()  # an anonymous visitor gets the sign-in form; no page runs
pages = st.navigation([st.Page(p.path, title=p.title, icon=p.icon, default=p.default)
                       for p in pages_for(user)])
pages.run()
