"""Environments: what each environment runs (snapshot, commit, when, by whom, the last promotion's result), drift
on request, and the promotions waiting for approval."""

import streamlit as st

from portal.errors import PortalError
from portal.usecases import drift
from ui import common, environments as view
from ui.markdown import literal

st.title("Environments")
identity = st.session_state["identity"]
promotions = st.session_state["promotions"]  # app.py opened it, and stops before this page when it could not
if identity is None:
    st.info("Sign in (in the sidebar) to see the environments.", icon=":material/login:")
    st.stop()

try:
    rows = view.environment_rows(promotions)
except PortalError as error:
    st.error(common.error_text(error))
    st.stop()

st.caption(
    "In promotion order. A snapshot reaches an environment after it succeeded in the one before; "
    "— means nothing was promoted there yet. *approvals*: how many a promotion there needs; *releases*: when its "
    "release windows let promotions run."
)
st.dataframe([row.as_table_row() for row in rows], hide_index=True, width="stretch")
for row in rows:
    if row.line_stopped:
        st.error(f"**{row.environment}**: {literal(row.line_stopped)}", icon=":material/front_hand:")
    if row.ended_badly and row.last_error:
        st.warning(
            f"**{row.environment}**: the last promotion ({row.last_promotion_id}) {row.last_status}: "
            f"{literal(row.last_error)}",
            icon=":material/error:",
        )

# --- drift: plans read the live environment, so only on request (and kept for this session) --------------------
st.subheader("Drift")
st.caption(
    "Drift: the live factory or notebook folder no longer matches what the last promotion deployed. "
    "Checking plans that snapshot against the live environment."
)
reports: dict = st.session_state.setdefault("drift_reports", {})


def _check(environment: str) -> None:
    try:
        reports[environment] = drift.check_drift(promotions, environment)
    except PortalError as failure:
        reports.pop(environment, None)
        st.error(common.error_text(failure))


deployed = [row for row in rows if row.deployed]
if st.button(
    "Check drift of every environment", key="drift_all", disabled=not deployed, icon=":material/compare_arrows:"
):
    with st.spinner("Reading the live environments…"):
        for row in deployed:
            _check(row.environment)

for row in rows:
    with st.container(border=True):
        head, action = st.columns([4, 1], vertical_alignment="center")
        head.markdown(
            f"**{row.environment}**"
            + (
                f" · snapshot `{row.snapshot_id}` (commit `{common.short(row.commit)}`)"
                if row.deployed
                else " · nothing promoted yet"
            )
        )
        if action.button("Check drift", key=f"drift_{row.environment}", disabled=not row.deployed):
            with st.spinner(f"Reading {row.environment}…"):
                _check(row.environment)
        report = reports.get(row.environment)
        if report is None:
            continue
        if not report.is_for(row.promotion_id):
            st.caption(f"The check of {report.checked_at} is outdated: {row.environment} was promoted since.")
            continue
        if not report.has_changes:
            st.success(
                f"No drift: {row.environment} matches snapshot {report.snapshot_id} (checked {report.checked_at}).",
                icon=":material/check_circle:",
            )
            continue
        st.warning(
            f"Drift: {row.environment} differs from snapshot {report.snapshot_id} (checked {report.checked_at}).",
            icon=":material/warning:",
        )
        columns = st.columns(len(report.counts) + (1 if report.notebook_counts else 0))
        for column, (name, value) in zip(columns, report.counts.items(), strict=False):
            column.metric(name, value)
        if report.notebook_counts:
            columns[-1].metric(
                "notebooks changed", sum(report.notebook_counts.get(k, 0) for k in ("create", "update", "delete"))
            )
        with st.expander(f"{len(report.changes)} differences"):
            st.markdown("\n".join(f"- {literal(change)}" for change in report.changes))  # object names

# --- waiting for approval -----------------------------------------------------------------------------------------
st.subheader("Waiting for approval")
try:
    waiting = view.waiting_promotions(promotions)
except PortalError as error:
    st.error(common.error_text(error))
    waiting = []
if not waiting:
    st.caption("No promotion waits for approval.")
for promotion in waiting:
    st.markdown(
        f"- **{promotion.environment}** ← snapshot `{promotion.snapshot_id}`, requested by "
        f"{literal(promotion.requested_by)} at {literal(common.when(promotion.requested_at))} "
        f"(`{promotion.id}`)"
    )
if waiting:
    st.page_link(
        "pages/promote.py", label="Review, approve or reject on the Promote page", icon=":material/rocket_launch:"
    )
