"""How ADF Studio writes a linked service it publishes: its own property order and the defaults it fills in.

Publish takes linked services as ADF Studio holds them, not byte for byte as Git does. Each rule was seen in
real Publish output (shared/adf-corpus; the entry named is evidence, not a condition):

- `properties` always come in ADF Studio's order: description, parameters, annotations, type, typeProperties,
  connectVia. Git files written by other tools (Synapse workspaces, hand-written JSON) often have another order;
  Publish re-serializes them (a corpus factory AzureSynapseArtifacts, a corpus factory Snowflake,
  a corpus factory, a corpus factory, a corpus factory).
- Connectors whose form ADF Studio rebuilds on load get their typeProperties in the form's order
  (STUDIO_TYPE_PROPERTY_ORDER): AzureBlobFS url, azureCloudType, tenant, servicePrincipalId, credential type,
  credential (a corpus factory, a Synapse-written service-principal linked service; the ADF-Studio-written
  ones of _source_only/a corpus factory already have this order). Properties the form does not
  know (subscriptionId, resourceGroupName there) keep their order after the known ones.
- A linked service with an encrypted credential goes through ADF Studio's connector form, which Publish uses to
  put the secure strings in; the form writes its defaults then, and only then (a corpus factory Databricks
  linked service, whose token is a Key Vault secret, keeps its Git form without clusterOption):
  - empty lists of linked-service references (the SDK types them list[LinkedServiceReference]) are not
    written: HDInsightOnDemand additionalLinkedServiceNames [] (a corpus factory);
  - legacy Snowflake, whose service model declares no authentication type, gets authenticationType "Basic"
    first (a corpus factory; a corpus factory has it in Git);
  - an Azure Databricks new job cluster with a fixed worker count gets clusterOption "Fixed" last, a form-only
    property (a corpus factory; a corpus factory and a corpus factory have it in Git).
"""

from __future__ import annotations

from typing import Any

from portal.adf.sdk_models import linked_service_model

PROPERTY_ORDER: tuple[str, ...] = ("description", "parameters", "annotations", "type", "typeProperties", "connectVia")
_RANK = {name: index for index, name in enumerate(PROPERTY_ORDER)}

# ADF Studio's connector-form order of typeProperties, used when it re-serializes a linked service.
STUDIO_TYPE_PROPERTY_ORDER: dict[str, tuple[str, ...]] = {
    "AzureBlobFS": (
        "url",
        "accountKey",
        "sasUri",
        "sasToken",
        "azureCloudType",
        "tenant",
        "servicePrincipalId",
        "servicePrincipalKey",
        "servicePrincipalCredentialType",
        "servicePrincipalCredential",
        "credential",
    ),
}

# The legacy Snowflake form's authentication type, which the service model does not declare.
SNOWFLAKE_DEFAULT_AUTH = "Basic"


def in_studio_order(props: dict[str, Any]) -> bool:
    ranks = [_RANK[key] for key in props if key in _RANK]
    return ranks == sorted(ranks)


def _reorder(props: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    known = [key for key in order if key in props]
    rest = [key for key in props if key not in order]
    return {key: props[key] for key in known + rest}


def studio_linked_service(ls_type: str | None, props: dict[str, Any]) -> dict[str, Any]:
    """The linked service's properties as ADF Studio publishes them (a new dict; `props` is not changed)."""
    type_props = props.get("typeProperties")
    if isinstance(type_props, dict):
        if "encryptedCredential" in type_props:
            type_props = _form_defaults(ls_type, type_props)
        if ls_type in STUDIO_TYPE_PROPERTY_ORDER:
            type_props = _reorder(type_props, STUDIO_TYPE_PROPERTY_ORDER[ls_type])
        props = {**props, "typeProperties": type_props}
    if not in_studio_order(props):
        props = _reorder(props, PROPERTY_ORDER)
    return props


def _form_defaults(ls_type: str | None, type_props: dict[str, Any]) -> dict[str, Any]:
    model = linked_service_model(ls_type)
    if model is not None and model.reference_lists:
        type_props = {k: v for k, v in type_props.items() if not (k in model.reference_lists and v == [])}
    if ls_type == "Snowflake" and "authenticationType" not in type_props:
        type_props = {"authenticationType": SNOWFLAKE_DEFAULT_AUTH, **type_props}
    if ls_type == "AzureDatabricks" and "clusterOption" not in type_props and "newClusterVersion" in type_props:
        workers = type_props.get("newClusterNumOfWorker")
        # "2:10" is an autoscaling range; the form's value for it is not in the corpus, so only "Fixed" is added.
        if isinstance(workers, (str, int)) and not isinstance(workers, bool) and ":" not in str(workers):
            type_props = {**type_props, "clusterOption": "Fixed"}
    return type_props
