"""Entry point of the promotion portal: `streamlit run app.py`.

The frame of every page and nothing more: which repository is served, who is signed in, and the navigation. The
portal's rules live in `src/portal` (which never imports Streamlit); pages only lay out widgets and call it.
"""

import streamlit as st

from portal.errors import PortalError
from portal.session import DEMO_PEOPLE, identity_of, portal_site

st.set_page_config(page_title="Promotion portal", page_icon=":material/rocket_launch:", layout="wide")


@st.cache_resource(show_spinner="Opening the data repository (the first start builds the demo)…")
def _site():
    return portal_site()


try:
    site = _site()
except PortalError as error:
    st.error(f"{error.where}: {error.what}" + (f" — {error.hint}" if error.hint else ""))
    st.stop()

def _signs_in() -> bool:
    """OIDC sign-in (Microsoft Entra ID) is on when .streamlit/secrets.toml has an [auth] section."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all (StreamlitSecretNotFoundError is one)
        return False


signs_in = _signs_in()
with st.sidebar:
    if signs_in:
        if not st.user.is_logged_in:
            st.info("Sign in to use the portal.")
            st.button("Sign in with Microsoft", on_click=st.login, type="primary")
        else:
            st.caption(f"Signed in as **{st.user.get('email') or st.user.get('name')}**")
            st.button("Sign out", on_click=st.logout)
        person = None
    else:
        st.warning("Not authenticated: demo mode. Pick who you are; the audit trail marks it unverified.",
                   icon=":material/no_accounts:")
        person = st.selectbox("Act as", list(DEMO_PEOPLE), format_func=DEMO_PEOPLE.get, key="demo_person")
    st.caption(f"Repository: {site.label}")

st.session_state["site"] = site
st.session_state["identity"] = identity_of(st.user.to_dict() if signs_in else None, demo_person=person, site=site)

pages = [
    st.Page("pages/environments.py", title="Environments", icon=":material/dns:", default=True),
    st.Page("pages/parameters.py", title="Parameters", icon=":material/tune:"),
    st.Page("pages/templates.py", title="Templates", icon=":material/data_object:"),
    st.Page("pages/promote.py", title="Promote", icon=":material/rocket_launch:"),
    st.Page("pages/audit.py", title="Audit", icon=":material/history:"),
]
st.navigation(pages).run()
