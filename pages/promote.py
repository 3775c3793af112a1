"""Promote: plan a snapshot for an environment and request its promotion (run at once where no approval is
needed, with live progress); approvers approve or reject what waits; approved or failed promotions run again.

Buttons an identity may not use are disabled, but every action goes through the core, which checks the roles
again and records refusals: a disabled button is a courtesy, not the security."""

import streamlit as st

from portal.errors import PortalError
from portal.usecases import promotions as flow
from ui import common, promote as view
from ui.markdown import code, literal

STEP_ICONS = {"running": ":material/progress_activity:", "done": ":material/check:", "failed": ":material/close:"}

st.title("Promote")
identity = st.session_state["identity"]
promotions = st.session_state["promotions"]  # app.py opened it, and stops before this page when it could not
if identity is None:
    st.info("Sign in (in the sidebar) to promote, approve or reject.", icon=":material/login:")
    st.stop()

try:
    config = promotions.main_config()
    allowed = view.permissions(promotions, identity, config)
except PortalError as error:
    st.error(common.error_text(error))
    st.stop()
environments = [env.name for env in config.environments]


def _audit_link(promotion_id: str) -> None:
    st.page_link(
        "pages/audit.py",
        label=f"Audit trail of promotion {promotion_id}",
        icon=":material/history:",
        query_params={"promotion": promotion_id},
    )


def _flash(level: str, text: str, promotion_id: str | None = None, steps: list | None = None) -> None:
    """The outcome of an action, kept over the rerun that redraws the page with the new state."""
    st.session_state["promote_flash"] = (level, text, promotion_id, steps or [])


def _step_list(steps: list) -> str:
    # A step names objects and quotes errors: its text is shown literally.
    return "\n".join(f"- {STEP_ICONS.get(state, '')} {literal(line)}" for state, line in steps)


def _carry_out(title: str, action) -> None:
    """Call a use case that may run a promotion (`action(sink)` → Outcome), with live progress while it runs; what
    became of it goes to the flash (the page reruns after)."""
    box = st.status(title, expanded=True)
    with box:
        bar = st.progress(0.0, text="starting")
        steps = st.empty()

    def draw(progress: view.RunProgress) -> None:
        bar.progress(progress.fraction, text=literal(progress.label))  # quotes failures and names
        steps.markdown(_step_list(progress.lines()))

    progress = view.RunProgress(draw)
    try:
        outcome = action(progress)
    except PortalError as refused:  # refused before anything was recorded or ran
        box.update(label="Not done", state="error")
        _flash("error", common.error_text(refused))
        return
    except Exception as failure:  # noqa: BLE001 - recorded as failed by the core; shown without a traceback
        box.update(label="Failed", state="error")
        _flash("error", literal(f"{type(failure).__name__}: {failure}"), None, progress.lines())
        return
    promotion = outcome.promotion
    noun = "Rollback" if promotion.is_rollback else "Promotion"
    if outcome.error is not None:
        box.update(label=f"{noun} {promotion.id} failed", state="error")
        _flash("error", common.error_text(outcome.error), promotion.id, progress.lines())
    elif outcome.held is not None:
        box.update(label=f"{noun} {promotion.id} is held", state="complete", expanded=False)
        _flash("info", f"{noun} {promotion.id} is approved and held: {literal(outcome.held)}", promotion.id)
    elif outcome.waiting:
        box.update(label=f"{noun} {promotion.id} waits for approval", state="complete", expanded=False)
        valid = len(promotions.valid_approvals(promotion))
        approvers = literal(", ".join(promotions.who_may_approve(promotion))) or "nobody is configured to approve"
        _flash(
            "info",
            f"{noun} {promotion.id} of snapshot {promotion.snapshot_id} to {promotion.environment} waits "
            f"for approval ({valid} of {promotion.approvals_required}). May approve: {approvers}.",
            promotion.id,
        )
    else:
        box.update(label=f"{noun} {promotion.id} finished", state="complete", expanded=False)
        _flash("success", literal(flow.outcome_text(promotions, promotion.id)), promotion.id, progress.lines())


flash = st.session_state.get("promote_flash")
if flash:
    level, text, flashed_id, flashed_steps = flash
    getattr(st, level)(text)
    if flashed_steps:
        with st.expander("Steps of the run"):
            st.markdown(_step_list(flashed_steps))
    if flashed_id:
        _audit_link(flashed_id)
    if st.button("Dismiss", key="flash_dismiss", type="tertiary"):
        st.session_state.pop("promote_flash", None)
        st.rerun()


def _show_plan(prepared: flow.PreparedPromotion) -> None:
    plan = prepared.plan
    st.markdown(
        f"Plan `{plan.hash[:12]}` for **{literal(plan.environment)}** (factory {code(plan.factory)}): "
        f"snapshot `{prepared.snapshot_id}`, commit `{common.short(prepared.commit)}`"
    )
    counts = plan.counts()
    for column, name in zip(st.columns(5), ("create", "update", "delete", "unchanged", "triggers"), strict=False):
        column.metric(f"{name} (factory)" if name != "triggers" else "trigger changes", counts[name])
    notice = view.deletion_notice(plan)
    if notice:
        getattr(st, notice[0])(notice[1], icon=":material/delete_forever:" if notice[0] == "error" else None)
    if not plan.has_changes:
        st.info("Nothing to change: the environment already runs this content.")
    for change in view.changed_objects(plan):
        mark = "+" if change.action == "create" else "~"
        with st.expander(f"{mark} {literal(change.label)} ({change.action})"):
            rows = view.property_rows(change)
            if rows:
                st.dataframe(rows, hide_index=True, width="stretch")
            else:
                st.caption("A new object: created as the source has it.")
    if plan.deletions_enabled:
        for change in plan.deletions:
            st.error(f"− {literal(change.label)} will be deleted", icon=":material/delete:")
    triggers = view.trigger_rows(plan)
    if triggers:
        st.markdown("**Trigger impact**")
        st.dataframe(triggers, hide_index=True, width="stretch")
    with st.expander("Steps, in the order they run"):
        st.dataframe(view.step_rows(plan), hide_index=True, width="stretch")
    for note in plan.notes:
        st.info(literal(note))
    for blocker in plan.blockers:
        st.error(f"The service would refuse this: {literal(blocker)}", icon=":material/block:")
    if plan.notebooks is not None:
        notebooks = plan.notebooks
        st.markdown(
            f"**Notebooks**: {code(notebooks.source_folder + '/')} → {literal(notebooks.host)} "
            f"{code(notebooks.target_folder)}"
        )
        nb_counts = notebooks.counts()
        for column, name in zip(st.columns(5), ("create", "update", "delete", "unchanged", "drift"), strict=False):
            column.metric(f"{name} (notebooks)" if name != "drift" else "edited in the workspace", nb_counts[name])
        rows = view.notebook_rows(notebooks)
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch")
        if notebooks.left_alone:
            st.caption(
                f"{len(notebooks.left_alone)} objects the portal did not deploy are left alone: "
                + literal(", ".join(notebooks.left_alone[:5]))
                + (" …" if len(notebooks.left_alone) > 5 else "")
            )


def _prepare(
    session_key: str, environment: str, ref: str | None, *, rollback: bool = False
) -> flow.PreparedPromotion | None:
    """Plan against the live environment, kept for this session; None (the error shown) when planning failed."""
    try:
        with st.spinner(f"Planning {'the rollback of ' if rollback else ''}{environment}…"):
            prepared = (
                flow.prepare_rollback(promotions, environment)
                if rollback
                else flow.prepare(promotions, environment, ref=ref)
            )
    except PortalError as error:
        st.error(common.error_text(error))
        return None
    st.session_state[session_key] = prepared
    return prepared


def _request(prepared: flow.PreparedPromotion, session_key: str, skip_reason: str | None = None) -> None:
    """Ask for what the plan showed; it runs at once where no approval is needed."""
    st.session_state.pop(session_key, None)  # the plan is used up: what runs next changes it
    _carry_out(
        f"{'Rollback' if prepared.rollback else 'Promotion'} to {prepared.environment}…",
        lambda sink: flow.start(promotions, prepared, identity, skip_reason=skip_reason, sink=sink),
    )
    st.rerun()


# --- request ------------------------------------------------------------------------------------------------------
st.subheader("Request a promotion")
try:
    choices = view.snapshot_choices(promotions)
except PortalError as error:
    st.error(common.error_text(error))
    st.stop()
left, right = st.columns([3, 1])
choice = left.selectbox(
    "Snapshot",
    range(len(choices)),
    format_func=lambda i: choices[i].label,
    key="promote_ref",
    help="The main branch by default; or a branch, tag or recent commit of the main branch",
)
environment = right.selectbox("Target environment", environments, key="promote_env")
ref = choices[choice].ref
may = allowed[environment]

prepared = st.session_state.get("promote_prepared")
if prepared is not None and not prepared.matches(environment, ref):
    prepared = None  # planned for another choice
if st.button(
    "Plan",
    key="plan",
    icon=":material/difference:",
    help="Compare the snapshot with the live environment (reads the live factory)",
):
    prepared = _prepare("promote_prepared", environment, ref)

if prepared is not None:
    _show_plan(prepared)
    skip_reason = None
    if may.skip:
        skip_reason = (
            st.text_input(
                "Skip the order (admins, hotfix): reason",
                key="skip_reason",
                help="Promote although the snapshot has not succeeded in the environment "
                "before; the reason is recorded",
            )
            or None
        )
    if not may.promote:
        st.caption(view.refusal_hint("promote", environment))
    if st.button(
        "Request promotion",
        key="request",
        type="primary",
        disabled=not may.promote or not prepared.plan.can_apply,
        icon=":material/rocket_launch:",
    ):
        _request(prepared, "promote_prepared", skip_reason)

# --- roll back ----------------------------------------------------------------------------------------------------
st.subheader("Roll back")
st.caption(
    "Promote an environment's previous successful snapshot again. Roles, approvals and the lock apply as "
    "for any promotion; the audit trail marks it as a rollback."
)
back_env = st.columns([1, 3])[0].selectbox("Environment to roll back", environments, key="rollback_env")
option = flow.rollback_option(promotions, back_env)
if option.target is None:
    st.caption(f"{back_env} {option.why_not}.")
else:
    target = option.target
    current = option.current
    st.markdown(
        f"**{back_env}** runs snapshot `{current.id}` (commit `{common.short(current.source_commit)}`); "
        f"rolling back promotes snapshot `{target.id}` (commit `{common.short(target.source_commit)}`, "
        f"first requested {literal(common.when(target.created_at))} by {literal(target.created_by)}) again."
    )
    back_prepared = st.session_state.get("rollback_prepared")
    if back_prepared is not None and not back_prepared.matches(back_env, target.source_commit, rollback=True):
        back_prepared = None  # planned for another environment, or the environment moved since
    if st.button("Plan rollback", key="rollback_plan", icon=":material/difference:"):
        back_prepared = _prepare("rollback_prepared", back_env, target.source_commit, rollback=True)
    if back_prepared is not None:
        _show_plan(back_prepared)
        back_may = allowed[back_env]
        if not back_may.rollback:
            st.caption(view.refusal_hint("rollback", back_env))
        if st.button(
            "Request rollback",
            key="rollback_request",
            type="primary",
            disabled=not back_may.rollback,
            icon=":material/undo:",
        ):
            _request(back_prepared, "rollback_prepared")

# --- waiting for approval -----------------------------------------------------------------------------------------
st.subheader("Waiting for approval")
try:
    pending = view.pending_requests(promotions, identity)
except PortalError as error:
    st.error(common.error_text(error))
    pending = []
if not pending:
    st.caption("No promotion waits for approval.")
for request in pending:
    promotion = request.promotion
    may_here = allowed.get(promotion.environment)
    with st.container(border=True):
        st.markdown(
            f"**{promotion.environment}** ← snapshot `{promotion.snapshot_id}` (commit "
            f"`{common.short(request.commit)}`), requested by **{literal(promotion.requested_by)}** at "
            f"{literal(common.when(promotion.requested_at))} · `{promotion.id}`"
            + (" · **rollback**" if promotion.is_rollback else "")
        )
        if promotion.skip_reason:
            st.warning(f"Skips the order: {literal(promotion.skip_reason)}")
        counts = request.counts
        if counts:
            for column, (name, value) in zip(st.columns(len(counts)), counts.items(), strict=False):
                column.metric(name, value)
        summary = request.summary
        if summary.deletions:
            st.error("Deletes: " + ", ".join(literal(d) for d in summary.deletions))
        with st.expander("What the plan changes"):
            st.markdown("\n".join(f"- {literal(line)}" for line in summary.change_lines()) or "Nothing.")
            st.caption(f"Plan hash {literal(summary.hash)}")
        st.caption(
            f"Approvals: {len(request.valid)} of {promotion.approvals_required}"
            + (f" ({literal(', '.join(sorted(request.valid)))})" if request.valid else "")
            + f" · may approve: {literal(', '.join(request.who_may_approve)) or 'nobody is configured'}"
        )
        if request.own:
            st.caption("You requested this promotion: another person must approve it.")
        comment = st.text_input("Comment (a rejection needs one)", key=f"comment_{promotion.id}")
        approve_column, reject_column, _ = st.columns([1, 1, 3])
        approve = approve_column.button(
            "Approve",
            key=f"approve_{promotion.id}",
            type="primary",
            disabled=not (may_here and may_here.approve),
            icon=":material/thumb_up:",
            help=None if may_here and may_here.approve else view.refusal_hint("approve", promotion.environment),
        )
        reject = reject_column.button(
            "Reject",
            key=f"reject_{promotion.id}",
            disabled=not (may_here and may_here.reject),
            icon=":material/thumb_down:",
        )
        if approve:
            _carry_out(
                f"Approving promotion {promotion.id}…",
                lambda sink, promotion_id=promotion.id, comment=comment: flow.approve(
                    promotions, promotion_id, identity, comment, sink=sink
                ),
            )
            st.rerun()
        if reject:
            try:
                rejected = flow.reject(promotions, promotion.id, identity, comment)
            except PortalError as error:
                st.error(common.error_text(error))
            else:
                _flash(
                    "warning",
                    f"Promotion {rejected.id} to {rejected.environment} rejected: {literal(comment)}",
                    rejected.id,
                )
                st.rerun()

# --- ready to run -------------------------------------------------------------------------------------------------
ready = promotions.runnable()
if ready:
    st.subheader("Ready to run")
    st.caption("Approved promotions not run yet, and failed or interrupted ones: running again converges.")
for promotion in ready:
    may_here = allowed.get(promotion.environment)
    with st.container(border=True):
        st.markdown(
            f"**{promotion.environment}** ← snapshot `{promotion.snapshot_id}` · {promotion.status} · "
            f"`{promotion.id}`" + (f" · {literal(promotion.error)}" if promotion.error else "")
        )
        if st.button(
            "Run",
            key=f"run_{promotion.id}",
            icon=":material/play_arrow:",
            disabled=not (may_here and (may_here.promote or may_here.approve)),
        ):
            _carry_out(
                f"Promotion {promotion.id} is running…",
                lambda sink, promotion_id=promotion.id: flow.run(promotions, promotion_id, identity, sink=sink),
            )
            st.rerun()
