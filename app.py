"""Entry point of the promotion portal: `streamlit run app.py`.

This file is the router and frame of every page and nothing more. The portal's rules live in `src/portal`
(which never imports Streamlit); pages only lay out widgets and call it.
"""

import streamlit as st

st.set_page_config(page_title="Promotion portal", page_icon=":material/rocket_launch:", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
]

st.navigation(pages).run()
