"""The deploy façade the CLI and the portal call: plan an environment, apply a plan that was shown."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError
from databricks.sdk.errors import DatabricksError

from portal.adf.expressions import Secret
from portal.databricks.apply import NotebookReport, NotebookStepFailed, apply_notebooks
from portal.databricks.notebooks import load_notebooks
from portal.databricks.plan import PlannedNotebooks, plan_notebooks
from portal.databricks.workspace import WorkspaceTarget, workspace_target_for
from portal.deploy.apply import ApplyFailed, ApplyReport, apply_plan, sandbox_secret
from portal.deploy.plan import (
    DesiredObject,
    Key,
    Plan,
    desired_state,
    live_fingerprint,
    make_plan,
    moved_since_plan,
)
from portal.deploy.steps import factory_steps
from portal.deploy.target import Credentials, FactoryTarget, SinkHolder, client_for, service_message
from portal.environments.render import render_environment
from portal.errors import ErrorCode, FindingsError, PortalError
from portal.events import (
    FAILED,
    STEP_FINISHED,
    STEP_STARTED,
    Event,
    EventSink,
    no_events,
)
from portal.secret_sources import EnvironmentVariable, KeyVaultReference

if TYPE_CHECKING:
    from portal.environments.workspace import MappingWorkspace


@dataclass(frozen=True)
class PlannedEnvironment:
    plan: Plan
    desired: Mapping[Key, DesiredObject]
    target: FactoryTarget
    notebooks: PlannedNotebooks | None = None
    workspace_target: WorkspaceTarget | None = None


def open_target(
    workspace: MappingWorkspace, env_name: str, sink: EventSink = no_events, retry: Mapping[str, Any] | None = None
) -> FactoryTarget:
    env = workspace.environment(env_name)
    holder = SinkHolder(sink)
    credentials = Credentials()  # this target's run signs in once (its Key Vault reads too: apply_environment)
    client = client_for(env.data_factory, workspace.snapshot.root, holder, retry, credentials)
    factory = env.data_factory
    return FactoryTarget(
        client, factory.subscription_id, factory.resource_group, factory.factory_name, holder, credentials
    )


def plan_environment(
    workspace: MappingWorkspace, env_name: str, *, sink: EventSink = no_events, target: FactoryTarget | None = None
) -> PlannedEnvironment:
    """Render the environment, read its live factory and compare them.

    A factory with errors (the checks of `portal validate`) gets no plan, so nothing of it is ever written: the
    service would refuse the bad object half-way through, after the ones before it. The live factory is read while
    the environment renders: one waits on the network, the other works."""
    env = workspace.environment(env_name)
    if workspace.source_errors:
        raise FindingsError(list(workspace.source_errors))
    target = target or open_target(workspace, env_name, sink)
    sink(Event(STEP_STARTED, "read live factory", f"factory {env.data_factory.factory_name}"))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-read") as pool:
        reading = pool.submit(target.read_all)
        rendered = render_environment(workspace, env_name)  # on bad values this raises once the read is over
        desired = desired_state(workspace, rendered)
        try:
            live = reading.result()
        except AzureError as error:  # sign-in, permissions, network: say so with the service's words, no trace
            raise PortalError(
                f"environment {env_name} → factory {env.data_factory.factory_name}",
                f"cannot read the live factory: {service_message(error)}",
                hint=f"check data_factory.auth ({env.data_factory.auth}) and the principal's access",
                code=ErrorCode.TARGET,
            ) from error
    sink(Event(STEP_FINISHED, "read live factory", message=f"{len(live)} objects"))
    plan = make_plan(env, desired, live, workspace.snapshot.commit)
    notebooks = workspace_target = None
    if env.databricks is not None:
        notebooks, workspace_target = _plan_notebooks(workspace, env_name, sink)
        plan = replace(plan, notebooks=notebooks.plan)
    return PlannedEnvironment(plan, desired, target, notebooks, workspace_target)


def open_workspace_target(workspace: MappingWorkspace, env_name: str) -> WorkspaceTarget:
    env = workspace.environment(env_name)
    if env.databricks is None:
        raise PortalError(
            f"environment {env_name}",
            "has no Databricks target (databricks: in portal.yaml)",
            code=ErrorCode.NO_DATABRICKS,
        )
    return workspace_target_for(env.databricks, workspace.snapshot.root)


def _plan_notebooks(
    workspace: MappingWorkspace, env_name: str, sink: EventSink
) -> tuple[PlannedNotebooks, WorkspaceTarget]:
    env = workspace.environment(env_name)
    settings = workspace.config.databricks
    if env.databricks is None:
        raise PortalError(f"environment {env_name}", "has no databricks target", code=ErrorCode.NO_DATABRICKS)
    # Bad notebooks are refused before any call to the workspace.
    notebooks = load_notebooks(
        workspace.snapshot,
        settings.source_folder,
        env.databricks.target_folder,
        allowed_roots=settings.allowed_roots,
        base_folder=settings.source_folder,
        target_where=f"environment {env_name} → databricks.target_folder",
    )
    target = open_workspace_target(workspace, env_name)
    sink(Event(STEP_STARTED, "read workspace folder", f"{target.host} {target.target_folder}"))
    try:
        planned = plan_notebooks(
            notebooks,
            target,
            environment=env_name,
            source_commit=workspace.snapshot.commit,
            parallelism=env.deploy.parallelism,
        )
    except DatabricksError as error:
        raise PortalError(
            f"environment {env_name} → workspace {target.host}",
            f"cannot read {target.target_folder}: {databricks_message(error)}",
            hint=f"check databricks.auth ({env.databricks.auth}) and the principal's access",
            code=ErrorCode.TARGET,
        ) from error
    sink(
        Event(
            STEP_FINISHED,
            "read workspace folder",
            message=f"{len(notebooks.sources)} in Git, {planned.plan.unchanged} unchanged",
        )
    )
    return planned, target


def databricks_message(error: Exception) -> str:
    """The workspace's own words for a failed call (error code and message)."""
    code = getattr(error, "error_code", None)
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{code}: {first}" if code else first


def apply_environment(
    workspace: MappingWorkspace,
    env_name: str,
    plan: Plan,
    *,
    sink: EventSink = no_events,
    target: FactoryTarget | None = None,
    planned: PlannedEnvironment | None = None,
    resolve_secret: Callable[[Secret], str] | None = None,
) -> ApplyReport:
    """Apply `plan` if it is still what promoting would do; refuse, before writing anything, when the live
    factory moved under it (or the source changed).

    Given the `planned` environment the plan came from (same workspace, so the same source), only the live
    factory is checked again: the objects the plan changes, one GET each (`deploy.stale_check: changed-objects`),
    or the whole factory (`whole-factory`). Otherwise the whole plan is made again and must be the same."""
    if plan.blockers:
        raise PortalError(
            f"environment {env_name}",
            "the service would refuse this plan: " + "; ".join(plan.blockers) + "; nothing was applied",
            hint="change the source so that the plan has no blockers",
            code=ErrorCode.PLAN_BLOCKED,
        )
    same = planned is not None and planned.plan.hash == plan.hash
    if planned is not None and same:
        target = planned.target
    if target is not None:
        target.events.sink = sink  # retries during this run are this run's events
    sink(Event(STEP_STARTED, "check live state", f"factory {plan.factory}"))
    if same:
        assert planned is not None  # `same` says so
        fresh: PlannedEnvironment = planned
        why = _live_moved(plan, fresh.target, workspace.environment(env_name).deploy.parallelism)
    else:
        fresh = plan_environment(workspace, env_name, target=target)
        why = None
        if fresh.plan.hash != plan.hash:
            if fresh.plan.live_fingerprint != plan.live_fingerprint:
                why = "the live factory changed"
            elif fresh.plan.notebooks != plan.notebooks:
                why = "the Databricks folder (or the notebooks in Git) changed"
            else:
                why = "the source or the environment's values changed"
    if why is not None:
        raise PortalError(
            f"environment {env_name}",
            f"{why} since the plan was made; nothing was applied",
            hint="make a new plan, review it, and apply that",
            code=ErrorCode.PLAN_STALE,
        )
    sink(Event(STEP_FINISHED, "check live state", message="unchanged since the plan"))
    env = workspace.environment(env_name)
    report = ApplyReport(plan.hash)
    # The factory's steps (as apply_plan makes them) before anything is written: a dependency cycle among its
    # objects is refused here, before the notebooks go out.
    factory_steps(plan, fresh.desired)
    if fresh.notebooks is not None and fresh.workspace_target is not None and fresh.notebooks.plan.has_changes:
        # Notebooks first: the pipelines being deployed may call the new versions.
        report.notebooks = NotebookReport()
        try:
            apply_notebooks(
                fresh.notebooks,
                fresh.workspace_target,
                sink=sink,
                parallelism=env.deploy.parallelism,
                report=report.notebooks,
            )
        except NotebookStepFailed as failed:
            what = databricks_message(failed.error)
            report.error = f"{failed.portal_where}: {what}"
            sink(Event(FAILED, "apply", failed.portal_where, what))
            raise ApplyFailed(report, failed.portal_where, what) from failed
    resolver = resolve_secret or (
        sandbox_secret
        if env.data_factory.auth == "sandbox"
        else key_vault_resolver(env.data_factory.auth, fresh.target.credentials)
    )
    return apply_plan(
        plan,
        fresh.desired,
        fresh.target,
        resolve_secret=resolver,
        sink=sink,
        parallelism=env.deploy.parallelism,
        report=report,
    )


# Above this many objects to check, listing the whole factory takes fewer calls than one GET per object.
_GET_EACH_LIMIT = 100


def _live_moved(plan: Plan, target: FactoryTarget, parallelism: int) -> str | None:
    """Why the plan no longer fits the live factory, or None when it still does."""
    try:
        if plan.stale_check == "whole-factory":
            if live_fingerprint(target.read_all(parallelism)) != plan.live_fingerprint:
                return "the live factory changed"
            return None
        keys = [version.key for version in plan.preconditions]
        if not keys:
            return None
        live = target.read_all(parallelism) if len(keys) > _GET_EACH_LIMIT else target.read_objects(keys, parallelism)
    except AzureError as error:
        raise PortalError(
            f"factory {plan.factory}", f"cannot read the live factory: {service_message(error)}", code=ErrorCode.TARGET
        ) from error
    moved = moved_since_plan(plan, live)
    if not moved:
        return None
    shown = ", ".join(version.describe() for version in moved[:5]) + (" …" if len(moved) > 5 else "")
    return f"{len(moved)} of the objects the plan changes moved in the live factory ({shown})"


def key_vault_resolver(
    auth: str,
    credentials: Credentials | None = None,
    *,
    secret_client: Callable[[str, Any], Any] | None = None,
) -> Callable[[Secret], str]:
    """Secrets fetched at deploy time, by where each comes from (`Secret.origin`): Key Vault references with the
    deployment's credential, environment variables from the process.

    One resolver serves one run: it makes one client per vault (`secret_client(vault_url, credential)`, by default
    azure-keyvault's SecretClient), all signed in with the one credential `credentials` holds for `auth` (the
    run's Data Factory client's, when apply_environment passes its target's)."""
    import os
    import threading

    run_credentials = credentials if credentials is not None else Credentials()
    clients: dict[str, Any] = {}
    clients_lock = threading.Lock()  # secrets are resolved by parallel puts

    def client_of(url: str) -> Any:
        with clients_lock:
            client = clients.get(url)
            if client is None:
                if secret_client is None:
                    from azure.keyvault.secrets import SecretClient

                    client = SecretClient(url, run_credentials(auth))
                else:
                    client = secret_client(url, run_credentials(auth))
                clients[url] = client
            return client

    def resolve(secret: Secret) -> str:
        origin = secret.origin
        if isinstance(origin, EnvironmentVariable):
            if origin.name not in os.environ:
                raise PortalError(f"secret from {origin.describe()}", "is not set", code=ErrorCode.SECRET_MISSING)
            return os.environ[origin.name]
        if isinstance(origin, KeyVaultReference):
            client = client_of(origin.vault_url)
            return client.get_secret(origin.secret_name, origin.secret_version).value or ""
        raise PortalError(
            f"secret {secret.source}",
            "cannot be resolved (only whole Key Vault secrets and environment variables can)",
            code=ErrorCode.SECRET_SOURCE,
        )

    return resolve
