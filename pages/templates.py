"""Templates: the ARM export of the main branch as ADF Publish writes it, what each environment receives, two
environments side by side, ARM's limits, and everything as a zip.

Only layout: the files, renders, comparisons and the zip come from `ui.templates`.
"""

import pandas as pd
import streamlit as st

from portal.errors import PortalError, Severity
from portal.usecases import reading
from ui import common, templates as view
from ui.markdown import literal

site = st.session_state["site"]
identity = st.session_state["identity"]

st.title("Templates")
if identity is None:
    st.info("Sign in to see the templates.", icon=":material/login:")
    st.stop()

# Showing more of a file than this in the page only slows the browser; the download has it whole.
SHOWN_CHARACTERS = 300_000


@st.cache_resource(show_spinner=False, max_entries=8)
def _workspace(root: str, commit: str):
    # One per commit of the main branch: a commit never changes, so neither does what was read from it.
    return reading.workspace_at(root, commit)


@st.cache_resource(show_spinner=False, max_entries=8)
def _bundle(root: str, commit: str) -> view.ExportBundle:
    return view.export_bundle(_workspace(root, commit).export)


@st.cache_resource(show_spinner=False, max_entries=32)
def _rendered(root: str, commit: str, env: str):
    # Rendered only when someone looks at the environment.
    return reading.rendered(_workspace(root, commit), env)


@st.cache_data(show_spinner=False, max_entries=8)
def _zip(root: str, commit: str, environments: tuple[str, ...]) -> bytes:
    return view.export_zip(_bundle(root, commit), [_rendered(root, commit, env) for env in environments])


def _show_error(error: PortalError) -> None:
    for line in common.error_lines(error):  # they quote what people wrote: shown literally, never as Markdown
        st.error(literal(line), icon=":material/error:")


try:
    head = common.main_head(site.repo_root)
    root, commit = str(site.repo_root), head.commit
    workspace = _workspace(root, commit)
    bundle = _bundle(root, commit)
except PortalError as error:
    _show_error(error)
    st.stop()

names = workspace.config.names
st.caption(
    f"Factory `{bundle.factory_name}` as `{head.branch}` holds it at `{head.commit[:10]}`: the files ADF "
    "Publish writes, and what each environment receives from them."
)

for severity, text in common.findings_text(bundle.limits):
    (st.error if severity is Severity.ERROR else st.warning)(literal(text), icon=":material/warning:")
if not bundle.limits:
    st.caption(f"Within ARM's limits: {view.limit_summary(bundle).describe()}.")

arm_tab, rendered_tab, compare_tab, download_tab = st.tabs(
    ["ARM template", "Rendered environment", "Compare environments", "Download"]
)

with arm_tab:
    st.dataframe(
        [
            {
                "file": f.path,
                "what": f.role,
                "resources": f.resources,
                "parameters": f.parameters,
                "size (KB)": round(f.size / 1024, 1),
            }
            for f in bundle.files
        ],
        hide_index=True,
        width="stretch",
    )
    linked = bundle.linked_templates
    st.markdown("**Linked templates:** " + ", ".join(f"`{f.path.split('/', 1)[1]}`" for f in linked))
    paths = [f.path for f in bundle.files]
    chosen = st.selectbox("File", paths, key="templates_file", format_func=lambda p: f"{p} — {bundle.file(p).role}")
    text = bundle.file(chosen).text
    if len(text) > SHOWN_CHARACTERS:
        st.caption(f"The first {SHOWN_CHARACTERS:,} of {len(text):,} characters; the download has the whole file.")
    st.code(text[:SHOWN_CHARACTERS], language="json", height=500)

with rendered_tab:
    env = st.selectbox("Environment", names, key="templates_env", index=min(1, len(names) - 1))
    try:
        rendered = _rendered(root, commit, env)
    except PortalError as error:
        st.error(f"{env} cannot be rendered until its values are corrected (Parameters page):")
        _show_error(error)
    else:
        st.caption(
            f"{len(rendered.resources)} resources into factory `{rendered.factory_name}`; every expression "
            "evaluated, secrets shown only as where they come from."
        )
        st.dataframe(view.rendered_rows(rendered), hide_index=True, width="stretch")
        secrets = view.secret_rows(rendered, workspace)
        if secrets:
            st.markdown("**Secrets**")
            st.dataframe(secrets, hide_index=True, width="stretch")
        objects = [(r.kind_label, r.object_name) for r in rendered.resources]
        picked = st.selectbox("Resource", objects, key="templates_resource", format_func=lambda o: f"{o[0]} {o[1]}")
        st.json(view.resource_document(rendered, *picked))
        with st.expander("The environment's complete parameter file"):
            st.code(rendered.parameter_file.to_json(), language="json")

with compare_tab:
    left_column, right_column, object_column = st.columns([1, 1, 2])
    left = left_column.selectbox("Environment", names, key="compare_left", index=min(1, len(names) - 1))
    right = right_column.selectbox("with", names, key="compare_right", index=len(names) - 1)
    objects = view.template_objects(workspace)
    picked = object_column.selectbox("Object", objects, key="compare_object", format_func=lambda o: f"{o[0]} {o[1]}")
    only_differences = st.toggle("Only the properties that differ", key="compare_only_differences")
    try:
        renders = {env: _rendered(root, commit, env) for env in dict.fromkeys([left, right])}
        rows = view.comparison_table(renders, *picked)
    except PortalError as error:
        _show_error(error)
    else:
        if only_differences:
            rows = [row for row in rows if row[view.DIFFERS]]
        differing = sum(1 for row in rows if row[view.DIFFERS])
        st.caption(
            f"{differing} of {len(rows)} properties differ." if left != right else "Pick two environments to compare."
        )
        table = pd.DataFrame(rows, columns=["property", *renders, view.DIFFERS])
        st.dataframe(
            table.style.apply(
                lambda row: ["background-color: rgba(255, 196, 0, 0.25)" if row[view.DIFFERS] else "" for _ in row],
                axis=1,
            ),
            hide_index=True,
            width="stretch",
        )

with download_tab:
    include = st.multiselect(
        "Also the rendered environments",
        names,
        key="download_envs",
        help="each as `portal render ENV` writes it, under rendered/<env>/",
    )
    try:
        data = _zip(root, commit, tuple(include))
    except PortalError as error:
        _show_error(error)
    else:
        st.download_button(
            "Download the export as a zip",
            data,
            file_name=f"{bundle.factory_name}-arm.zip",
            mime="application/zip",
            icon=":material/download:",
            key="download_zip",
        )
        st.caption(
            "The files as `portal export-arm` writes them"
            + (", and the rendered environments" if include else "")
            + "."
        )
