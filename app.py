"""The costlens dashboard: page setup and navigation only (run it with ``costlens serve``).

Each page lives in ``app_pages/`` and reads the serving snapshot through ``costlens.queries``;
nothing here connects to anything.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="costlens", page_icon=":material/savings:", layout="wide")
# A user sees an error's message (pages turn costlens errors into st.error), never a traceback.
st.set_option("client.showErrorDetails", "none")
st.set_option("client.toolbarMode", "viewer")

PAGES = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("app_pages/owners.py", title="Owners", icon=":material/groups:"),
    st.Page("app_pages/anomalies.py", title="Anomalies", icon=":material/warning:"),
    st.Page("app_pages/allocation_health.py", title="Allocation health", icon=":material/rule:"),
    st.Page("app_pages/explore.py", title="Explore", icon=":material/query_stats:"),
]

st.navigation(PAGES).run()
