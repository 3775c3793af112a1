"""Entry point of the promotion portal: `streamlit run app.py`.

The frame of every page and nothing more: which repository is served, who is signed in, and the navigation. The
portal's rules live in `src/portal` (which never imports Streamlit); pages only lay out widgets and call it.
"""

import streamlit as st

from portal.errors import PortalError, describe
from portal.usecases.reading import open_promotions
from portal.usecases.session import DEMO_PEOPLE, identity_of, portal_site, sign_in_required

st.set_page_config(page_title="Promotion portal", page_icon=":material/rocket_launch:", layout="wide")


@st.cache_resource(show_spinner="Opening the data repository (the first start builds the demo)…")
def _site():
    return portal_site()


@st.cache_resource(show_spinner=False)
def _promotions(repo_root: str):
    # One per repository for every session: it keeps the audit store's connections and the opened workspaces.
    return open_promotions(repo_root)


def _message(error: PortalError) -> str:
    return describe(error)


try:
    site = _site()
except PortalError as error:
    st.error(_message(error))
    st.stop()

# A broken portal.yaml or an unreachable audit database must not take the whole portal down: only the pages that
# need promotions say why they cannot open (below, once the page is known).
try:
    promotions, promotions_error = _promotions(str(site.repo_root)), None
except PortalError as error:
    promotions, promotions_error = None, _message(error)
st.session_state["promotions"] = promotions
st.session_state["promotions_error"] = promotions_error


def _signs_in() -> bool:
    """OIDC sign-in (Microsoft Entra ID) is on when .streamlit/secrets.toml has an [auth] section."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all (StreamlitSecretNotFoundError is one)
        return False


signs_in = _signs_in()
refusal = sign_in_required(site, signs_in)
if refusal is not None:  # real targets: no person picker, no pages
    st.error(_message(refusal))
    st.stop()
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
        st.warning(
            "Not authenticated: demo mode. Pick who you are; the audit trail marks it unverified.",
            icon=":material/no_accounts:",
        )
        person = st.selectbox("Act as", list(DEMO_PEOPLE), format_func=DEMO_PEOPLE.get, key="demo_person")
    st.caption(f"Repository: {site.label}")

st.session_state["site"] = site
st.session_state["identity"] = identity_of(st.user.to_dict() if signs_in else None, demo_person=person, site=site)

environments = st.Page("pages/environments.py", title="Environments", icon=":material/dns:", default=True)
parameters = st.Page("pages/parameters.py", title="Parameters", icon=":material/tune:")
templates = st.Page("pages/templates.py", title="Templates", icon=":material/data_object:")
promote = st.Page("pages/promote.py", title="Promote", icon=":material/rocket_launch:")
audit = st.Page("pages/audit.py", title="Audit", icon=":material/history:")
page = st.navigation([environments, parameters, templates, promote, audit])
if promotions is None and page in (environments, promote, audit):
    st.error(promotions_error)
    st.stop()
page.run()
