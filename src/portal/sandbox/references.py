"""The `{"referenceName", "type": "<X>Reference"}` shapes the service checks on every write.

Written apart from `portal.adf.references` on purpose: the sandbox stands in for the service, so it must not
share (and hide) the portal's own mistakes about references.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Reference type → the factory collection that must hold the named object.
REFERENCE_COLLECTIONS = {
    "LinkedServiceReference": "linkedservices",
    "DatasetReference": "datasets",
    "PipelineReference": "pipelines",
    "DataFlowReference": "dataflows",
    "IntegrationRuntimeReference": "integrationRuntimes",
    "CredentialReference": "credentials",
    "ManagedVirtualNetworkReference": "managedVirtualNetworks",
    "TriggerReference": "triggers",
}

# Built into every factory; referenced by name without ever being created.
BUILT_IN = {("integrationRuntimes", "autoresolveintegrationruntime")}


def find_references(value: Any) -> Iterator[tuple[str, str]]:
    """(collection, name) of every static reference anywhere below `value`: activities at any depth, data flow
    sources and sinks, `connectVia`, Key Vault `store`, credentials, trigger pipelines and dependencies."""
    if isinstance(value, dict):
        ref_type, name = value.get("type"), value.get("referenceName")
        collection = REFERENCE_COLLECTIONS.get(ref_type) if isinstance(ref_type, str) else None
        # A name given as an expression ("@pipeline().parameters.x") is resolved at run time, not checked.
        if (
            collection
            and isinstance(name, str)
            and not name.startswith("@")
            and (collection, name.lower()) not in BUILT_IN
        ):
            yield collection, name
        for child in value.values():
            yield from find_references(child)
    elif isinstance(value, list):
        for child in value:
            yield from find_references(child)
