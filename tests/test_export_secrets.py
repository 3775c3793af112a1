"""Linked-service secrets and ADF Studio's linked-service form, exported from small factories built here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portal.adf import sdk_models
from portal.adf.linked_services import studio_linked_service
from portal.adf.parameterization import ParameterSink
from portal.adf.secrets import linked_service_secure_strings, secret_properties
from portal.cli import main

LS_TYPE = "Microsoft.DataFactory/factories/linkedServices"
ENC = "ZW5jcnlwdGVk"
MASK = "**********"


def write(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent="\t"), encoding="utf-8")


def export(
    tmp_path: Path, linked_services: dict[str, dict[str, Any]], *, extra: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], str]:
    """Export a factory holding these linked services; (template, linked-service properties by name, raw text)."""
    root = tmp_path / "adf"
    write(root / "factory" / "adf-dev.json", {"name": "adf-dev", "location": "westeurope"})
    for name, props in linked_services.items():
        write(root / "linkedService" / f"{name}.json", {"name": name, "properties": props})
    for rel, document in (extra or {}).items():
        write(root / rel, document)
    out = tmp_path / "out"
    assert main(["export-arm", str(root), "--out", str(out)]) == 0
    text = (out / "ARMTemplateForFactory.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    props = {r["name"].split("/")[-1][:-3]: r["properties"] for r in doc["resources"] if r["type"] == LS_TYPE}
    return doc, props, text


def ls(ls_type: str, type_props: dict[str, Any]) -> dict[str, Any]:
    return {"annotations": [], "type": ls_type, "typeProperties": type_props}


def secure(name: str) -> dict[str, str]:
    return {"type": "SecureString", "value": f"[parameters('{name}')]"}


# --- the SDK-derived table ---------------------------------------------------------------------------------------


def test_shipped_table_is_what_the_installed_sdk_declares() -> None:
    # The table is generated from azure-mgmt-datafactory (python -m portal.adf.sdk_models); it must not drift.
    shipped = json.loads(sdk_models.TABLE_PATH.read_text(encoding="utf-8"))
    assert shipped == sdk_models.derive_linked_service_models()


@pytest.mark.parametrize(
    ("ls_type", "secrets"),
    [
        ("AzureBatch", {"accessKey"}),
        ("Salesforce", {"password", "securityToken"}),
        ("HDInsightOnDemand", {"servicePrincipalKey", "clusterPassword", "clusterSshPassword"}),
        ("Informix", {"credential", "password"}),
        ("SapTable", {"password"}),
    ],
)
def test_sdk_table_declares_each_types_secrets(ls_type: str, secrets: set[str]) -> None:
    model = sdk_models.linked_service_model(ls_type)
    assert model is not None and model.secrets == secrets
    assert "encryptedCredential" in model.properties


def test_sdk_table_keeps_the_models_attribute_order() -> None:
    model = sdk_models.linked_service_model("AzureDatabricksDeltaLake")
    assert model is not None
    assert model.properties[:3] == ("domain", "accessToken", "clusterId")
    assert model.owner("accessToken") == "domain"


# --- which secrets an encrypted credential stands for ------------------------------------------------------------


@pytest.mark.parametrize(
    ("ls_type", "type_props", "expected"),
    [
        ("AzureBatch", {"accountName": "a", "batchUri": "https://b", "poolName": "p"}, ["accessKey"]),
        (
            "Salesforce",
            {"environmentUrl": "https://login", "username": "u", "apiVersion": "54.0"},
            ["password", "securityToken"],
        ),
        ("SapTable", {"clientId": "100", "userName": "u", "server": "s"}, ["password"]),
        (
            "HDInsightOnDemand",
            {"clusterSize": 4, "servicePrincipalId": "sp", "clusterUserName": "u", "clusterSshUserName": "ssh"},
            ["servicePrincipalKey", "clusterPassword", "clusterSshPassword"],
        ),
        ("HDInsightOnDemand", {"clusterSize": 4, "clusterUserName": "u"}, ["clusterPassword"]),
        (
            "AzureSqlDatabase",
            {
                "server": "s",
                "authenticationType": "ServicePrincipal",
                "servicePrincipalId": "sp",
                "servicePrincipalCredentialType": "ServicePrincipalKey",
            },
            ["servicePrincipalCredential"],
        ),
        (
            "AzureSqlDatabase",
            {"connectionString": "Data Source=s", "servicePrincipalId": "sp"},
            ["servicePrincipalKey"],
        ),
        ("AzureSqlDatabase", {"server": "s", "authenticationType": "SQL", "userName": "u"}, ["password"]),
        ("AzureSqlDatabase", {"server": "s", "authenticationType": "SystemAssignedManagedIdentity"}, []),
        ("AzureBlobFS", {"url": "https://lake"}, ["accountKey"]),
        ("AzureBlobFS", {"url": "https://lake", "tenant": "t", "servicePrincipalId": "sp"}, ["servicePrincipalKey"]),
        ("AzureBlobFS", {"sasUri": "https://lake?sv=1"}, []),
        ("AzureBlobStorage", {"connectionString": "AccountName=a;"}, []),
        (
            "Informix",
            {"connectionString": "x", "authenticationType": "Basic", "userName": "u"},
            ["credential", "password"],
        ),
        ("Sftp", {"host": "h", "authenticationType": "Basic", "userName": "u"}, ["password"]),
        (
            "Sftp",
            {"host": "h", "authenticationType": "SshPublicKey", "userName": "u"},
            ["privateKeyContent", "passPhrase"],
        ),
        (
            "SnowflakeV2",
            {"accountIdentifier": "a", "user": "u", "authenticationType": "KeyPair"},
            ["privateKey", "privateKeyPassphrase"],
        ),
        ("MySql", {"server": "s", "username": "u", "database": "d"}, ["password"]),
        ("EventHubs", {"namespaceName": "n", "accessKeyName": "k"}, ["accessKey"]),
        ("AzureDatabricks", {"domain": "https://adb", "accessToken": {"type": "AzureKeyVaultSecret"}}, []),
    ],
)
def test_secrets_of_an_encrypted_credential(ls_type: str, type_props: dict[str, Any], expected: list[str]) -> None:
    assert secret_properties(ls_type, {**type_props, "encryptedCredential": ENC}) == expected


def _secured(ls_type: str, type_props: dict[str, Any]) -> dict[str, Any]:
    return linked_service_secure_strings("LS", ls_type, type_props, ParameterSink(), LS_TYPE)


@pytest.mark.parametrize(
    ("ls_type", "type_props", "expected"),
    [
        # In the place of encryptedCredential, in the model's order.
        (
            "AzureDatabricksDeltaLake",
            {"domain": "d", "clusterId": "c", "encryptedCredential": ENC},
            ["domain", "clusterId", "accessToken"],
        ),
        (
            "AzureFunction",
            {"functionAppUrl": "f", "authentication": "Anonymous", "encryptedCredential": ENC},
            ["functionAppUrl", "authentication", "functionKey"],
        ),
        (
            "SnowflakeV2",
            {
                "authenticationType": "Basic",
                "accountIdentifier": "a",
                "user": "u",
                "warehouse": "w",
                "encryptedCredential": ENC,
            },
            ["authenticationType", "accountIdentifier", "user", "warehouse", "password"],
        ),
        (
            "Informix",
            {
                "connectionString": {"type": "SecureString", "value": MASK},
                "authenticationType": "Basic",
                "userName": "u",
                "encryptedCredential": ENC,
            },
            ["connectionString", "authenticationType", "userName", "credential", "password"],
        ),
        # The model's slot for connectors ADF Studio rebuilds from the model.
        (
            "AzureDatabricks",
            {"domain": "d", "existingClusterId": "c", "encryptedCredential": ENC},
            ["domain", "accessToken", "existingClusterId"],
        ),
        (
            "MySql",
            {
                "server": "s",
                "username": "u",
                "sslMode": 1,
                "useSystemTrustStore": 0,
                "driverVersion": "v2",
                "encryptedCredential": ENC,
            },
            ["server", "username", "sslMode", "useSystemTrustStore", "password", "driverVersion"],
        ),
        # A service-principal secret right after the service principal.
        (
            "CommonDataServiceForApps",
            {
                "serviceUri": "u",
                "authenticationType": "AADServicePrincipal",
                "servicePrincipalId": "sp",
                "servicePrincipalCredentialType": "ServicePrincipalKey",
                "encryptedCredential": ENC,
            },
            [
                "serviceUri",
                "authenticationType",
                "servicePrincipalId",
                "servicePrincipalCredential",
                "servicePrincipalCredentialType",
            ],
        ),
    ],
)
def test_where_publish_writes_the_secret(ls_type: str, type_props: dict[str, Any], expected: list[str]) -> None:
    out = _secured(ls_type, type_props)
    assert list(out) == expected
    for prop in expected:
        if prop not in type_props:
            assert out[prop] == secure(f"LS_{prop}")


# --- whole exports -------------------------------------------------------------------------------------------------


def test_masked_secret_never_reaches_the_template(tmp_path: Path) -> None:
    doc, props, text = export(
        tmp_path,
        {
            "LS_Inf": ls(
                "Informix",
                {"connectionString": {"type": "SecureString", "value": MASK}, "authenticationType": "Anonymous"},
            ),
            # Nested, where no rule of the default parameterization reaches.
            "LS_Rest": ls(
                "RestService",
                {
                    "url": "https://api",
                    "authenticationType": "Anonymous",
                    "authHeaders": {"x-key": {"type": "SecureString", "value": MASK}},
                },
            ),
        },
    )
    assert "*****" not in text
    # The default rule `|:-connectionString` writes the automatic parameter as a plain reference.
    assert props["LS_Inf"]["typeProperties"]["connectionString"] == "[parameters('LS_Inf_connectionString')]"
    header = props["LS_Rest"]["typeProperties"]["authHeaders"]["x-key"]
    assert header["type"] == "SecureString"
    name = header["value"][len("[parameters('") : -len("')]")]
    assert doc["parameters"][name] == {"type": "secureString", "metadata": "Secure string for 'x-key' of 'LS_Rest'"}


def test_masked_secret_never_reaches_the_template_with_a_custom_definition(tmp_path: Path) -> None:
    # A definition without the connectionString rule: the automatic secure string stays a SecureString.
    definition = {
        "Microsoft.DataFactory/factories/linkedServices": {"*": {"properties": {"typeProperties": {"url": "="}}}}
    }
    doc, props, text = export(
        tmp_path,
        {
            "LS_Inf": ls(
                "Informix",
                {"connectionString": {"type": "SecureString", "value": MASK}, "authenticationType": "Anonymous"},
            )
        },
        extra={"arm-template-parameters-definition.json": definition},
    )
    assert "*****" not in text
    assert props["LS_Inf"]["typeProperties"]["connectionString"] == secure("LS_Inf_connectionString")


def test_secure_strings_come_first_and_sas_uri_is_rule_made(tmp_path: Path) -> None:
    doc, props, _ = export(
        tmp_path,
        {
            "A_Sql": ls(
                "AzureSqlDatabase",
                {
                    "server": "s.database.windows.net",
                    "authenticationType": "SQL",
                    "userName": "u",
                    "encryptedCredential": ENC,
                },
            ),
            "B_Sas": ls("AzureBlobFS", {"sasUri": "https://lake.dfs.core.windows.net/", "encryptedCredential": ENC}),
            "C_Blob": ls(
                "AzureBlobStorage",
                {"connectionString": "DefaultEndpointsProtocol=https;AccountName=a;", "encryptedCredential": ENC},
            ),
        },
    )
    assert list(doc["parameters"]) == [
        "factoryName",
        "A_Sql_password",
        "C_Blob_connectionString",
        "A_Sql_properties_typeProperties_server",
        "A_Sql_properties_typeProperties_userName",
        "B_Sas_sasUri",
    ]
    assert props["B_Sas"]["typeProperties"] == {"sasUri": "[parameters('B_Sas_sasUri')]"}
    assert props["C_Blob"]["typeProperties"] == {"connectionString": "[parameters('C_Blob_connectionString')]"}
    assert "defaultValue" not in doc["parameters"]["C_Blob_connectionString"]


def test_plain_connection_string_without_other_secret_is_kept_as_default(tmp_path: Path) -> None:
    text = "Integrated Security=False;Encrypt=True;Connection Timeout=30;Data Source=s;Initial Catalog=db"
    kv = {
        "type": "AzureKeyVaultSecret",
        "store": {"referenceName": "KV", "type": "LinkedServiceReference"},
        "secretName": "pw",
    }
    doc, props, _ = export(
        tmp_path,
        {
            "KV": ls("AzureKeyVault", {"baseUrl": "https://kv.vault.azure.net/"}),
            "LS_Alone": ls("AzureSqlDatabase", {"connectionString": text}),
            "LS_WithKv": ls("AzureSqlDatabase", {"connectionString": text, "password": kv}),
        },
    )
    assert doc["parameters"]["LS_Alone_connectionString"]["defaultValue"] == text
    assert "defaultValue" not in doc["parameters"]["LS_WithKv_connectionString"]
    assert props["LS_Alone"]["typeProperties"] == {"connectionString": "[parameters('LS_Alone_connectionString')]"}


def test_hdinsight_on_demand_form(tmp_path: Path) -> None:
    doc, props, _ = export(
        tmp_path,
        {
            "HDI": ls(
                "HDInsightOnDemand",
                {
                    "clusterType": "spark",
                    "clusterSize": 4,
                    "servicePrincipalId": "sp",
                    "clusterUserName": "u",
                    "clusterSshUserName": "ssh",
                    "additionalLinkedServiceNames": [],
                    "encryptedCredential": ENC,
                },
            ),
        },
    )
    tp = props["HDI"]["typeProperties"]
    assert "additionalLinkedServiceNames" not in tp
    for prop in ("servicePrincipalKey", "clusterPassword", "clusterSshPassword"):
        assert tp[prop] == secure(f"HDI_{prop}")
        assert doc["parameters"][f"HDI_{prop}"]["type"] == "secureString"


def test_form_defaults_only_for_linked_services_with_an_encrypted_credential() -> None:
    cluster = {
        "domain": "https://adb",
        "newClusterNodeType": "n",
        "newClusterNumOfWorker": "1",
        "newClusterVersion": "15.4.x",
    }
    with_enc = studio_linked_service("AzureDatabricks", ls("AzureDatabricks", {**cluster, "encryptedCredential": ENC}))
    assert list(with_enc["typeProperties"])[-1] == "clusterOption"
    assert with_enc["typeProperties"]["clusterOption"] == "Fixed"
    kv_token = studio_linked_service("AzureDatabricks", ls("AzureDatabricks", {**cluster, "accessToken": {}}))
    assert "clusterOption" not in kv_token["typeProperties"]
    snow = studio_linked_service("Snowflake", ls("Snowflake", {"connectionString": "x", "encryptedCredential": ENC}))
    assert list(snow["typeProperties"].items())[0] == ("authenticationType", "Basic")


def test_linked_service_properties_in_adf_studio_order(tmp_path: Path) -> None:
    _, props, _ = export(
        tmp_path,
        {
            "Syn": {
                "type": "AzureSynapseArtifacts",
                "typeProperties": {"endpoint": "https://w", "authentication": "MSI"},
                "annotations": [],
                "description": "d",
            },
            "Gen2": {
                "annotations": [],
                "type": "AzureBlobFS",
                "typeProperties": {
                    "servicePrincipalId": "sp",
                    "tenant": "t",
                    "subscriptionId": "sub",
                    "azureCloudType": "AzurePublic",
                    "url": "https://lake",
                    "servicePrincipalCredentialType": "ServicePrincipalCert",
                },
            },
        },
    )
    assert list(props["Syn"]) == ["description", "annotations", "type", "typeProperties"]
    assert list(props["Gen2"]["typeProperties"]) == [
        "url",
        "azureCloudType",
        "tenant",
        "servicePrincipalId",
        "servicePrincipalCredentialType",
        "subscriptionId",
    ]


def test_rule_on_a_secure_string_value_names_the_secret(tmp_path: Path) -> None:
    ir = {
        "name": "SSIS",
        "properties": {
            "type": "Managed",
            "typeProperties": {
                "computeProperties": {"location": "West Europe", "nodeSize": "Standard_D2_v3", "numberOfNodes": 1},
                "ssisProperties": {
                    "catalogInfo": {
                        "catalogServerEndpoint": "s.database.windows.net",
                        "catalogAdminUserName": "admin",
                        "catalogAdminPassword": {"type": "SecureString", "value": MASK},
                        "catalogPricingTier": "Basic",
                    }
                },
            },
        },
    }
    doc, _, text = export(tmp_path, {}, extra={"integrationRuntime/SSIS.json": ir})
    name = "SSIS_properties_typeProperties_ssisProperties_catalogInfo_catalogAdminPassword"
    assert doc["parameters"][name] == {"type": "secureString"}
    assert "*****" not in text
