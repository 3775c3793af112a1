"""Parameters: each environment's values as forms by resource kind, and the parameterization rules.

Only layout: the widgets, their values and what to show come from `ui.parameters`; an edit becomes a
commit on a new branch (for review) and an entry in the audit trail, both through the core.
"""

import streamlit as st

from portal.errors import PortalError, Severity
from portal.usecases import edits, reading
from ui import common, parameters as view
from ui.markdown import code, literal

site = st.session_state["site"]
identity = st.session_state["identity"]
# None when portal.yaml is broken or the audit store is down: the forms still show, saving says why it cannot.
promotions = st.session_state.get("promotions")

st.title("Parameters")
if identity is None:
    st.info("Sign in to see and edit the environments' parameters.", icon=":material/login:")
    st.stop()


@st.cache_resource(show_spinner=False, max_entries=8)
def _workspace(root: str, commit: str):
    # One per commit of the main branch: a commit never changes, so neither does what was read from it.
    return reading.workspace_at(root, commit)


def _show_error(error: PortalError) -> None:
    for line in common.error_lines(error):  # they quote what was typed: shown literally, never as Markdown
        st.error(literal(line), icon=":material/error:")


def _show_findings(findings) -> None:
    for severity, text in common.findings_text(findings):
        (st.error if severity is Severity.ERROR else st.warning)(literal(text))


def _display_name() -> str | None:
    # The sign-in's display name for the Git author; the demo's picked person is named by the core.
    if not identity.verified:
        return None
    try:
        return st.user.get("name")
    except Exception:  # no sign-in configured: the core falls back to the login name
        return None


try:
    head = common.main_head(site.repo_root)
    workspace = _workspace(str(site.repo_root), head.commit)
except PortalError as error:
    _show_error(error)
    st.stop()

st.caption(
    f"What `{head.branch}` holds at `{head.commit[:10]}`. Saving makes a commit on a new branch for review; "
    f"`{head.branch}` itself does not change."
)

for key in ("params_saved", "rules_saved"):
    saved = st.session_state.pop(key, None)
    if saved:
        st.success(
            f"Committed `{saved.commit.commit[:10]}` on branch {code(saved.commit.branch)} as "
            f"{literal(saved.author_text)}; recorded in the audit trail. Review and merge the branch to "
            "apply it.",
            icon=":material/check_circle:",
        )

values_tab, rules_tab = st.tabs(["Values", "Parameterization rules"])

SOURCE_WORDS = {view.KEY_VAULT: "Key Vault reference", view.ENVIRONMENT_VARIABLE: "Environment variable at deploy time"}


def _promotions():
    """The promotions façade an edit is recorded with; a PortalError saying why when it could not be opened."""
    if promotions is None:
        raise PortalError(
            "audit trail",
            st.session_state.get("promotions_error") or "is not available",
            hint="fix portal.yaml on the main branch (or the audit store), then save again",
            code="AUDIT_UNAVAILABLE",
        )
    return promotions


def _secret_picker(form_field: view.FormField, key: str) -> view.SecretPick:
    """Where the secret comes from; the secret itself is never typed here."""
    initial = form_field.initial
    kind = st.radio(
        form_field.label,
        list(SOURCE_WORDS),
        format_func=SOURCE_WORDS.get,
        horizontal=True,
        index=1 if initial.kind == view.ENVIRONMENT_VARIABLE else 0,
        key=f"{key}:source",
        help=form_field.help + " — a secret: give where it comes from, never its value",
    )
    if kind == view.ENVIRONMENT_VARIABLE:
        variable = st.text_input(
            "Environment variable name", initial.variable, key=f"{key}:variable", placeholder="SALES_SQL_CONNECTION"
        )
        return view.SecretPick(view.ENVIRONMENT_VARIABLE, variable=variable)
    vault_column, name_column, version_column = st.columns([4, 2, 1.5])
    vault = vault_column.text_input(
        "Key Vault resource id",
        initial.vault_id,
        key=f"{key}:vault",
        placeholder="/subscriptions/<guid>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<name>",
    )
    name = name_column.text_input("Secret name", initial.secret_name, key=f"{key}:secret")
    version = version_column.text_input("Version (optional)", initial.version, key=f"{key}:version")
    return view.SecretPick(view.KEY_VAULT, vault, name, version)


def _field(form_field: view.FormField, key: str):
    """The widget for one parameter; returns its value."""
    label, help_text = form_field.label, form_field.help
    if form_field.widget == view.FIXED:
        st.text_input(label, form_field.initial, disabled=True, help=help_text, key=key)
        return None
    if form_field.widget == view.SECRET:
        return _secret_picker(form_field, key)
    if form_field.widget == view.INT:
        return st.number_input(label, value=form_field.initial, step=1, help=help_text, key=key)
    if form_field.widget == view.BOOL:
        return st.toggle(label, value=form_field.initial, help=help_text, key=key)
    if form_field.widget == view.JSON:
        return st.text_area(label, form_field.initial, help=help_text + " — JSON", key=key)
    return st.text_input(label, form_field.initial, help=help_text, key=key)


def _values_form() -> None:
    env = st.selectbox("Environment", workspace.config.names, key="params_env")
    try:
        groups = view.parameter_form(workspace, env)
    except PortalError as error:
        _show_error(error)
        return
    generation = st.session_state.setdefault("params_generation", 0)
    page_findings = st.container()
    values, slots = {}, {}
    for group in groups:
        with st.expander(f"{group.kind} ({len(group.fields)})", expanded=True):
            for form_field in group.fields:
                values[form_field.name] = _field(form_field, f"param:{generation}:{env}:{form_field.name}")
                st.caption(f"{env} now: {form_field.now}")
                slots[form_field.name] = st.container()  # filled once the whole form is checked
    fields = [form_field for group in groups for form_field in group.fields]
    try:
        draft = view.draft_parameters(workspace, env, fields, values)
    except PortalError as error:
        _show_error(error)
        return
    for name, slot in slots.items():
        with slot:
            if name in draft.errors:
                _show_error(draft.errors[name])
            _show_findings(draft.findings.get(name, ()))
    with page_findings:
        _show_findings(draft.other_findings)

    st.subheader("Pending change")
    if draft.edits:
        st.code(draft.diff, language="diff")
    else:
        st.caption("Nothing changed yet.")
    if draft.errors:
        st.error(f"{len(draft.errors)} value(s) refused: correct them to save.", icon=":material/block:")
    branch = st.text_input(
        "Branch", key=f"params_branch:{generation}", placeholder=edits.edit_branch("params", env) + " (default)"
    )
    message = st.text_input("Commit message (optional)", key=f"params_message:{generation}")
    if st.button("Save as a commit", type="primary", disabled=not draft.can_save, key="params_save"):
        try:
            saved = edits.save_edit(
                _promotions(),
                workspace,
                draft.edits,
                identity,
                environment=env,
                branch=branch,
                message=message,
                display_name=_display_name(),
            )
        except PortalError as error:
            _show_error(error)
            return
        st.session_state["params_saved"] = saved
        st.session_state["params_generation"] = generation + 1  # the form starts again from the main branch
        st.rerun()


def _rules_form() -> None:
    try:
        rows = view.rule_rows(workspace)
    except PortalError as error:
        _show_error(error)
        return
    st.caption(
        "The rules that decide which properties become template parameters "
        "(`arm-template-parameters-definition.json`, or ADF's default when the factory has none)."
    )
    st.dataframe(rows, hide_index=True, width="stretch")
    generation = st.session_state.setdefault("rules_generation", 0)
    key = f"rule:{generation}"

    st.subheader("Add or replace a rule")
    type_column, subtype_column = st.columns([2, 1])
    resource_type = type_column.selectbox(
        "Resource type", list(view.RULE_RESOURCE_TYPES), format_func=view.RULE_RESOURCE_TYPES.get, key=f"{key}:type"
    )
    subtype = subtype_column.text_input(
        "Subtype",
        key=f"{key}:subtype",
        placeholder="* (every subtype)",
        help="linked services, datasets and credentials: e.g. AzureSqlDatabase",
    )
    path = st.text_input(
        "Property path",
        key=f"{key}:path",
        placeholder="properties.typeProperties.recurrence.interval",
        help="dots between properties, `*` for every key, `[]` for every item of an array",
    )
    action_column, name_column, ptype_column, naming_column = st.columns(4)
    action = action_column.selectbox(
        "Action", list(view.RULE_ACTIONS), format_func=view.RULE_ACTIONS.get, key=f"{key}:action"
    )
    name = name_column.text_input(
        "Name part",
        key=f"{key}:name",
        placeholder="(from the path)",
        help="`-short` shortens the name to the object name and `short`",
    )
    parameter_type = ptype_column.selectbox(
        "Parameter type", view.RULE_PARAMETER_TYPES, key=f"{key}:ptype", format_func=lambda t: t or "(as the value is)"
    )
    naming = naming_column.text_input(
        "Array naming property",
        key=f"{key}:naming",
        help="for paths with `[]`: the item property that names the parameter",
    )

    st.subheader("Remove a rule")
    remove = st.selectbox(
        "Rule to remove",
        [None, *range(len(rows))],
        key=f"{key}:remove",
        format_func=lambda i: (
            "(none)"
            if i is None
            else f"{rows[i]['resource type']} {rows[i]['subtype']} → {rows[i]['path']}  {rows[i]['rule']}"
        ),
    )

    if not path.strip() and remove is None:
        st.caption("Give a property path (or pick a rule to remove) to see which parameters it yields.")
        return
    add = view.RuleForm(resource_type, path, subtype, action, name, parameter_type, naming) if path.strip() else None
    try:
        draft = view.draft_rule_change(workspace, add=add, remove_index=remove)
    except PortalError as error:
        _show_error(error)
        return
    st.subheader("Preview")
    if draft.lines:
        st.code("\n".join(draft.lines), language="diff")
    else:
        st.caption("No template parameter changes.")
    for warning in draft.preview.warnings:
        st.warning(literal(warning))
    st.caption(f"{draft.preview.parameter_count} parameters after the change (ARM allows 256).")
    if draft.edits:
        with st.expander("The definition file's change"):
            st.code(draft.diff, language="diff")
    branch = st.text_input("Branch", key=f"{key}:branch", placeholder=edits.edit_branch("rules") + " (default)")
    if st.button("Save rules as a commit", type="primary", disabled=not draft.can_save, key="rules_save"):
        try:
            saved = edits.save_edit(
                _promotions(),
                workspace,
                draft.edits,
                identity,
                environment=None,
                branch=branch,
                display_name=_display_name(),
                branch_prefix="rules",
            )
        except PortalError as error:
            _show_error(error)
            return
        st.session_state["rules_saved"] = saved
        st.session_state["rules_generation"] = generation + 1
        st.rerun()


with values_tab:
    _values_form()
with rules_tab:
    _rules_form()
