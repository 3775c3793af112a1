"""ADF's automatic secure-string parameters for linked services whose secret the service keeps encrypted.

Git holds no secret: a linked service whose secret was typed into the UI carries `encryptedCredential`
instead. Publish drops that blob and adds a secure-string parameter `<linkedService>_<property>` for the
secret property, so every environment must supply it. Which property holds the secret depends on the
connector and its authentication; the rules below follow what Publish produced for real factories.
"""

from __future__ import annotations

from typing import Any

from portal.adf.parameterization import ParameterSink, TemplateParameter, parameter_expression
from portal.adf.publish_defaults import insert_after

# Credential pairs: when the first property is present, the second holds the secret and follows it.
IDENTITY_SECRET_PAIRS: tuple[tuple[str, str], ...] = (
    ("servicePrincipalId", "servicePrincipalKey"),
    ("accessKeyName", "accessKey"),
    ("userId", "password"),
    ("accessKeyId", "secretAccessKey"),
    ("userName", "password"),
    ("username", "password"),
    ("user", "password"),
    ("clientId", "clientSecret"),
)
# Connectors whose secret, with no identity property, is an account key next to the endpoint.
ACCOUNT_KEY_TYPES: dict[str, str] = {
    "AzureBlobFS": "url",
    "AzureBlobStorage": "serviceEndpoint",
    "AzureTableStorage": "serviceEndpoint",
    "AzureFileStorage": "host",
}
# Connectors that authenticate with a token.
TOKEN_TYPES: dict[str, tuple[str, str]] = {
    "AzureDatabricks": ("domain", "accessToken"),
    "AzureDatabricksDeltaLake": ("domain", "accessToken"),
}
# Properties that are secrets in their own right when they hold a plain string.
PLAIN_SECRET_PROPERTIES = ("connectionString", "sasUri")
# Authentication types that carry no secret at all.
SECRETLESS_AUTH = frozenset({"Anonymous", "ManagedServiceIdentity", "SystemAssignedManagedIdentity",
                             "UserAssignedManagedIdentity"})


def secure_value(name: str) -> dict[str, Any]:
    return {"type": "SecureString", "value": parameter_expression(name)}


def secret_properties(ls_type: str | None, type_props: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(secret property, property it follows) pairs for an encrypted credential of this connector."""
    found: list[tuple[str, str | None]] = []
    if ls_type in TOKEN_TYPES:
        anchor, secret = TOKEN_TYPES[ls_type]
        return [(secret, anchor)]
    if ls_type == "AzureFunction":
        return [("functionKey", "functionAppUrl")]
    if "servicePrincipalCredentialType" in type_props and "servicePrincipalCredential" not in type_props:
        # Newer connectors name the service principal's secret differently.
        anchor = "servicePrincipalCredentialType" if ls_type == "AzureBlobStorage" else "servicePrincipalId"
        return [("servicePrincipalCredential", anchor)]
    for identity, secret in IDENTITY_SECRET_PAIRS:
        if identity in type_props and secret not in type_props and all(secret != f[0] for f in found):
            found.append((secret, identity))
    if found:
        return found
    for prop in PLAIN_SECRET_PROPERTIES:
        if isinstance(type_props.get(prop), str):
            return [(prop, None)]
    if ls_type in ACCOUNT_KEY_TYPES:
        return [("accountKey", ACCOUNT_KEY_TYPES[ls_type])]
    auth = type_props.get("authenticationType") or type_props.get("authentication")
    if isinstance(auth, str) and auth in SECRETLESS_AUTH:
        return []
    return [("password", None)]


def replace_encrypted_credential(
    ls_name: str, ls_type: str | None, type_props: dict[str, Any], sink: ParameterSink, resource_type: str
) -> dict[str, Any]:
    """Drop `encryptedCredential` and put secure-string parameters where the secret belongs."""
    if "encryptedCredential" not in type_props:
        return type_props
    targets = secret_properties(ls_type, type_props)
    position = list(type_props).index("encryptedCredential")
    before = list(type_props)[position - 1] if position > 0 else None
    out = {k: v for k, v in type_props.items() if k != "encryptedCredential"}
    for prop, anchor in targets:
        name = f"{ls_name}_{prop}"
        parameter = TemplateParameter(
            name=name, type="secureString", metadata=f"Secure string for '{prop}' of '{ls_name}'",
            resource=resource_type, object_name=ls_name, path=("properties", "typeProperties", prop),
            rule=None, required=True,
        )
        if isinstance(out.get(prop), str):
            # A plain value (e.g. a connection string with its password removed) becomes the parameter.
            final = sink.add(parameter)
            out[prop] = parameter_expression(final)
            continue
        if prop in out:
            continue
        final = sink.add(parameter)
        out = insert_after(out, anchor if anchor in out else before, prop, secure_value(final))
    return out
