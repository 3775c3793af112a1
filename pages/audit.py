"""Audit: the trail, filtered and paginated (a count and one page per view, whatever its length), one event in
full with the artifacts it names, the hash chain's verification, and exports."""

import streamlit as st

from portal.errors import PortalError
from ui import audit as view, common
from ui.markdown import literal

ANY = "(any)"

st.title("Audit trail")
identity = st.session_state["identity"]
promotions = st.session_state["promotions"]  # app.py opened it, and stops before this page when it could not
if identity is None:
    st.info("Sign in (in the sidebar) to read the audit trail.", icon=":material/login:")
    st.stop()

try:
    environments = [env.name for env in promotions.main_config().environments]
except PortalError as error:
    st.error(common.error_text(error))
    st.stop()
store = promotions.store

# A link from the Promote page names a promotion (?promotion=ID): it fills the filter once.
linked = st.query_params.get("promotion")
if linked and st.session_state.get("audit_linked") != linked:
    st.session_state["audit_linked"] = linked
    st.session_state["audit_promotion"] = linked

# --- the chain ----------------------------------------------------------------------------------------------------
badge, check = st.columns([4, 1], vertical_alignment="center")
if check.button(
    "Verify the chain",
    key="verify",
    icon=":material/verified:",
    help="Recomputes every event's hash (reads the whole trail)",
):
    try:
        with st.spinner("Verifying the hash chain…"):
            st.session_state["audit_verify"] = store.verify()
    except PortalError as error:
        st.error(common.error_text(error))
verified = st.session_state.get("audit_verify")
if verified is None:
    badge.caption("Hash chain not verified in this session.")
elif verified.ok:
    badge.success(f"Chain intact: {verified.checked} events verified.", icon=":material/verified:")
else:
    where = f" at event {verified.first_broken}" if verified.first_broken is not None else ""
    badge.error(
        f"Chain BROKEN{where}: {literal(verified.reason)} ({verified.checked} events checked).",
        icon=":material/gpp_bad:",
    )

# --- filters ------------------------------------------------------------------------------------------------------
columns = st.columns(3)
environment = columns[0].selectbox("Environment", [ANY, *environments], key="audit_env")
kind = columns[1].selectbox("Kind", [ANY, *view.EVENT_KINDS], key="audit_kind")
actor = columns[2].text_input("Actor", key="audit_actor", placeholder="e.g. dana@retail.example")
columns = st.columns(3)
promotion_id = columns[0].text_input("Promotion", key="audit_promotion", placeholder="promotion id")
first_day = columns[1].date_input("From (UTC day)", value=None, key="audit_from")
last_day = columns[2].date_input("To (UTC day, included)", value=None, key="audit_to")
where = view.audit_filter(
    environment=None if environment == ANY else environment,
    kind=None if kind == ANY else kind,
    actor=actor,
    promotion_id=promotion_id,
    first_day=first_day,
    last_day=last_day,
)
if st.session_state.get("audit_where") != where:  # another filter: back to the first page
    st.session_state["audit_where"] = where
    st.session_state["audit_page"] = 1

size_column, page_column, _ = st.columns([1, 1, 3])
page_size = size_column.selectbox("Events a page", view.PAGE_SIZES, index=1, key="audit_page_size")
try:
    page = view.audit_page(store, where, int(st.session_state.get("audit_page", 1)), page_size)
except PortalError as error:
    st.error(common.error_text(error))
    st.stop()
st.session_state["audit_page"] = page.page  # within 1..pages, also after the filter or the page size changed
page_column.number_input(f"Page (of {page.pages})", min_value=1, max_value=page.pages, step=1, key="audit_page")
st.caption(f"{page.total} matching events; {page.first}–{page.last} shown, newest first.")
st.dataframe([view.event_row(e) for e in page.events], hide_index=True, width="stretch")

# --- one event ----------------------------------------------------------------------------------------------------
st.subheader("Event")
shown = {e.seq: e for e in page.events}
# No key: another page (other options) is another widget, which starts at its first event.
chosen = st.selectbox(
    "Event",
    list(shown),
    help="One of this page's events, in full",
    format_func=lambda seq: f"{seq} · {shown[seq].kind} · {shown[seq].summary[:80]}",
)
event = shown.get(chosen)
if event is None:
    st.caption("No event on this page.")
else:
    # Who, where and what are written by people (names, reasons, comments): shown literally, never as Markdown.
    st.markdown(
        f"**{literal(event.kind)}** · {literal(common.when(event.at))} · {literal(event.actor)}"
        + ("" if event.actor_verified else " (unverified)")
        + (f" · {literal(event.environment)}" if event.environment else "")
        + (f" · promotion {literal(event.promotion_id)}" if event.promotion_id else "")
    )
    st.text(event.summary)
    st.json(event.data, expanded=1)
    st.caption(f"hash {event.hash} · previous {event.prev_hash}")
    for artifact in view.event_artifacts(event):
        try:
            found = store.artifact(artifact.digest)
        except PortalError as error:  # its content no longer matches its digest
            st.error(common.error_text(error))
            continue
        if found is None:
            st.warning(f"{literal(artifact.role)}: {literal(artifact.digest)} is not in the audit store")
            continue
        content, media_type, name = found
        st.download_button(
            f"{literal(artifact.role)}: {literal(name)} ({len(content)} bytes)",
            content,
            file_name=name.split("/")[-1],
            mime=media_type,
            key=f"artifact_{event.seq}_{artifact.role}",
            on_click="ignore",
            icon=":material/download:",
        )

# --- export -------------------------------------------------------------------------------------------------------
st.subheader("Export")
fmt_column, go_column, _ = st.columns([1, 1, 3], vertical_alignment="bottom")
fmt = fmt_column.selectbox("Format", list(view.EXPORT_FORMATS), key="audit_format")
if go_column.button("Prepare export", key="export", help="The events matching the filters, oldest first"):
    try:
        with st.spinner("Exporting…"):
            data, count = view.export_bytes(store, fmt, where)
        st.session_state["audit_export"] = {"where": where, "fmt": fmt, "data": data, "count": count}
    except PortalError as error:
        st.error(common.error_text(error))
export = st.session_state.get("audit_export")
if export and export["where"] == where and export["fmt"] == fmt:
    st.download_button(
        f"Download {export['count']} events ({fmt})",
        export["data"],
        file_name=view.export_file_name(fmt, where),
        mime=view.EXPORT_FORMATS[fmt],
        key="export_download",
        on_click="ignore",
        icon=":material/download:",
    )
elif export:
    st.caption("The filters changed since the last export: prepare it again.")
