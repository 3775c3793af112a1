"""Home page: the portal is a placeholder for now; the command line does the work."""

import streamlit as st

st.title("Promotion portal")
st.info("The portal is under construction. For now, use the command line.", icon=":material/construction:")

st.markdown(
    """
The command-line tool exports an Azure Data Factory's Git JSON to the ARM templates that ADF *Publish* would
write, offline, and checks the factory for problems first.
"""
)

st.subheader("Export ARM templates")
st.code("portal export-arm path/to/adf-root --out build/arm --ref main", language="bash")

st.subheader("Validate a factory")
st.code("portal validate path/to/adf-root --ref main", language="bash")

st.caption("Both commands also run as `python -m portal ...`. See the README for every option.")
