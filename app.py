"""The costlens dashboard: page setup, navigation and the sidebar (run it with ``costlens serve``).

Each page lives in ``app_pages/`` and reads the serving snapshot through ``costlens.queries``.
Streamlit runs this script on every rerun, before the page: the sidebar drawn here is the same
widgets on every page, so the user's choices follow them (the pages read them with
``controls()``).
"""

from __future__ import annotations

import streamlit as st

from app_pages._shared import draw_freshness, draw_sidebar
from app_pages.pages import PAGES

# An emoji icon is drawn by the browser itself; a Material icon as the page icon would be fetched
# from a font host on the internet (the navigation's Material icons are bundled with Streamlit).
st.set_page_config(page_title="costlens", page_icon="💰", layout="wide")
# A user sees an error's message (pages turn costlens errors into st.error), never a traceback.
st.set_option("client.showErrorDetails", "none")
st.set_option("client.toolbarMode", "viewer")

page = st.navigation(
    [st.Page(p.path, title=p.title, icon=p.icon, default=p.default) for p in PAGES]
)
draw_sidebar()
draw_freshness()
page.run()
