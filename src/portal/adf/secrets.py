"""ADF's automatic secure-string parameters for linked-service secrets.

Git holds no secret. A secret typed into ADF Studio is either kept encrypted by the service (Git then holds
`encryptedCredential` instead of the property) or written to Git masked (`{"type": "SecureString", "value":
"**********"}`). Publish replaces both with a secure-string parameter `<linkedService>_<property>` that every
environment must supply, written `{"type": "SecureString", "value": "[parameters('<ls>_<property>')]"}`; these
automatic parameters come before the parameterization-rule ones in the template (TemplateParameter.rule is None).

Which properties are secrets comes from the SDK models (`sdk_models`: every typeProperties attribute typed
SecretBase, per linked-service type). The rules on top, each seen in real Publish output (shared/adf-corpus; the
entry named is evidence, not a condition):

Which secrets an encrypted credential stands for
- A secret belongs to the model attribute before it (`LinkedServiceModel.owner`: userName before password,
  servicePrincipalId before servicePrincipalKey, clusterSshUserName before clusterSshPassword, domain before
  accessToken). Publish adds the secrets whose owner the linked service has: the authentication in use
  (a corpus factory: SapTable basic auth has clientId, the SAP client, and gets password only; Salesforce
  password and securityToken both belong to username; a corpus factory HDInsightOnDemand clusterPassword,
  clusterSshPassword and servicePrincipalKey; a corpus factory Informix password and credential).
  A password also belongs to any user name the model puts elsewhere (MySql: a corpus factory, a corpus factory).
- Secrets owned by the model's first attribute, the endpoint (Databricks accessToken, AzureFunction functionKey,
  Azure Batch accessKey, ADLS Gen2 accountKey), are the fallback: added only when no other secret of the
  linked service is present or added (a corpus factory AzureBlobFS account key vs its service-principal one).
- Secrets inside a credential string (the account key of a connection string, the SAS token of a SAS URI) are
  not added: the string holds them (every AzureBlobStorage connectionString entry; a corpus factory sasUri).
- servicePrincipalCredentialType picks the service-principal secret: servicePrincipalCredential where the model
  has one (a corpus factory Dataverse, a corpus factory DynamicsCrm), else servicePrincipalKey for
  "ServicePrincipalKey" and the embedded certificate for "ServicePrincipalCert".
- Some secrets only exist for one authentication type (AUTH_SECRETS, the SDK docstrings' enums); managed
  identities and anonymous access have none.
- The SDK types ADLS Gen2 accountKey as a plain object, though the service keeps it encrypted (a corpus factory,
  a corpus factory, a corpus factory); Event Hubs is a connector the SDK lacks
  (a corpus factory accessKey after accessKeyName). SDK_SUPPLEMENT adds them.

Where Publish writes them
- In the place of `encryptedCredential`, in the model's order (a corpus factory DeltaLake accessToken after
  clusterId, a corpus factory AzureFunction functionKey after authentication, a corpus factory and
  a corpus factory SnowflakeV2 password last, a corpus factory Informix password, credential).
- A service-principal secret right after servicePrincipalId (a corpus factory, a corpus factory: before
  servicePrincipalCredentialType).
- Connectors whose linked service ADF Studio rebuilds from its model (MODEL_SLOT_TYPES) put it in the model's
  slot, after the nearest attribute before it (a corpus factory, a corpus factory Databricks accessToken
  after domain; a corpus factory, a corpus factory MySql password before driverVersion).

Plain strings and masks
- A plain-string connectionString is a secret in its own right: it becomes an automatic secure string too (its
  parameter is listed with them: a corpus factory). Without encryptedCredential and without any other secret
  the string is the whole credential and Publish keeps it as the parameter's defaultValue (a corpus factory,
  a corpus factory); next to a Key Vault secret it has none (a corpus factory,
  a corpus factory). The default parameterization rule `|:-connectionString` then writes the plain reference.
- A sasUri is not: the default rule `|:-sasUri:secureString` makes its parameter, among the rule-made ones
  (a corpus factory, a corpus factory, a corpus factory, a corpus factory).
- A masked SecureString becomes an automatic secure string in place (a corpus factory Informix
  connectionString). Nothing masked may reach a template: deploying it would set the password to the mask.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

from portal.adf.parameterization import ParameterSink, TemplateParameter, is_parameter_expression, parameter_expression
from portal.adf.sdk_models import LinkedServiceModel, linked_service_model

MASK_CHAR = "*"
CREDENTIAL_STRINGS = frozenset({"connectionString", "sasUri"})
USER_NAME_PROPERTIES = ("username", "userName", "user", "userId")
SECRETLESS_AUTH = frozenset(
    {
        "Anonymous",
        "ManagedServiceIdentity",
        "SystemAssignedManagedIdentity",
        "UserAssignedManagedIdentity",
        "MSI",
        "ManagedIdentity",
    }
)
# Secrets that belong to one authentication type only (SftpAuthenticationType, SnowflakeAuthenticationType,
# AmazonS3 authenticationType, AzureStorageAuthenticationType in the SDK docstrings).
AUTH_SECRETS: dict[str, frozenset[str]] = {
    "SshPublicKey": frozenset({"privateKeyContent", "passPhrase"}),
    "KeyPair": frozenset({"privateKey", "privateKeyPassphrase"}),
    "TemporarySecurityCredentials": frozenset({"secretAccessKey", "sessionToken"}),
    "AccountKey": frozenset({"accountKey"}),
}
AUTH_ONLY_SECRETS = frozenset({"privateKeyContent", "passPhrase", "privateKey", "privateKeyPassphrase", "sessionToken"})
SERVICE_PRINCIPAL_SECRETS = ("servicePrincipalCredential", "servicePrincipalKey")
EMBEDDED_CERT_SECRETS = frozenset({"servicePrincipalEmbeddedCert", "servicePrincipalEmbeddedCertPassword"})
MODEL_SLOT_TYPES = frozenset({"AzureDatabricks", "MySql"})
# Secret properties the SDK does not type SecretBase, and connectors it does not have.
SDK_SUPPLEMENT: dict[str, frozenset[str]] = {"AzureBlobFS": frozenset({"accountKey"})}
EXTRA_MODELS: dict[str, LinkedServiceModel] = {
    "EventHubs": LinkedServiceModel(
        "EventHubs",
        ("namespaceName", "accessKeyName", "accessKey", "encryptedCredential"),
        frozenset({"accessKey"}),
        frozenset(),
    ),
}


def is_masked(value: Any) -> bool:
    """ADF Git's placeholder for a secret typed into the UI ("**********")."""
    return isinstance(value, str) and value != "" and value.strip(MASK_CHAR) == ""


def is_masked_secure_string(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "SecureString" and is_masked(value.get("value"))


def secure_value(name: str) -> dict[str, Any]:
    return {"type": "SecureString", "value": parameter_expression(name)}


@cache
def _model(ls_type: str | None) -> LinkedServiceModel | None:
    if ls_type in EXTRA_MODELS:
        return EXTRA_MODELS[ls_type]
    model = linked_service_model(ls_type)
    if model is not None and ls_type in SDK_SUPPLEMENT:
        model = LinkedServiceModel(
            model.type, model.properties, model.secrets | SDK_SUPPLEMENT[ls_type], model.reference_lists
        )
    return model


def _is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") in ("SecureString", "AzureKeyVaultSecret")


def secret_properties(ls_type: str | None, type_props: dict[str, Any]) -> list[str]:
    """The secret properties an `encryptedCredential` of this linked service stands for, in the model's order."""
    model = _model(ls_type)
    auth = type_props.get("authenticationType")
    auth = auth if isinstance(auth, str) else None
    if auth in SECRETLESS_AUTH:
        return []
    if model is None:
        # A connector the SDK does not know: only a user's password can be told.
        has_user = any(name in type_props for name in USER_NAME_PROPERTIES)
        return ["password"] if has_user and "password" not in type_props else []
    candidates = [name for name in model.properties if name in model.secrets and name not in type_props]
    if auth in AUTH_SECRETS:
        chosen = [name for name in candidates if name in AUTH_SECRETS[auth]]
        if "privateKeyPath" in type_props:
            chosen = [name for name in chosen if name != "privateKeyContent"]
        return chosen
    first = model.properties[0] if model.properties else None
    has_user = any(name in type_props for name in USER_NAME_PROPERTIES)
    active: list[str] = []
    fallback: list[str] = []
    for name in candidates:
        if name in AUTH_ONLY_SECRETS:
            continue
        owner = model.owner(name)
        if owner in CREDENTIAL_STRINGS:
            continue
        if owner is None or owner == first:
            if owner is None or owner in type_props:
                fallback.append(name)
        elif owner in type_props or (name == "password" and has_user):
            active.append(name)
    if "servicePrincipalCredentialType" in type_props:
        if "servicePrincipalCredential" in model.secrets:
            drop = {"servicePrincipalKey"} | EMBEDDED_CERT_SECRETS
        elif type_props.get("servicePrincipalCredentialType") == "ServicePrincipalCert":
            drop = {"servicePrincipalKey"}
        else:
            drop = set(EMBEDDED_CERT_SECRETS)
        active = [name for name in active if name not in drop]
    has_secret = bool(active) or any(
        name in model.secrets and _is_secret_value(type_props.get(name)) for name in type_props
    )
    if not has_secret:
        active = fallback + active
    return [name for name in model.properties if name in active]


def _insert(mapping: dict[str, Any], after: str | None, key: str, value: Any, *, first: bool = False) -> dict[str, Any]:
    """A copy of `mapping` with `key` right after `after` (at the start when `first`, else at the end)."""
    if after is None or after not in mapping:
        return {key: value, **mapping} if first else {**mapping, key: value}
    out: dict[str, Any] = {}
    for existing, existing_value in mapping.items():
        out[existing] = existing_value
        if existing == after:
            out[key] = value
    return out


def _model_slot_anchor(model: LinkedServiceModel | None, name: str, present: dict[str, Any]) -> str | None:
    """The nearest attribute before `name` in the model's order that the linked service has."""
    if model is None or name not in model.properties:
        return None
    for earlier in reversed(model.properties[: model.properties.index(name)]):
        if earlier in present:
            return earlier
    return None


class _Secrets:
    def __init__(self, ls_name: str, sink: ParameterSink, resource_type: str):
        self.ls_name = ls_name
        self.sink = sink
        self.resource_type = resource_type

    def parameter(self, prop: str, default: Any = None) -> str:
        parameter = TemplateParameter(
            name=f"{self.ls_name}_{prop}",
            type="secureString",
            metadata=f"Secure string for '{prop}' of '{self.ls_name}'",
            resource=self.resource_type,
            object_name=self.ls_name,
            path=("properties", "typeProperties", prop),
            rule=None,
            required=default is None,
        )
        if default is not None:
            parameter = replace(parameter, default=default, required=False)
        return self.sink.add(parameter)


def linked_service_secure_strings(
    ls_name: str, ls_type: str | None, type_props: dict[str, Any], sink: ParameterSink, resource_type: str
) -> dict[str, Any]:
    """typeProperties with every secret replaced by (or added as) an automatic secure-string parameter."""
    secrets = _Secrets(ls_name, sink, resource_type)
    encrypted = "encryptedCredential" in type_props
    out: dict[str, Any] = {}
    for key, value in type_props.items():
        if is_masked_secure_string(value):
            out[key] = secure_value(secrets.parameter(key))
        elif key == "connectionString" and isinstance(value, str) and not is_parameter_expression(value):
            alone = not encrypted and not any(_is_secret_value(v) for k, v in type_props.items() if k != key)
            out[key] = secure_value(secrets.parameter(key, value if alone else None))
        else:
            out[key] = value
    if not encrypted:
        return out
    model = _model(ls_type)
    added = secret_properties(ls_type, type_props)
    keys = list(out)
    position = keys.index("encryptedCredential")
    # Secrets written in the place of encryptedCredential follow the property before it, or each other.
    anchor = keys[position - 1] if position > 0 else None
    at_start = anchor is None
    out = {k: v for k, v in out.items() if k != "encryptedCredential"}
    for prop in added:
        value = secure_value(secrets.parameter(prop))
        if prop in SERVICE_PRINCIPAL_SECRETS and "servicePrincipalId" in out:
            out = _insert(out, "servicePrincipalId", prop, value)
        elif ls_type in MODEL_SLOT_TYPES and (slot := _model_slot_anchor(model, prop, out)) is not None:
            out = _insert(out, slot, prop, value)
        else:
            out = _insert(out, anchor, prop, value, first=at_start)
            anchor, at_start = prop, False
    return out


def replace_masked(
    owner_name: str, value: Any, sink: ParameterSink, resource_type: str, path: tuple[str, ...] = ()
) -> Any:
    """A copy of `value` in which every masked SecureString left is a secure-string parameter reference, named
    `<owner>_<path>` like a parameterization rule would. The last guard before a template is written."""
    if isinstance(value, dict):
        if is_masked_secure_string(value):
            name = "_".join((owner_name, *path))
            parameter = TemplateParameter(
                name=name,
                type="secureString",
                metadata=f"Secure string for '{path[-1] if path else 'value'}' of '{owner_name}'",
                resource=resource_type,
                object_name=owner_name,
                path=path,
                rule=None,
                required=True,
            )
            return {**value, "value": parameter_expression(sink.add(parameter))}
        return {
            k: replace_masked(owner_name, v, sink, resource_type, path + (str(k),))
            if isinstance(v, (dict, list))
            else v
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            replace_masked(owner_name, v, sink, resource_type, path + (str(i),)) if isinstance(v, (dict, list)) else v
            for i, v in enumerate(value)
        ]
    return value
