"""The costlens dashboard: page setup and navigation only (run it with ``costlens serve``).

Each page lives in ``app_pages/`` and reads the serving snapshot through ``costlens.queries``;
nothing here connects to anything.
"""

from __future__ import annotations

import streamlit as st

from app_pages.pages import PAGES

st.set_page_config(page_title="costlens", page_icon=":material/savings:", layout="wide")
# A user sees an error's message (pages turn costlens errors into st.error), never a traceback.
st.set_option("client.showErrorDetails", "none")
st.set_option("client.toolbarMode", "viewer")

st.navigation([st.Page(p.path, title=p.title, icon=p.icon, default=p.default) for p in PAGES]).run()
