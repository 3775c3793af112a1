"""The embedded sandbox, always through the real SDK client over verified HTTPS.

- objects round-trip (factory, linked service, dataset, pipeline, trigger, and the other collections), and lists
  page through `nextLink`;
- the service's rules: references must exist, a referenced object cannot be deleted, a started trigger can be
  neither updated nor deleted, `runtimeState` is read-only, event subscriptions are long-running operations whose
  status is asked with POST and passes through (De)Provisioning;
- the published contract: service-owned properties and masked secrets as the examples answer, read-only request
  properties ignored, If-Match / If-None-Match as the SDK sends them, the path parameters' name rules, the published
  limits, managed private endpoints that cannot change in place, ARM write throttling (when switched on), and
  pipeline runs that go Queued → InProgress → Succeeded (or fail, or are slow, by rule);
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.core.rest import HttpRequest

from portal.sandbox import SANDBOX_TOKEN, FaultRule, Faults, SandboxServer

SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-portal"
ADF = "adf-dev"

LINKED_SERVICE = {"properties": {"type": "AzureBlobStorage", "typeProperties": {"connectionString": "cs"}}}
DATASET = {
    "properties": {"type": "Json", "linkedServiceName": {"referenceName": "LS_Blob", "type": "LinkedServiceReference"}}
}
PIPELINE = {
    "properties": {
        "activities": [
            {
                "name": "Copy",
                "type": "Copy",
                "inputs": [{"referenceName": "DS_In", "type": "DatasetReference"}],
                "outputs": [{"referenceName": "DS_In", "type": "DatasetReference"}],
                "typeProperties": {"source": {"type": "JsonSource"}, "sink": {"type": "JsonSink"}},
            }
        ]
    }
}
SCHEDULE_TRIGGER = {
    "properties": {
        "type": "ScheduleTrigger",
        "pipelines": [{"pipelineReference": {"referenceName": "PL_Copy", "type": "PipelineReference"}}],
        "typeProperties": {"recurrence": {"frequency": "Hour", "interval": 1}},
    }
}
BLOB_TRIGGER = {
    "properties": {
        "type": "BlobEventsTrigger",
        "pipelines": [{"pipelineReference": {"referenceName": "PL_Copy", "type": "PipelineReference"}}],
        "typeProperties": {
            "events": ["Microsoft.Storage.BlobCreated"],
            "scope": "/subscriptions/x/storageAccounts/y",
            "blobPathBeginsWith": "/in/blobs/",
        },
    }
}


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


def raw(client: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """A request through the SDK client's own pipeline (credential, retries) to a path below the factory."""
    url = (
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DataFactory/factories/{ADF}{path}"
        "?api-version=2018-06-01"
    )
    return client.send_request(HttpRequest(method, url, json=body, headers=headers or {}))


# -- objects ---------------------------------------------------------------------------------------------------


def test_objects_round_trip_through_the_sdk(client: Any) -> None:
    factory = client.factories.create_or_update(RG, ADF, {"location": "westeurope", "tags": {"env": "dev"}})
    assert dict(factory)["properties"]["provisioningState"] == "Succeeded"
    build_factory(client, trigger=SCHEDULE_TRIGGER)

    pipeline = client.pipelines.get(RG, ADF, "pl_copy")  # names are looked up without regard to case
    assert pipeline["name"] == "PL_Copy"
    assert pipeline["type"] == "Microsoft.DataFactory/factories/pipelines"
    assert pipeline["id"] == (
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DataFactory/factories/{ADF}/pipelines/PL_Copy"
    )
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
        client.pipelines.create_or_update(
            RG, ADF, "PL_Copy", PIPELINE, etag=old, match_condition=MatchConditions.IfNotModified
        )
    # An unchanged object answers 304, which the SDK turns into None.
    assert client.pipelines.get(RG, ADF, "PL_Copy", etag=new, match_condition=MatchConditions.IfModified) is None


def test_other_collections_and_nested_references(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    client.managed_virtual_networks.create_or_update(RG, ADF, "default", {"properties": {}})
    client.managed_private_endpoints.create_or_update(
        RG, ADF, "default", "mpe-blob", {"properties": {"privateLinkResourceId": "/x", "groupId": "blob"}}
    )
    client.integration_runtimes.create_or_update(
        RG,
        ADF,
        "ir-managed",
        {
            "properties": {
                "type": "Managed",
                "typeProperties": {},  # required by the contract (ManagedIntegrationRuntime)
                "managedVirtualNetwork": {"referenceName": "default", "type": "ManagedVirtualNetworkReference"},
            }
        },
    )
    client.credential_operations.create_or_update(
        RG,
        ADF,
        "cred-uami",
        {"properties": {"type": "ManagedIdentity", "typeProperties": {"resourceId": "/identities/x"}}},
    )
    client.linked_services.create_or_update(
        RG,
        ADF,
        "LS_KeyVault",
        {"properties": {"type": "AzureKeyVault", "typeProperties": {"baseUrl": "https://kv.vault.azure.net/"}}},
    )
    client.linked_services.create_or_update(
        RG,
        ADF,
        "LS_Sql",
        {
            "properties": {
                "type": "AzureSqlDatabase",
                "connectVia": {"referenceName": "ir-managed", "type": "IntegrationRuntimeReference"},
                "typeProperties": {
                    "password": {
                        "type": "AzureKeyVaultSecret",
                        "secretName": "pw",
                        "store": {"referenceName": "LS_KeyVault", "type": "LinkedServiceReference"},
                    },
                    "credential": {"referenceName": "cred-uami", "type": "CredentialReference"},
                },
            }
        },
    )
    client.global_parameters.create_or_update(
        RG, ADF, "default", {"properties": {"env": {"type": "String", "value": "dev"}}}
    )

    assert dict(client.global_parameters.get(RG, ADF, "default"))["properties"]["env"]["value"] == "dev"
    endpoints = list(client.managed_private_endpoints.list_by_factory(RG, ADF, "default"))
    assert [e.name for e in endpoints] == ["mpe-blob"]
    assert endpoints[0]["type"] == "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints"
    # The Key Vault store, connectVia and the credential are all references that hold their targets.
    for delete in (
        lambda: client.linked_services.delete(RG, ADF, "LS_KeyVault"),
        lambda: client.integration_runtimes.delete(RG, ADF, "ir-managed"),
        lambda: client.credential_operations.delete(RG, ADF, "cred-uami"),
    ):
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
    client.pipelines.create_or_update(
        RG,
        ADF,
        "PL_Dynamic",
        {
            "properties": {
                "activities": [
                    {
                        "name": "Lookup",
                        "type": "Lookup",
                        "typeProperties": {
                            "dataset": {"referenceName": "@pipeline().parameters.ds", "type": "DatasetReference"}
                        },
                        "linkedServiceName": {
                            "referenceName": "@{pipeline().parameters.ls}",
                            "type": "LinkedServiceReference",
                        },
                    }
                ]
            }
        },
    )
    client.linked_services.create_or_update(
        RG,
        ADF,
        "LS_Auto",
        {
            "properties": {
                "type": "AzureBlobStorage",
                "typeProperties": {},
                "connectVia": {"referenceName": "AutoResolveIntegrationRuntime", "type": "IntegrationRuntimeReference"},
            }
        },
    )


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
    for write in (
        lambda: client.triggers.create_or_update(RG, ADF, "TR", SCHEDULE_TRIGGER),
        lambda: client.triggers.delete(RG, ADF, "TR"),
    ):
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


def test_event_subscription_is_a_long_running_operation_polled_with_post(server: SandboxServer, client: Any) -> None:
    """Triggers_SubscribeToEvents.json: 202 + Location to getEventSubscriptionStatus, which answers POST only."""
    build_factory(client, trigger=BLOB_TRIGGER)
    assert client.triggers.get_event_subscription_status(RG, ADF, "TR")["status"] == "Disabled"

    answer = raw(client, "POST", "/triggers/TR/subscribeToEvents")
    assert answer.status_code == 202
    assert answer.text() == ""
    assert answer.headers["Location"] == (
        f"{server.base_url}/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
        f"Microsoft.DataFactory/factories/{ADF}/triggers/TR/"
        "getEventSubscriptionStatus?api-version=2018-06-01"
    )
    # While the subscription provisions, the trigger cannot be changed (the service's words and code).
    for change in (
        lambda: client.triggers.create_or_update(RG, ADF, "TR", BLOB_TRIGGER),
        lambda: client.triggers.begin_start(RG, ADF, "TR").result(),
        lambda: client.triggers.delete(RG, ADF, "TR"),
    ):
        with pytest.raises(HttpResponseError) as refused:
            change()
        assert (error_code(refused.value), error_message(refused.value)) == (
            "BadRequest",
            "Resource cannot be updated during provisioning",
        )
    seen = [client.triggers.get_event_subscription_status(RG, ADF, "TR")["status"] for _ in range(3)]
    assert seen == ["Provisioning", "Enabled", "Enabled"]
    # A GET of the status fails: the contract defines it for POST only.
    assert raw(client, "GET", "/triggers/TR/getEventSubscriptionStatus").status_code == 405
    # Already subscribed: the operation is complete at once (200 with the status).
    assert dict(client.triggers.begin_subscribe_to_events(RG, ADF, "TR").result()) == {
        "triggerName": "TR",
        "status": "Enabled",
    }

    # The SDK's own poller GETs the Location, so it fails; the change was accepted all the same.
    with pytest.raises(HttpResponseError) as polled:
        client.triggers.begin_unsubscribe_from_events(RG, ADF, "TR").result()
    assert (polled.value.status_code, error_code(polled.value)) == (405, "MethodNotAllowed")
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
    url = (
        f"{server.base_url}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DataFactory/factories"
        "?api-version=2018-06-01"
    )
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
    assert (
        folder / "subscriptions" / SUB / "resourceGroups" / RG / "factories" / ADF / "pipelines" / "PL_Copy.json"
    ).is_file()
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


# -- the published contract: what the service owns, how it answers ------------------------------------------------

SECRET_LINKED_SERVICE = {
    "properties": {
        "type": "AzureStorage",
        "typeProperties": {
            "connectionString": {"type": "SecureString", "value": "DefaultEndpointsProtocol=https;AccountKey=k"}
        },
    }
}


def test_service_owned_properties_are_answered_as_the_examples_show(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    # Managed IR: `state` is the service's ("Initial", IntegrationRuntimes_Create.json); the client's is ignored.
    runtime = dict(
        client.integration_runtimes.create_or_update(
            RG,
            ADF,
            "ir-managed",
            {
                "properties": {
                    "type": "Managed",
                    "state": "Started",
                    "description": "kept",
                    "typeProperties": {
                        "ssisProperties": {
                            "catalogInfo": {"catalogAdminPassword": {"type": "SecureString", "value": "Passw0rd1"}}
                        }
                    },
                }
            },
        )
    )
    assert runtime["properties"]["state"] == "Initial"
    assert runtime["properties"]["description"] == "kept"
    assert runtime["properties"]["typeProperties"]["ssisProperties"]["catalogInfo"]["catalogAdminPassword"] == {
        "type": "SecureString",
        "value": "**********",
    }
    assert runtime["type"] == "Microsoft.DataFactory/factories/integrationruntimes"
    assert (
        "state"
        not in dict(
            client.integration_runtimes.create_or_update(RG, ADF, "ir-self", {"properties": {"type": "SelfHosted"}})
        )["properties"]
    )

    # Managed virtual network: vNetId and alias (ManagedVirtualNetworks_Create.json); the client's are ignored.
    network = dict(
        client.managed_virtual_networks.create_or_update(
            RG, ADF, "default", {"properties": {"vNetId": "mine", "somethingElse": 1}}
        )
    )
    assert set(network["properties"]) == {"vNetId", "alias"}
    assert network["properties"]["vNetId"] != "mine"
    assert network["properties"]["alias"] == ADF
    again = client.managed_virtual_networks.create_or_update(RG, ADF, "default", {"properties": {}})
    assert dict(again)["properties"]["vNetId"] == network["properties"]["vNetId"]  # stable across updates

    # Managed private endpoint: description dropped, provisioningState/connectionState/fqdns as the example.
    endpoint = dict(
        client.managed_private_endpoints.create_or_update(
            RG,
            ADF,
            "default",
            "mpe",
            {
                "properties": {
                    "description": "A managed private endpoint",
                    "privateLinkResourceId": "/x/storageAccounts/y",
                    "groupId": "blob",
                    "fqdns": [],
                    "provisioningState": "Failed",
                    "connectionState": {"status": "Approved", "description": "mine", "actionsRequired": "x"},
                }
            },
        )
    )
    assert endpoint["properties"] == {
        "privateLinkResourceId": "/x/storageAccounts/y",
        "groupId": "blob",
        "fqdns": [],
        "provisioningState": "Succeeded",
        "connectionState": {"status": "Pending", "description": "", "actionsRequired": "None"},
    }

    # Secrets are masked in PUT, GET and list answers; the linked service gets an encryptedCredential.
    created = dict(client.linked_services.create_or_update(RG, ADF, "LS_Secret", SECRET_LINKED_SERVICE))
    type_properties = created["properties"]["typeProperties"]
    assert type_properties["connectionString"] == {"type": "SecureString", "value": "**********"}
    assert isinstance(type_properties["encryptedCredential"], str) and type_properties["encryptedCredential"]
    assert (
        dict(client.linked_services.get(RG, ADF, "LS_Secret"))["properties"]["typeProperties"]["connectionString"][
            "value"
        ]
        == "**********"
    )
    listed = raw(client, "GET", "/linkedservices").json()["value"][0]
    assert listed["properties"]["typeProperties"]["connectionString"]["value"] == "**********"

    # Enum values in the contract's spelling (GlobalParameters_Create.json: "int" → "Int").
    parameters = client.global_parameters.create_or_update(
        RG, ADF, "default", {"properties": {"waitTime": {"type": "int", "value": 5}}}
    )
    assert dict(parameters)["properties"]["waitTime"] == {"type": "Int", "value": 5}


def test_read_only_properties_of_a_request_are_never_stored(client: Any) -> None:
    factory = dict(
        client.factories.create_or_update(
            RG,
            ADF,
            {
                "location": "westeurope",
                "properties": {"provisioningState": "Failed", "version": "1999-01-01"},
                "identity": {"type": "SystemAssigned", "principalId": "00000000-0000-0000-0000-00000000beef"},
            },
        )
    )
    assert factory["properties"]["provisioningState"] == "Succeeded"
    assert factory["properties"]["version"] == "2018-06-01"
    assert factory["identity"]["principalId"] != "00000000-0000-0000-0000-00000000beef"
    assert factory["eTag"].startswith('"') and factory["eTag"].endswith('"')  # Factories_CreateOrUpdate.json
    client.pipelines.create_or_update(
        RG, ADF, "PL", {"id": "/elsewhere", "name": "other", "etag": "mine", "properties": {"activities": []}}
    )
    pipeline = client.pipelines.get(RG, ADF, "PL")
    assert (pipeline["name"], pipeline["etag"] != "mine") == ("PL", True)
    assert pipeline["id"].endswith(f"/factories/{ADF}/pipelines/PL")


def test_if_none_match_is_ignored_on_put(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    etag = client.pipelines.create_or_update(RG, ADF, "PL", {"properties": {"activities": []}})["etag"]
    # The SDK sends If-None-Match: * for IfMissing and If-None-Match: "<etag>" for IfModified; a PUT ignores both.
    client.pipelines.create_or_update(
        RG, ADF, "PL", {"properties": {"activities": []}}, match_condition=MatchConditions.IfMissing
    )
    client.pipelines.create_or_update(
        RG, ADF, "PL", {"properties": {"activities": []}}, etag=etag, match_condition=MatchConditions.IfModified
    )


def test_if_match_compares_the_etag_the_sdk_sends(client: Any) -> None:
    factory = client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    # A factory's eTag is quoted already; the SDK sends it as is.
    factory = client.factories.create_or_update(
        RG, ADF, {"location": "westeurope"}, etag=factory["eTag"], match_condition=MatchConditions.IfNotModified
    )
    with pytest.raises(ResourceModifiedError) as stale_factory:
        client.factories.create_or_update(
            RG, ADF, {"location": "westeurope"}, etag='"stale"', match_condition=MatchConditions.IfNotModified
        )
    assert error_code(stale_factory.value) == "PreconditionFailed"

    body = {"properties": {"activities": []}}
    etag = client.pipelines.create_or_update(RG, ADF, "PL", body)["etag"]
    etag = client.pipelines.create_or_update(
        RG, ADF, "PL", body, etag=etag, match_condition=MatchConditions.IfNotModified
    )["etag"]  # sent quoted
    assert raw(client, "PUT", "/pipelines/PL", body, {"If-Match": "*"}).status_code == 200
    etag = client.pipelines.get(RG, ADF, "PL")["etag"]
    assert raw(client, "PUT", "/pipelines/PL", body, {"If-Match": etag}).status_code == 200  # bare
    etag = client.pipelines.get(RG, ADF, "PL")["etag"]
    weak = raw(client, "PUT", "/pipelines/PL", body, {"If-Match": f'W/"{etag}"'})
    assert (weak.status_code, weak.json()["error"]["code"]) == (412, "PreconditionFailed")
    with pytest.raises(ResourceModifiedError):
        client.pipelines.create_or_update(
            RG, ADF, "PL", body, etag="stale", match_condition=MatchConditions.IfNotModified
        )
    # If-Match on an object that does not exist: 412 (the SDK maps it to "not found" for IfPresent).
    with pytest.raises(ResourceNotFoundError):
        client.pipelines.create_or_update(RG, ADF, "PL_New", body, match_condition=MatchConditions.IfPresent)
    assert raw(client, "GET", "/pipelines/PL_New").status_code == 404


def test_names_are_case_insensitive_and_keep_their_first_spelling(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    client.pipelines.create_or_update(RG, ADF, "MyPipe", {"properties": {"activities": [], "description": "one"}})
    updated = client.pipelines.create_or_update(
        RG, ADF, "mypipe", {"properties": {"activities": [], "description": "two"}}
    )
    assert (updated["name"], dict(updated)["properties"]["description"]) == ("MyPipe", "two")
    assert [p.name for p in client.pipelines.list_by_factory(RG, ADF)] == ["MyPipe"]


@pytest.mark.parametrize(
    ("operation", "name"),
    [
        ("factory", "adf_underscore"),
        ("factory", "ab"),
        ("integration_runtimes", "ir_underscore"),
        ("integration_runtimes", "ir"),
        ("integration_runtimes", "-ir"),
        ("pipelines", "PL.dot"),
        ("pipelines", "P" * 261),
        ("datasets", "-starts-with-dash"),
        ("credential_operations", "C" * 128),
        ("managed_virtual_networks", "net-"),
    ],
)
def test_names_that_break_the_contract_are_refused(client: Any, operation: str, name: str) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    bodies = {
        "integration_runtimes": {"properties": {"type": "SelfHosted"}},
        "pipelines": {"properties": {"activities": []}},
        "datasets": {
            "properties": {
                "type": "Json",
                "linkedServiceName": {"referenceName": "x", "type": "LinkedServiceReference"},
            }
        },
        "credential_operations": {"properties": {"type": "ManagedIdentity"}},
        "managed_virtual_networks": {"properties": {}},
    }
    with pytest.raises(HttpResponseError) as refused:
        if operation == "factory":
            client.factories.create_or_update(RG, name, {"location": "westeurope"})
        else:
            getattr(client, operation).create_or_update(RG, ADF, name, bodies[operation])
    assert (refused.value.status_code, error_code(refused.value)) == (400, "InvalidResourceName")


def test_names_at_the_contract_limits_are_accepted(client: Any) -> None:
    client.factories.create_or_update(RG, "a" * 63, {"location": "westeurope"})
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    client.integration_runtimes.create_or_update(RG, ADF, "ir-1", {"properties": {"type": "SelfHosted"}})
    client.pipelines.create_or_update(RG, ADF, "P" * 260, {"properties": {"activities": []}})
    client.managed_virtual_networks.create_or_update(RG, ADF, "_", {"properties": {}})


def test_a_body_without_properties_is_an_invalid_payload(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    answer = raw(client, "PUT", "/managedVirtualNetworks/default", {})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidResourceRequest"
    assert "'Error: Invalid payload'" in answer.json()["error"]["message"]


def test_factory_location_is_create_only(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    client.factories.create_or_update(RG, ADF, {"location": "West Europe"})  # the same location, spelled otherwise
    with pytest.raises(HttpResponseError) as refused:
        client.factories.create_or_update(RG, ADF, {"location": "northeurope"})
    assert (refused.value.status_code, error_code(refused.value)) == (409, "InvalidResourceLocation")


def test_trigger_start_and_stop_follow_the_runtime_state(client: Any) -> None:
    build_factory(client, trigger=SCHEDULE_TRIGGER)
    with pytest.raises(HttpResponseError, match="already stopped"):
        client.triggers.begin_stop(RG, ADF, "TR").result()
    client.triggers.begin_start(RG, ADF, "TR").result()
    with pytest.raises(HttpResponseError, match="already started") as refused:
        client.triggers.begin_start(RG, ADF, "TR").result()
    assert error_code(refused.value) == "BadRequest"
    client.triggers.begin_stop(RG, ADF, "TR").result()


def test_an_event_trigger_subscribes_when_started_and_unsubscribes_when_stopped(client: Any) -> None:
    build_factory(client, trigger=BLOB_TRIGGER)
    client.triggers.begin_start(RG, ADF, "TR").result()
    status = [client.triggers.get_event_subscription_status(RG, ADF, "TR")["status"] for _ in range(2)]
    assert status == ["Provisioning", "Enabled"]
    client.triggers.begin_stop(RG, ADF, "TR").result()
    with pytest.raises(HttpResponseError, match="during provisioning"):
        client.triggers.begin_start(RG, ADF, "TR").result()  # still deprovisioning: no status call saw it end
    status = [client.triggers.get_event_subscription_status(RG, ADF, "TR")["status"] for _ in range(2)]
    assert status == ["Deprovisioning", "Disabled"]
    client.triggers.create_or_update(RG, ADF, "TR", BLOB_TRIGGER)


def _activities(count: int) -> list[dict[str, Any]]:
    return [{"name": f"Wait{i}", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}} for i in range(count)]


def test_pipeline_limits_count_inner_activities_and_parameters(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    loop = {
        "name": "Loop",
        "type": "ForEach",
        "typeProperties": {
            "items": {"value": "@pipeline().parameters.items", "type": "Expression"},
            "activities": _activities(60),
        },
    }
    branch = {
        "name": "Branch",
        "type": "IfCondition",
        "typeProperties": {
            "expression": {"value": "@true", "type": "Expression"},
            "ifTrueActivities": _activities(29),
            "ifFalseActivities": _activities(29),
        },
    }
    client.pipelines.create_or_update(RG, ADF, "PL_120", {"properties": {"activities": [loop, branch]}})  # 2+118
    branch["typeProperties"]["ifFalseActivities"] = _activities(30)
    with pytest.raises(HttpResponseError, match="121 activities") as too_many:
        client.pipelines.create_or_update(RG, ADF, "PL_121", {"properties": {"activities": [loop, branch]}})
    assert error_code(too_many.value) == "BadRequest"

    parameters = {f"p{i}": {"type": "String"} for i in range(51)}
    with pytest.raises(HttpResponseError, match="51 parameters"):
        client.pipelines.create_or_update(
            RG, ADF, "PL_Params", {"properties": {"activities": [], "parameters": parameters}}
        )
    parameters.pop("p50")
    client.pipelines.create_or_update(
        RG, ADF, "PL_Params", {"properties": {"activities": [], "parameters": parameters}}
    )


def test_expression_and_object_size_limits(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    expression = "@concat('" + "x" * 8182 + "')"
    assert len(expression) == 8193
    wait = {
        "name": "Set",
        "type": "SetVariable",
        "typeProperties": {"variableName": "v", "value": {"value": expression, "type": "Expression"}},
    }
    with pytest.raises(HttpResponseError, match="8192 characters"):
        client.pipelines.create_or_update(
            RG, ADF, "PL_Expr", {"properties": {"activities": [wait], "variables": {"v": {"type": "String"}}}}
        )
    wait["typeProperties"]["value"]["value"] = expression[:-3] + "')"
    client.pipelines.create_or_update(
        RG, ADF, "PL_Expr", {"properties": {"activities": [wait], "variables": {"v": {"type": "String"}}}}
    )
    assert len(wait["typeProperties"]["value"]["value"]) == 8192

    big = {
        "properties": {
            "type": "AzureBlobStorage",
            "description": "d" * 100_000,
            "typeProperties": {"connectionString": "cs"},
        }
    }
    with pytest.raises(HttpResponseError, match="100 KB") as too_big:
        client.linked_services.create_or_update(RG, ADF, "LS_Big", big)
    assert error_code(too_big.value) == "BadRequest"


def test_entities_per_factory_are_limited(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.sandbox import limits

    monkeypatch.setattr(limits, "ENTITIES_PER_FACTORY", 3)  # 5,000 in the docs; three keep the test short
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    client.managed_virtual_networks.create_or_update(RG, ADF, "default", {"properties": {}})
    client.managed_private_endpoints.create_or_update(
        RG, ADF, "default", "mpe", {"properties": {"privateLinkResourceId": "/x", "groupId": "blob"}}
    )  # private endpoints count too
    client.pipelines.create_or_update(RG, ADF, "PL_1", {"properties": {"activities": []}})
    with pytest.raises(HttpResponseError, match="more than 3 entities"):
        client.pipelines.create_or_update(RG, ADF, "PL_2", {"properties": {"activities": []}})
    client.pipelines.create_or_update(RG, ADF, "PL_1", {"properties": {"activities": [], "description": "x"}})
    client.pipelines.delete(RG, ADF, "PL_1")
    client.pipelines.create_or_update(RG, ADF, "PL_2", {"properties": {"activities": []}})


def test_a_managed_private_endpoint_cannot_change_in_place(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    client.managed_virtual_networks.create_or_update(RG, ADF, "default", {"properties": {}})
    body = {"properties": {"privateLinkResourceId": "/x/storageAccounts/y", "groupId": "blob"}}
    client.managed_private_endpoints.create_or_update(RG, ADF, "default", "mpe", body)
    same = {"properties": {**body["properties"], "fqdns": [], "description": "dropped anyway"}}
    client.managed_private_endpoints.create_or_update(RG, ADF, "default", "mpe", same)  # unchanged: accepted
    with pytest.raises(HttpResponseError) as refused:
        client.managed_private_endpoints.create_or_update(
            RG,
            ADF,
            "default",
            "mpe",
            {"properties": {"privateLinkResourceId": "/x/storageAccounts/y", "groupId": "dfs"}},
        )
    assert error_code(refused.value) == "InvalidResourceRequest"
    with pytest.raises(HttpResponseError, match="already exist") as duplicate:
        client.managed_private_endpoints.create_or_update(RG, ADF, "default", "mpe-2", body)
    assert error_code(duplicate.value) == "InvalidResourceRequest"
    client.managed_private_endpoints.delete(RG, ADF, "default", "mpe")
    client.managed_private_endpoints.create_or_update(
        RG, ADF, "default", "mpe", {"properties": {"privateLinkResourceId": "/x/storageAccounts/y", "groupId": "dfs"}}
    )


def test_a_managed_virtual_network_has_no_delete(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    client.managed_virtual_networks.create_or_update(RG, ADF, "default", {"properties": {}})
    answer = raw(client, "DELETE", "/managedVirtualNetworks/default")
    assert (answer.status_code, answer.json()["error"]["code"]) == (405, "MethodNotAllowed")
    assert client.managed_virtual_networks.get(RG, ADF, "default")["name"] == "default"


def test_arm_write_limit_answers_429_with_retry_after(server: SandboxServer) -> None:
    from portal.sandbox.service_options import WriteRateLimit

    client = server.client(SUB, retry_total=0)
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})  # the limit is off by default
    server.state.options.write_limit = WriteRateLimit(writes=2, window_seconds=3600)
    first = raw(client, "PUT", "/pipelines/PL_1", {"properties": {"activities": []}})
    assert first.headers["x-ms-ratelimit-remaining-subscription-writes"] == "1"
    client.pipelines.create_or_update(RG, ADF, "PL_2", {"properties": {"activities": []}})
    throttled = raw(client, "PUT", "/pipelines/PL_3", {"properties": {"activities": []}})
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert 3500 <= int(throttled.headers["Retry-After"]) <= 3600
    assert client.pipelines.get(RG, ADF, "PL_2")["name"] == "PL_2"  # reads are not limited
    client.pipelines.delete(RG, ADF, "PL_2")  # nor deletes
    with pytest.raises(HttpResponseError) as refused:
        client.pipelines.create_run(RG, ADF, "PL_1", {})  # a POST is a write
    assert refused.value.status_code == 429
    server.state.options.write_limit = None
    client.pipelines.create_or_update(RG, ADF, "PL_3", {"properties": {"activities": []}})


# -- pipeline runs ----------------------------------------------------------------------------------------------


def test_a_pipeline_run_moves_from_queued_to_succeeded(client: Any) -> None:
    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    client.pipelines.create_or_update(
        RG,
        ADF,
        "PL",
        {
            "properties": {
                "activities": [],
                "parameters": {
                    "OutputBlobNameList": {"type": "Array"},
                    "mode": {"type": "String", "defaultValue": "full"},
                },
            }
        },
    )
    run_id = client.pipelines.create_run(RG, ADF, "PL", {"OutputBlobNameList": ["exampleoutput.csv"]})["runId"]
    seen = [dict(client.pipeline_runs.get(RG, ADF, run_id)) for _ in range(4)]
    assert [r["status"] for r in seen] == ["Queued", "InProgress", "Succeeded", "Succeeded"]
    done = seen[-1]
    # PipelineRuns_Get.json: parameter values are strings, invokedBy is "Manual".
    assert done["parameters"] == {"OutputBlobNameList": '["exampleoutput.csv"]'}
    assert (done["runId"], done["pipelineName"], done["invokedBy"]["name"], done["message"]) == (
        run_id,
        "PL",
        "Manual",
        "",
    )
    assert {"runStart", "runEnd", "durationInMs", "lastUpdated", "annotations"} <= set(done)
    assert "runEnd" not in seen[0]

    with pytest.raises(HttpResponseError, match="OutputBlobNameList") as missing:
        client.pipelines.create_run(RG, ADF, "PL", {})
    assert error_code(missing.value) == "BadRequest"
    with pytest.raises(ResourceNotFoundError):
        client.pipelines.create_run(RG, ADF, "PL_Missing", {})
    with pytest.raises(ResourceNotFoundError):
        client.pipeline_runs.get(RG, ADF, "00000000-0000-0000-0000-000000000000")


def test_run_rules_make_runs_fail_or_slow(server: SandboxServer, client: Any) -> None:
    from portal.sandbox.service_options import RunRule

    client.factories.create_or_update(RG, ADF, {"location": "westeurope"})
    for name in ("PL_Bad", "PL_Slow"):
        client.pipelines.create_or_update(RG, ADF, name, {"properties": {"activities": []}})
    server.state.options.runs = [
        RunRule(pipeline="pl_bad", status="Failed", message="boom"),
        RunRule(pipeline="PL_Slow", status="Succeeded", in_progress_reads=3, times=1),
    ]
    bad = client.pipelines.create_run(RG, ADF, "PL_Bad", {})["runId"]
    statuses = [client.pipeline_runs.get(RG, ADF, bad)["status"] for _ in range(3)]
    assert statuses == ["Queued", "InProgress", "Failed"]
    assert client.pipeline_runs.get(RG, ADF, bad)["message"] == "boom"
    slow = client.pipelines.create_run(RG, ADF, "PL_Slow", {})["runId"]
    statuses = [client.pipeline_runs.get(RG, ADF, slow)["status"] for _ in range(5)]
    assert statuses == ["Queued", "InProgress", "InProgress", "InProgress", "Succeeded"]
    # The slow rule is spent; a run can be cancelled while it has not ended.
    quick = client.pipelines.create_run(RG, ADF, "PL_Slow", {})["runId"]
    client.pipeline_runs.cancel(RG, ADF, quick)
    assert client.pipeline_runs.get(RG, ADF, quick)["status"] == "Cancelled"


# -- the contract's own examples, replayed -------------------------------------------------------------------------

# Example → (SDK operations, body parameter, values the service generates: compared for presence only).
_REPLAYED = {
    "ManagedVirtualNetworks_Create": ("managed_virtual_networks", "managedVirtualNetwork", {"vNetId"}),
    "ManagedPrivateEndpoints_Create": ("managed_private_endpoints", "managedPrivateEndpoint", set()),
    "IntegrationRuntimes_Create": ("integration_runtimes", "integrationRuntime", set()),
    "LinkedServices_Create": ("linked_services", "linkedService", {"encryptedCredential"}),
    "GlobalParameters_Create": ("global_parameters", "globalParameter", set()),
    "Triggers_Create": ("triggers", "trigger", set()),
}


def _same_shape(ours: Any, theirs: Any, generated: set[str], where: str = "properties") -> None:
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), (where, ours, theirs)
        for key, value in theirs.items():
            if key not in generated:
                _same_shape(ours[key], value, generated, f"{where}.{key}")
    else:
        assert ours == theirs, (where, ours, theirs)


@pytest.mark.parametrize("name", sorted(_REPLAYED))
def test_the_contracts_examples_are_answered_as_they_show(client: Any, name: str) -> None:
    contract = pytest.importorskip("portal.sandbox.contract")
    try:
        case = contract.example(name)
    except KeyError:
        pytest.skip(f"{name} is not vendored")
    operations, body_name, generated = _REPLAYED[name]
    parameters = case.parameters
    body = next(value for key, value in parameters.items() if key.lower() == body_name.lower())
    factory = parameters["factoryName"]
    client.factories.create_or_update(RG, factory, {"location": "westeurope"})
    client.managed_virtual_networks.create_or_update(
        RG, factory, parameters.get("managedVirtualNetworkName", "default"), {"properties": {}}
    )
    if name == "Triggers_Create":
        client.pipelines.create_or_update(
            RG,
            factory,
            "myPipeline",
            {"properties": {"activities": [], "parameters": {"OutputBlobNameList": {"type": "Array"}}}},
        )
    names = [
        parameters[key]
        for key in parameters
        if key.endswith("Name") and key not in ("subscriptionId", "resourceGroupName", "factoryName")
    ]
    answer = getattr(client, operations).create_or_update(RG, factory, *names, body).as_dict()
    _same_shape(answer["properties"], case.responses[200]["body"]["properties"], generated)
