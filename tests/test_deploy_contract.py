"""The deploy core against a service that behaves as the published contract says (the sandbox), through the SDK.

What the core must not rely on: that the service answers with exactly what it was sent (it adds read-only
properties, masks secrets, spells enums its way), that a PUT honours If-None-Match (documented for GET only),
that names keep their case, that the service accepts whatever is sent (limits, immutable private endpoints, name
rules), or that an event subscription's long-running operation can be polled by the SDK's poller.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from portal.adf.limits import ACTIVITIES_PER_PIPELINE
from portal.adf.loader import load_factory
from portal.adf.validation import CONTRACT_PARAMETERS, SERVICE_NAME_RULES
from portal.deploy.comparison import comparable
from portal.deploy.plan import property_changes
from portal.deploy.service import apply_environment, plan_environment
from portal.deploy.target import COLLECTIONS, GLOBAL_PARAMETERS, FactoryTarget
from portal.environments.workspace import MappingWorkspace
from portal.errors import FindingsError, PortalError
from portal.sandbox import SandboxServer, sandbox_for
from tests.corpus import CORPUS, needs_corpus
from tests.mapping_repo import (
    KV_TEST,
    SUB_TEST,
    commit_all,
    sandbox_config,
    sandbox_repo,
    write_json,
)

CONFIG = sandbox_config(delete_removed=True)
VALUES = {
    "test": {
        "LS_Lake_accountKey": {"reference": {"keyVault": {"id": KV_TEST}, "secretName": "lake-key"}},
        "LS_Sql_connectionString": {"reference": {"keyVault": {"id": KV_TEST}, "secretName": "sql-conn"}},
    }
}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    return sandbox_repo(tmp_path / "data", CONFIG, VALUES)


def _plan(repo: Path):
    return plan_environment(MappingWorkspace.open(repo), "test")


def _promote(repo: Path):
    workspace = MappingWorkspace.open(repo)
    planned = plan_environment(workspace, "test")
    return planned.plan, apply_environment(workspace, "test", planned.plan, planned=planned)


def _client(repo: Path):
    return sandbox_for(repo / ".sandbox").client(SUB_TEST)


def _every_kind(repo: Path) -> None:
    """Objects of the kinds whose live form the service rewrites: a managed network with a private endpoint, a
    managed and a self-hosted integration runtime, a credential, global parameters typed in Git's lower case,
    and an event trigger."""
    adf = repo / "adf"
    write_json(
        adf / "factory" / "adf-sales-dev.json",
        {
            "name": "adf-sales-dev",
            "location": "westeurope",
            "properties": {
                "globalParameters": {
                    "region": {"type": "string", "value": "weu"},
                    "batch": {"type": "int", "value": 500},
                }
            },
        },
    )
    write_json(
        adf / "managedVirtualNetwork" / "default.json",
        {"name": "default", "type": "Microsoft.DataFactory/factories/managedvirtualnetworks"},
    )
    write_json(
        adf / "managedVirtualNetwork" / "default" / "managedPrivateEndpoint" / "PE_Lake.json",
        {
            "name": "PE_Lake",
            "properties": {
                "privateLinkResourceId": "/subscriptions/" + SUB_TEST + "/resourceGroups/rg-test/providers/"
                "Microsoft.Storage/storageAccounts/laketest",
                "groupId": "dfs",
            },
        },
    )
    write_json(
        adf / "integrationRuntime" / "IR-Managed.json",
        {
            "name": "IR-Managed",
            "properties": {
                "type": "Managed",
                "typeProperties": {
                    "computeProperties": {
                        "location": "AutoResolve",
                        "dataFlowProperties": {"computeType": "General", "coreCount": 8, "timeToLive": 10},
                    }
                },
                "managedVirtualNetwork": {"type": "ManagedVirtualNetworkReference", "referenceName": "default"},
            },
        },
    )
    write_json(
        adf / "integrationRuntime" / "IR-OnPrem.json",
        {"name": "IR-OnPrem", "properties": {"type": "SelfHosted", "description": "the office network"}},
    )
    write_json(
        adf / "credential" / "CR_Identity.json",
        {"name": "CR_Identity", "properties": {"type": "ManagedIdentity", "typeProperties": {}}},
    )
    write_json(
        adf / "trigger" / "TR_Arrived.json",
        {
            "name": "TR_Arrived",
            "properties": {
                "runtimeState": "Started",
                "type": "BlobEventsTrigger",
                "annotations": [],
                "pipelines": [{"pipelineReference": {"referenceName": "PL_Load", "type": "PipelineReference"}}],
                "typeProperties": {
                    "blobPathBeginsWith": "/raw/blobs/",
                    "ignoreEmptyBlobs": True,
                    "scope": f"/subscriptions/{SUB_TEST}/resourceGroups/rg-test/providers/"
                    "Microsoft.Storage/storageAccounts/laketest",
                    "events": ["Microsoft.Storage.BlobCreated"],
                },
            },
        },
    )
    commit_all(repo, "every kind")


def test_a_promoted_environment_plans_empty_for_every_kind(repo: Path) -> None:
    _every_kind(repo)
    first, report = _promote(repo)
    assert report.ok and first.counts()["create"] >= 10
    again = _plan(repo).plan
    changed = {c.label: [str(p) for p in c.changes] for c in again.objects if c.action != "unchanged"}
    assert changed == {} and not again.triggers and not again.has_changes
    # The event trigger went through the contract's long-running subscription, and is started and subscribed.
    status = _client(repo).triggers.get_event_subscription_status("rg-test", "adf-sales-test", "TR_Arrived")
    assert status.status == "Enabled"


def test_an_event_trigger_is_unsubscribed_and_subscribed_again_around_a_change(repo: Path) -> None:
    _every_kind(repo)
    _promote(repo)
    pipeline = repo / "adf" / "pipeline" / "PL_Load.json"
    document = json.loads(pipeline.read_text())
    document["properties"]["description"] = "loads orders as they arrive"
    write_json(pipeline, document)
    commit_all(repo, "describe the pipeline")
    plan, report = _promote(repo)
    arrived = [t for t in plan.triggers if t.name == "TR_Arrived"]
    assert arrived and arrived[0].stop and arrived[0].start and arrived[0].event_subscription
    assert report.ok and "TR_Arrived" in report.triggers_stopped and "TR_Arrived" in report.triggers_started
    client = _client(repo)
    assert client.triggers.get_event_subscription_status("rg-test", "adf-sales-test", "TR_Arrived").status == "Enabled"
    assert client.triggers.get("rg-test", "adf-sales-test", "TR_Arrived").properties.runtime_state == "Started"


def test_a_case_only_rename_updates_the_object_and_never_deletes_it(repo: Path) -> None:
    _promote(repo)
    adf = repo / "adf"
    old = adf / "pipeline" / "PL_Load.json"
    document = json.loads(old.read_text())
    old.unlink()
    document["name"] = "pl_load"
    document["properties"]["description"] = "renamed in Git"
    write_json(adf / "pipeline" / "pl_load.json", document)
    trigger = adf / "trigger" / "TR_Daily.json"
    daily = json.loads(trigger.read_text())
    daily["properties"]["pipelines"][0]["pipelineReference"]["referenceName"] = "pl_load"
    write_json(trigger, daily)
    commit_all(repo, "rename the pipeline (case only)")
    plan = _plan(repo).plan
    renamed = [c for c in plan.objects if c.kind == "pipeline"]
    assert [(c.name, c.action, c.live_name) for c in renamed] == [("pl_load", "update", "PL_Load")]
    assert not plan.deletions
    assert any("names are case-insensitive" in note for note in plan.notes)
    _, report = _promote(repo)
    assert report.ok and not report.deleted
    pipeline = _client(repo).pipelines.get("rg-test", "adf-sales-test", "pl_load")
    assert pipeline.description == "renamed in Git"
    assert not _plan(repo).plan.has_changes


def test_a_pipeline_over_the_published_limits_is_refused_by_the_plan_before_any_write(repo: Path) -> None:
    adf = repo / "adf"
    inner = [
        {"name": f"Wait{i}", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}
        for i in range(ACTIVITIES_PER_PIPELINE)
    ]
    write_json(
        adf / "pipeline" / "PL_Big.json",
        {
            "name": "PL_Big",
            "properties": {
                "activities": [
                    {
                        "name": "Each",
                        "type": "ForEach",
                        "typeProperties": {
                            "items": {"value": "@createArray(1)", "type": "Expression"},
                            "activities": inner,
                        },
                    }
                ],
                "parameters": {f"p{i}": {"type": "string"} for i in range(51)},
            },
        },
    )
    commit_all(repo, "a pipeline too big for the service")
    server = sandbox_for(repo / ".sandbox")
    workspace = MappingWorkspace.open(repo)
    planned = plan_environment(workspace, "test")
    blockers = planned.plan.blockers
    assert any("pipeline PL_Big: 121 activities" in b and "120" in b for b in blockers), blockers
    assert any("pipeline PL_Big: 51 parameters" in b and "50" in b for b in blockers), blockers
    assert not planned.plan.can_apply
    server.stats.reset()
    with pytest.raises(PortalError) as refused:
        apply_environment(workspace, "test", planned.plan, planned=planned)
    assert refused.value.code == "PLAN_BLOCKED" and "PL_Big" in refused.value.what
    assert server.stats.by_method.get("PUT", 0) == 0
    assert "PL_Big" not in [p.name for p in _client(repo).pipelines.list_by_factory("rg-test", "adf-sales-test")]


def test_a_changed_managed_private_endpoint_is_refused_by_the_plan(repo: Path) -> None:
    _every_kind(repo)
    _promote(repo)
    endpoint = repo / "adf" / "managedVirtualNetwork" / "default" / "managedPrivateEndpoint" / "PE_Lake.json"
    document = json.loads(endpoint.read_text())
    document["properties"]["groupId"] = "blob"
    write_json(endpoint, document)
    commit_all(repo, "point the endpoint at blob")
    plan = _plan(repo).plan
    assert [c.name for c in plan.updates] == ["default/PE_Lake"]
    assert any(
        "managedPrivateEndpoint default/PE_Lake: a managed private endpoint cannot be changed in place" in b
        for b in plan.blockers
    ), plan.blockers
    with pytest.raises(PortalError) as refused:
        apply_environment(MappingWorkspace.open(repo), "test", plan)
    assert refused.value.code == "PLAN_BLOCKED"
    live = _client(repo).managed_private_endpoints.get("rg-test", "adf-sales-test", "default", "PE_Lake")
    assert live.properties.group_id == "dfs"


@pytest.mark.parametrize(
    "folder, name", [("integrationRuntime", "IR_OnPrem"), ("credential", "cred.1"), ("managedVirtualNetwork", "-edge")]
)
def test_a_name_the_service_refuses_gets_no_plan(repo: Path, folder: str, name: str) -> None:
    body = (
        {"type": "SelfHosted"}
        if folder == "integrationRuntime"
        else {"type": "ManagedIdentity", "typeProperties": {}}
        if folder == "credential"
        else None
    )
    write_json(repo / "adf" / folder / f"{name}.json", {"name": name, **({"properties": body} if body else {})})
    commit_all(repo, "a name the service refuses")
    server = sandbox_for(repo / ".sandbox")
    server.stats.reset()
    with pytest.raises(FindingsError) as refused:
        _plan(repo)
    assert any(f.code == "SERVICE_NAME" and name in f.what for f in refused.value.findings)
    assert server.stats.by_method.get("PUT", 0) == 0


# --- the comparison, rule by rule -----------------------------------------------------------------------------


def test_read_only_properties_of_the_contract_are_not_compared() -> None:
    ours = {"type": "Managed", "typeProperties": {"computeProperties": {"location": "AutoResolve"}}}
    theirs = {**ours, "state": "Initial"}
    assert comparable("integrationRuntime", ours, theirs)[0] == comparable("integrationRuntime", ours, theirs)[1]
    network = comparable("managedVirtualNetwork", {}, {"vNetId": "5f1e…", "alias": "adf-sales-test"})
    assert network == ({}, {})
    endpoint = comparable(
        "managedPrivateEndpoint",
        {"groupId": "dfs"},
        {
            "groupId": "dfs",
            "provisioningState": "Succeeded",
            "isReserved": False,
            "connectionState": {"status": "Pending", "actionsRequired": "None", "description": ""},
        },
    )
    assert endpoint[0] == endpoint[1]


def test_enum_values_are_compared_without_regard_to_case_and_other_values_strictly() -> None:
    ours, theirs = comparable(
        GLOBAL_PARAMETERS, {"batch": {"type": "int", "value": 500}}, {"batch": {"type": "Int", "value": 500}}
    )
    assert ours == theirs
    ours, theirs = comparable(
        GLOBAL_PARAMETERS, {"batch": {"type": "int", "value": 500}}, {"batch": {"type": "Int", "value": 501}}
    )
    assert [str(c) for c in property_changes(theirs, ours)] == ["properties.batch.value: 501 → 500"]


def test_a_hand_edit_of_a_property_the_contract_defines_shows() -> None:
    ours = {"type": "SelfHosted", "description": "the office network"}
    theirs = {"type": "SelfHosted", "description": "edited by hand", "state": "NeedRegistration"}
    mine, live = comparable("integrationRuntime", ours, theirs)
    assert [str(c) for c in property_changes(live, mine)] == [
        "properties.description: edited by hand → the office network"
    ]


def test_masked_secrets_compare_as_secrets_only() -> None:
    ours = {
        "type": "AzureSqlDatabase",
        "typeProperties": {"connectionString": {"type": "SecureString", "value": "Server=x;Password=plain"}},
    }
    theirs = {
        "type": "AzureSqlDatabase",
        "typeProperties": {"connectionString": {"type": "SecureString", "value": "**********"}},
    }
    mine, live = comparable("linkedService", ours, theirs)
    assert mine == live
    keyvault = {
        "type": "AzureSqlDatabase",
        "typeProperties": {
            "connectionString": {
                "type": "AzureKeyVaultSecret",
                "secretName": "sql",
                "store": {"referenceName": "KV", "type": "LinkedServiceReference"},
            }
        },
    }
    mine, live = comparable("linkedService", keyvault, theirs)
    assert mine != live


def test_properties_the_contract_does_not_define_are_compared_only_when_both_sides_have_them() -> None:
    ours = {"type": "SelfHosted", "futureSetting": True}
    assert comparable("integrationRuntime", ours, {"type": "SelfHosted"}) == (
        {"type": "SelfHosted"},
        {"type": "SelfHosted"},
    )
    mine, live = comparable("integrationRuntime", ours, {"type": "SelfHosted", "futureSetting": False})
    assert mine != live


def test_the_name_rules_are_the_contracts_path_parameters() -> None:
    from portal.sandbox.contract import name_rule

    assert set(CONTRACT_PARAMETERS) == set(SERVICE_NAME_RULES)
    for kind, (pattern, shortest, longest, _) in SERVICE_NAME_RULES.items():
        published = name_rule(CONTRACT_PARAMETERS[kind])
        assert published is not None, f"{CONTRACT_PARAMETERS[kind]} ({kind}) is not a path parameter of the contract"
        assert (published.pattern, published.min_length, published.max_length) == (
            pattern.pattern,
            shortest,
            longest,
        ), kind


# --- the corpus: what real factories hold comes back unchanged -------------------------------------------------

_ORDER = {c.key: i for i, c in enumerate(COLLECTIONS)}
ENTRIES = sorted(p.name for p in CORPUS.iterdir() if (p / "source").is_dir()) if CORPUS.is_dir() else []


@pytest.fixture(scope="module")
def corpus_sandbox(tmp_path_factory: pytest.TempPathFactory):
    with SandboxServer(tmp_path_factory.mktemp("corpus-sandbox")) as server:
        yield server


@needs_corpus
@pytest.mark.parametrize("entry", ENTRIES)
def test_every_object_of_a_real_factory_plans_unchanged_once_it_is_written(entry: str, corpus_sandbox) -> None:
    """Each object a real factory's Git holds, written through the SDK as it is and read back, compares equal:
    what the service adds or respells is never a change."""
    source = CORPUS / entry / "source"
    factory = load_factory(source, factory_name=None if (source / "factory").is_dir() else "unnamed")
    name = "f-" + hashlib.sha256(entry.encode()).hexdigest()[:16]
    client = corpus_sandbox.client(SUB_TEST)
    client.factories.create_or_update("rg-corpus", name, {"location": "westeurope"})
    target = FactoryTarget(client, SUB_TEST, "rg-corpus", name)
    wanted: dict[tuple[str, str], dict] = {}
    if factory.global_parameters:
        wanted[(GLOBAL_PARAMETERS, "default")] = dict(factory.global_parameters)
    for obj in factory.objects:
        wanted[(obj.kind.value, obj.qualified_name)] = dict(obj.properties)
    pending = sorted(wanted, key=lambda k: (_ORDER.get(k[0], 99), k[1]))
    refused: dict[tuple[str, str], str] = {}
    # References first: a pass writes what it can; what waits for another object is written on a later pass.
    while pending:
        waiting = []
        for key in pending:
            try:
                target.put(key[0], key[1], wanted[key])
            except Exception as error:  # noqa: BLE001 - told below, with the object
                refused[key] = str(error).splitlines()[0]
                waiting.append(key)
            else:
                refused.pop(key, None)
        if len(waiting) == len(pending):
            break
        pending = waiting
    # Git may hold references to objects that are not in Git (ADF's Git mode does not check them); those the
    # service rightly refuses. Anything else it refused is a sandbox stricter than the service that took it.
    unexplained = {k: why for k, why in refused.items() if "invalid reference" not in why}
    assert unexplained == {}
    live = target.read_all()
    differences = {}
    for key, properties in wanted.items():
        if key in refused:
            continue
        found = live.get(key)
        assert found is not None, key
        mine, theirs = comparable(key[0], properties, found.properties)
        if mine != theirs:
            differences[f"{key[0]} {key[1]}"] = [str(c) for c in property_changes(theirs, mine)][:3]
    assert differences == {}


def test_a_deploy_bigger_than_the_hourly_write_budget_is_told() -> None:
    from portal.adf.limits import WRITES_PER_HOUR
    from portal.deploy.limits import write_rate_note

    assert write_rate_note(WRITES_PER_HOUR) is None
    note = write_rate_note(WRITES_PER_HOUR + 1)
    assert note is not None and "1201 writes" in note and "1200 per hour" in note


def test_property_names_the_contract_defines_are_matched_whatever_their_case() -> None:
    git = {
        "SourceConnectionsInfo": [],
        "Policy": {"mode": "Microbatch", "recurrence": {"frequency": "Minute", "interval": 15}},
    }
    live = {
        "sourceConnectionsInfo": [],
        "policy": {"mode": "Microbatch", "recurrence": {"frequency": "Minute", "interval": 15}},
    }
    mine, theirs = comparable("adfcdc", git, live)
    assert mine == theirs
    live["policy"]["recurrence"]["interval"] = 30
    mine, theirs = comparable("adfcdc", git, live)
    assert [str(c) for c in property_changes(theirs, mine)] == ["properties.Policy.recurrence.interval: 30 → 15"]
    # Names in maps (here a pipeline's parameters) are the user's, matched exactly.
    mine, theirs = comparable(
        "pipeline", {"parameters": {"Env": {"type": "string"}}}, {"parameters": {"env": {"type": "String"}}}
    )
    assert mine != theirs
