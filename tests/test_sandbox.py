"""The embedded sandbox, always through the real SDK client over verified HTTPS.

- objects round-trip (factory, linked service, dataset, pipeline, trigger, and the other collections), and lists
  page through `nextLink`;
- the service's rules: references must exist, a referenced object cannot be deleted, a started trigger can be
  neither updated nor deleted, `runtimeState` is read-only, event subscriptions take a poll to go away;
- injected faults (429 storms, a 500 on one PUT, a dropped connection) are absorbed by the SDK's retries, and
  the counters show the extra requests;
- 401 without the token, state that survives a restart, and a certificate that verifies only against the CA.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.core.credentials import AccessToken

from portal.sandbox import SANDBOX_TOKEN, FaultRule, Faults, SandboxServer

SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-portal"
ADF = "adf-dev"

LINKED_SERVICE = {"properties": {"type": "AzureBlobStorage", "typeProperties": {"connectionString": "cs"}}}
DATASET = {"properties": {"type": "Json", "linkedServiceName": {"referenceName": "LS_Blob",
                                                                 "type": "LinkedServiceReference"}}}
PIPELINE = {"properties": {"activities": [{
    "name": "Copy", "type": "Copy",
    "inputs": [{"referenceName": "DS_In", "type": "DatasetReference"}],
    "outputs": [{"referenceName": "DS_In", "type": "DatasetReference"}],
    "typeProperties": {"source": {"type": "JsonSource"}, "sink": {"type": "JsonSink"}},
}]}}
SCHEDULE_TRIGGER = {"properties": {
    "type": "ScheduleTrigger",
    "pipelines": [{"pipelineReference": {"referenceName": "PL_Copy", "type": "PipelineReference"}}],
    "typeProperties": {"recurrence": {"frequency": "Hour", "interval": 1}},
}}
BLOB_TRIGGER = {"properties": {
    "type": "BlobEventsTrigger",
    "pipelines": [{"pipelineReference": {"referenceName": "PL_Copy", "type": "PipelineReference"}}],
    "typeProperties": {"events": ["Microsoft.Storage.BlobCreated"], "scope": "/subscriptions/x/storageAccounts/y",
                       "blobPathBeginsWith": "/in/blobs/"},
}}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path / "sandbox") as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> Any:
    return server.client(SUB)


def build_factory(client: Any, *, trigger: dict[str, Any] | None = None) -> None:
    """A factory with LS_Blob ← DS_In ← PL_Copy (← TR, when a trigger body is given)."""
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    client.linked_services.create_or_update(RG, ADF, "LS_Blob", LINKED_SERVICE)
    client.datasets.create_or_update(RG, ADF, "DS_In", DATASET)
    client.pipelines.create_or_update(RG, ADF, "PL_Copy", PIPELINE)
    if trigger is not None:
        client.triggers.create_or_update(RG, ADF, "TR", trigger)


def error_code(err: HttpResponseError) -> str | None:
    return err.error.code if err.error is not None else None


def error_message(err: HttpResponseError) -> str | None:
    return err.error.message if err.error is not None else None


# -- objects ---------------------------------------------------------------------------------------------------


def test_objects_round_trip_through_the_sdk(client: Any) -> None:
    factory = client.factories.create_or_update(RG, ADF, {"location": "westeurope", "tags": {"env": "dev"}})
    assert dict(factory)["properties"]["provisioningState"] == "Succeeded"
    build_factory(client, trigger=SCHEDULE_TRIGGER)

    pipeline = client.pipelines.get(RG, ADF, "pl_copy")  # names are looked up without regard to case
    assert pipeline["name"] == "PL_Copy"
    assert pipeline["type"] == "Microsoft.DataFactory/factories/pipelines"
    assert pipeline["id"] == (f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DataFactory"
                              f"/factories/{ADF}/pipelines/PL_Copy")
    assert dict(pipeline)["properties"] == PIPELINE["properties"]
    assert dict(client.datasets.get(RG, ADF, "DS_In"))["properties"] == DATASET["properties"]
    assert dict(client.linked_services.get(RG, ADF, "LS_Blob"))["properties"] == LINKED_SERVICE["properties"]
    trigger = dict(client.triggers.get(RG, ADF, "TR"))
    assert trigger["properties"]["runtimeState"] == "Stopped"
    assert [f.name for f in client.factories.list_by_resource_group(RG)] == [ADF]

    # Every write gets a new etag, and a stale one is refused (412 → ResourceModifiedError).
    old = pipeline["etag"]
    new = client.pipelines.create_or_update(RG, ADF, "PL_Copy", PIPELINE)["etag"]
    assert new != old
    with pytest.raises(ResourceModifiedError):
        client.pipelines.create_or_update(RG, ADF, "PL_Copy", PIPELINE, etag=old,
                                          match_condition=MatchConditions.IfNotModified)
    # An unchanged object answers 304, which the SDK turns into None.
    assert client.pipelines.get(RG, ADF, "PL_Copy", etag=new, match_condition=MatchConditions.IfModified) is None


def test_other_collections_and_nested_references(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    client.managed_virtual_networks.create_or_update(RG, ADF, "default", {"properties": {}})
    client.managed_private_endpoints.create_or_update(
        RG, ADF, "default", "mpe-blob", {"properties": {"privateLinkResourceId": "/x", "groupId": "blob"}})
    client.integration_runtimes.create_or_update(RG, ADF, "ir-managed", {"properties": {
        "type": "Managed",
        "managedVirtualNetwork": {"referenceName": "default", "type": "ManagedVirtualNetworkReference"},
    }})
    client.credential_operations.create_or_update(RG, ADF, "cred-uami", {"properties": {
        "type": "ManagedIdentity", "typeProperties": {"resourceId": "/identities/x"}}})
    client.linked_services.create_or_update(RG, ADF, "LS_KeyVault", {"properties": {
        "type": "AzureKeyVault", "typeProperties": {"baseUrl": "https://kv.vault.azure.net/"}}})
    client.linked_services.create_or_update(RG, ADF, "LS_Sql", {"properties": {
        "type": "AzureSqlDatabase",
        "connectVia": {"referenceName": "ir-managed", "type": "IntegrationRuntimeReference"},
        "typeProperties": {
            "password": {"type": "AzureKeyVaultSecret", "secretName": "pw",
                         "store": {"referenceName": "LS_KeyVault", "type": "LinkedServiceReference"}},
            "credential": {"referenceName": "cred-uami", "type": "CredentialReference"},
        },
    }})
    client.global_parameters.create_or_update(RG, ADF, "default", {"properties": {
        "env": {"type": "String", "value": "dev"}}})

    assert dict(client.global_parameters.get(RG, ADF, "default"))["properties"]["env"]["value"] == "dev"
    endpoints = list(client.managed_private_endpoints.list_by_factory(RG, ADF, "default"))
    assert [e.name for e in endpoints] == ["mpe-blob"]
    assert endpoints[0]["type"] == "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints"
    # The Key Vault store, connectVia and the credential are all references that hold their targets.
    for delete in (lambda: client.linked_services.delete(RG, ADF, "LS_KeyVault"),
                   lambda: client.integration_runtimes.delete(RG, ADF, "ir-managed"),
                   lambda: client.credential_operations.delete(RG, ADF, "cred-uami")):
        with pytest.raises(HttpResponseError, match="referenced by LS_Sql"):
            delete()


def test_lists_page_through_next_link(tmp_path: Path) -> None:
    with SandboxServer(tmp_path / "sandbox", page_size=2) as server:
        client = server.client(SUB)
        client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
        for i in range(5):
            client.pipelines.create_or_update(RG, ADF, f"PL_{i}", {"properties": {"activities": []}})
        server.stats.reset()
        names = [p.name for p in client.pipelines.list_by_factory(RG, ADF)]
        assert names == [f"PL_{i}" for i in range(5)]
        assert server.stats.reads == 3  # pages of 2, 2 and 1


def test_missing_factory_and_object_answer_404(client: Any) -> None:
    with pytest.raises(ResourceNotFoundError) as missing_factory:
        client.pipelines.get(RG, "adf-missing", "PL")
    assert error_code(missing_factory.value) == "ResourceNotFound"
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    with pytest.raises(ResourceNotFoundError) as missing_object:
        client.pipelines.get(RG, ADF, "PL_Missing")
    assert error_code(missing_object.value) == "NotFound"


# -- the service's rules -----------------------------------------------------------------------------------------


def test_reference_to_missing_dataset_is_refused(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    with pytest.raises(HttpResponseError) as refused:
        client.pipelines.create_or_update(RG, ADF, "PL_Copy", PIPELINE)
    assert refused.value.status_code == 400
    assert error_code(refused.value) == "BadRequest"
    assert "invalid reference 'DS_In'" in str(refused.value)
    # Names given as expressions are resolved at run time, and the auto-resolve runtime is built in.
    client.pipelines.create_or_update(RG, ADF, "PL_Dynamic", {"properties": {"activities": [{
        "name": "Lookup", "type": "Lookup",
        "typeProperties": {"dataset": {"referenceName": "@pipeline().parameters.ds", "type": "DatasetReference"}},
        "linkedServiceName": {"referenceName": "@{pipeline().parameters.ls}", "type": "LinkedServiceReference"},
    }]}})
    client.linked_services.create_or_update(RG, ADF, "LS_Auto", {"properties": {
        "type": "AzureBlobStorage", "typeProperties": {},
        "connectVia": {"referenceName": "AutoResolveIntegrationRuntime", "type": "IntegrationRuntimeReference"}}})


def test_delete_is_refused_while_referenced(client: Any) -> None:
    build_factory(client)
    with pytest.raises(HttpResponseError) as refused:
        client.datasets.delete(RG, ADF, "DS_In")
    assert error_code(refused.value) == "BadRequest"
    assert error_message(refused.value) == "The document cannot be deleted since it is referenced by PL_Copy."
    client.pipelines.delete(RG, ADF, "PL_Copy")
    client.datasets.delete(RG, ADF, "DS_In")
    client.datasets.delete(RG, ADF, "DS_In")  # absent: 204, no error
    assert [d.name for d in client.datasets.list_by_factory(RG, ADF)] == []


def test_started_trigger_refuses_update_until_stopped(client: Any) -> None:
    build_factory(client, trigger=SCHEDULE_TRIGGER)
    assert client.triggers.begin_start(RG, ADF, "TR").result() is None
    assert client.triggers.get(RG, ADF, "TR")["properties"]["runtimeState"] == "Started"
    for write in (lambda: client.triggers.create_or_update(RG, ADF, "TR", SCHEDULE_TRIGGER),
                  lambda: client.triggers.delete(RG, ADF, "TR")):
        with pytest.raises(HttpResponseError) as refused:
            write()
        assert error_code(refused.value) == "TriggerEnabledCannotUpdate"
        assert error_message(refused.value) == "Cannot update enabled Trigger; the trigger needs to be disabled first."
    # The trigger holds its pipeline too.
    with pytest.raises(HttpResponseError, match="referenced by TR"):
        client.pipelines.delete(RG, ADF, "PL_Copy")

    client.triggers.begin_stop(RG, ADF, "TR").result()
    updated = client.triggers.create_or_update(RG, ADF, "TR", SCHEDULE_TRIGGER)
    assert dict(updated)["properties"]["runtimeState"] == "Stopped"
    client.triggers.delete(RG, ADF, "TR")


def test_runtime_state_in_a_put_body_is_ignored(client: Any) -> None:
    build_factory(client)
    body = json.loads(json.dumps(SCHEDULE_TRIGGER))
    body["properties"]["runtimeState"] = "Started"
    created = client.triggers.create_or_update(RG, ADF, "TR", body)
    assert dict(created)["properties"]["runtimeState"] == "Stopped"
    assert client.triggers.get(RG, ADF, "TR")["properties"]["runtimeState"] == "Stopped"


def test_event_trigger_subscription_must_be_polled_away(client: Any) -> None:
    build_factory(client, trigger=BLOB_TRIGGER)
    assert client.triggers.get_event_subscription_status(RG, ADF, "TR")["status"] == "Disabled"
    subscribed = client.triggers.begin_subscribe_to_events(RG, ADF, "TR").result()
    assert dict(subscribed) == {"triggerName": "TR", "status": "Enabled"}
    assert client.triggers.get_event_subscription_status(RG, ADF, "TR")["status"] == "Enabled"

    client.triggers.begin_unsubscribe_from_events(RG, ADF, "TR").result()
    seen = [client.triggers.get_event_subscription_status(RG, ADF, "TR")["status"] for _ in range(3)]
    assert seen == ["Deprovisioning", "Disabled", "Disabled"]

    client.triggers.create_or_update(RG, ADF, "TR_Schedule", SCHEDULE_TRIGGER)
    with pytest.raises(HttpResponseError, match="does not subscribe to events"):
        client.triggers.begin_subscribe_to_events(RG, ADF, "TR_Schedule").result()


# -- faults and retries --------------------------------------------------------------------------------------------


def test_a_429_storm_is_absorbed_by_the_sdk_retries(server: SandboxServer, client: Any) -> None:
    server.faults = Faults(throttle_every=2)
    started = time.monotonic()
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})  # request 1
    client.linked_services.create_or_update(RG, ADF, "LS_Blob", LINKED_SERVICE)  # 2 → 429, 3
    assert client.linked_services.get(RG, ADF, "LS_Blob")["name"] == "LS_Blob"  # 4 → 429, 5
    assert server.stats.faults_injected == 2
    assert server.stats.total == 5
    assert server.stats.by_method == {"PUT": 3, "GET": 2}
    assert time.monotonic() - started >= 2  # azure-core waited the whole-second Retry-After each time


def test_a_500_on_one_put_is_retried(server: SandboxServer, client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    rule = FaultRule(method="PUT", path_contains="/linkedservices/", status=500, times=1)
    server.faults = Faults(rules=[rule])
    server.stats.reset()
    created = client.linked_services.create_or_update(RG, ADF, "LS_Blob", LINKED_SERVICE)
    assert created["name"] == "LS_Blob"
    assert rule.times == 0  # spent
    assert (server.stats.by_method, server.stats.faults_injected) == ({"PUT": 2}, 1)


def test_a_dropped_connection_is_retried(server: SandboxServer, client: Any) -> None:
    build_factory(client)
    server.faults = Faults(rules=[FaultRule(method="GET", path_contains="/pipelines/", drop_connection=True)])
    server.stats.reset()
    assert client.pipelines.get(RG, ADF, "PL_Copy")["name"] == "PL_Copy"
    assert (server.stats.reads, server.stats.faults_injected) == (2, 1)


def test_every_nth_write_fails_with_503(server: SandboxServer, client: Any) -> None:
    server.faults = Faults(error_every=2)
    build_factory(client)  # 4 writes; the retries count as writes too: ok, 503+ok, 503+ok, 503+ok
    assert server.stats.writes == 7
    assert server.stats.faults_injected == 3


# -- HTTP, TLS and persistence -------------------------------------------------------------------------------------


def _raw_get(server: SandboxServer, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    url = f"{server.base_url}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DataFactory/factories" \
          "?api-version=2018-06-01"
    context = ssl.create_default_context(cafile=server.ca_path)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), context=context) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_requests_without_the_token_get_401(server: SandboxServer) -> None:
    status, body = _raw_get(server, {})
    assert (status, body["error"]["code"]) == (401, "AuthenticationFailed")
    status, body = _raw_get(server, {"Authorization": "Bearer someone-else"})
    assert (status, body["error"]["code"]) == (401, "InvalidAuthenticationToken")
    assert _raw_get(server, {"Authorization": f"Bearer {SANDBOX_TOKEN}"}) == (200, {"value": []})

    class WrongCredential:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("not-the-token", int(time.time()) + 3600)

    with pytest.raises(ClientAuthenticationError):
        server.client(SUB, credential=WrongCredential()).factories.get(RG, ADF)


def test_state_survives_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "sandbox"
    with SandboxServer(folder) as first:
        build_factory(first.client(SUB), trigger=SCHEDULE_TRIGGER)
        first.client(SUB).triggers.begin_start(RG, ADF, "TR").result()
        ca = Path(first.ca_path).read_bytes()
    assert (folder / "subscriptions" / SUB / "resourceGroups" / RG / "factories" / ADF / "pipelines"
            / "PL_Copy.json").is_file()
    with SandboxServer(folder) as second:
        client = second.client(SUB)
        assert dict(client.pipelines.get(RG, ADF, "PL_Copy"))["properties"] == PIPELINE["properties"]
        assert client.triggers.get(RG, ADF, "TR")["properties"]["runtimeState"] == "Started"
        assert Path(second.ca_path).read_bytes() == ca  # certificates are reused, so clients keep trusting them
        client.triggers.begin_stop(RG, ADF, "TR").result()
        client.factories.delete(RG, ADF)
        assert list(client.factories.list_by_resource_group(RG)) == []
    assert not (folder / "subscriptions" / SUB / "resourceGroups" / RG / "factories" / ADF).exists()


def test_the_certificate_verifies_only_against_the_sandbox_ca(server: SandboxServer) -> None:
    trusting = server.client(SUB)
    trusting.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    distrusting = server.client(SUB, connection_verify=True, retry_total=0)  # the system's CAs only
    with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
        distrusting.factories.get(RG, ADF)
