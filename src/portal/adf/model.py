"""The factory as ADF Git integration writes it: one JSON file per object, one folder per object kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any


class Kind(str, Enum):
    """Object kinds, named by the folder ADF Git integration writes them to."""

    PIPELINE = "pipeline"
    DATASET = "dataset"
    LINKED_SERVICE = "linkedService"
    TRIGGER = "trigger"
    INTEGRATION_RUNTIME = "integrationRuntime"
    DATAFLOW = "dataflow"
    CREDENTIAL = "credential"
    MANAGED_VIRTUAL_NETWORK = "managedVirtualNetwork"
    MANAGED_PRIVATE_ENDPOINT = "managedPrivateEndpoint"
    CHANGE_DATA_CAPTURE = "adfcdc"

    @property
    def arm_type(self) -> str:
        return "Microsoft.DataFactory/factories/" + KIND_INFO[self].segment

    @property
    def segment(self) -> str:
        """The path segment under the factory id, as used in `dependsOn` (`/linkedServices/NAME`)."""
        return KIND_INFO[self].segment

    @property
    def reference_type(self) -> str:
        return KIND_INFO[self].reference_type

    @property
    def label(self) -> str:
        return KIND_INFO[self].label


@dataclass(frozen=True)
class KindInfo:
    segment: str
    reference_type: str
    label: str


KIND_INFO: Mapping[Kind, KindInfo] = MappingProxyType(
    {
        Kind.PIPELINE: KindInfo("pipelines", "PipelineReference", "Pipeline"),
        Kind.DATASET: KindInfo("datasets", "DatasetReference", "Dataset"),
        Kind.LINKED_SERVICE: KindInfo("linkedServices", "LinkedServiceReference", "Linked service"),
        Kind.TRIGGER: KindInfo("triggers", "TriggerReference", "Trigger"),
        Kind.INTEGRATION_RUNTIME: KindInfo("integrationRuntimes", "IntegrationRuntimeReference", "Integration runtime"),
        Kind.DATAFLOW: KindInfo("dataflows", "DataFlowReference", "Data flow"),
        Kind.CREDENTIAL: KindInfo("credentials", "CredentialReference", "Credential"),
        Kind.MANAGED_VIRTUAL_NETWORK: KindInfo(
            "managedVirtualNetworks", "ManagedVirtualNetworkReference", "Managed virtual network"
        ),
        Kind.MANAGED_PRIVATE_ENDPOINT: KindInfo(
            "managedVirtualNetworks/managedPrivateEndpoints",
            "ManagedPrivateEndpointReference",
            "Managed private endpoint",
        ),
        Kind.CHANGE_DATA_CAPTURE: KindInfo("adfcdcs", "AdfcdcReference", "Change data capture"),
    }
)

KIND_BY_REFERENCE_TYPE: Mapping[str, Kind] = MappingProxyType(
    {info.reference_type: kind for kind, info in KIND_INFO.items()}
)

# Folders that hold objects directly (managed private endpoints live below a managed virtual network).
OBJECT_FOLDERS: Mapping[str, Kind] = MappingProxyType(
    {kind.value: kind for kind in Kind if kind is not Kind.MANAGED_PRIVATE_ENDPOINT}
)

FACTORY_FOLDER = "factory"
GLOBAL_PARAMETERS_FOLDER = "globalParameters"
PUBLISH_CONFIG_FILE = "publish_config.json"
PARAMETER_DEFINITION_FILE = "arm-template-parameters-definition.json"


@dataclass(frozen=True)
class AdfObject:
    """One object of the factory: its kind, name, the JSON ADF wrote and the file it came from."""

    kind: Kind
    name: str
    body: Mapping[str, Any]
    path: str
    # For managed private endpoints: the managed virtual network they belong to.
    parent: str | None = None

    @property
    def properties(self) -> Mapping[str, Any]:
        props = self.body.get("properties")
        return props if isinstance(props, dict) else {}

    @property
    def subtype(self) -> str | None:
        """The `properties.type` (e.g. `AzureBlobFS`, `ScheduleTrigger`), if any."""
        value = self.properties.get("type")
        return value if isinstance(value, str) else None

    @property
    def key(self) -> tuple[Kind, str]:
        return (self.kind, self.qualified_name)

    @property
    def qualified_name(self) -> str:
        """The name below the factory: `default/mpe1` for a managed private endpoint, else the name."""
        return f"{self.parent}/{self.name}" if self.parent else self.name

    def describe(self) -> str:
        return f"{self.kind.label} {self.qualified_name}"


@dataclass(frozen=True)
class Factory:
    """A factory loaded from Git JSON, at one commit or from one folder."""

    name: str
    source: str
    objects: tuple[AdfObject, ...]
    factory_body: Mapping[str, Any] | None = None
    factory_path: str | None = None
    publish_config: Mapping[str, Any] = field(default_factory=dict)
    parameter_definition: Mapping[str, Any] | None = None
    parameter_definition_path: str | None = None
    # Global parameters from a `globalParameters/` folder, when the factory file holds none.
    global_parameters_body: Mapping[str, Any] | None = None

    def of_kind(self, kind: Kind) -> list[AdfObject]:
        return [obj for obj in self.objects if obj.kind is kind]

    def find(self, kind: Kind, name: str) -> AdfObject | None:
        return self._index.get((kind, name))

    def body_of(self, kind: Kind, name: str) -> dict[str, Any] | None:
        """A copy of the top level of an object's JSON, or None: what export rules look up in other objects
        (an ExecuteDataFlow activity needs its data flow's sources and sinks)."""
        obj = self.find(kind, name)
        return dict(obj.body) if obj is not None else None

    @property
    def _index(self) -> dict[tuple[Kind, str], AdfObject]:
        cached = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {}
            for obj in self.objects:
                cached.setdefault(obj.key, obj)
            object.__setattr__(self, "_index_cache", cached)
        return cached

    @property
    def global_parameters(self) -> Mapping[str, Any]:
        if self.factory_body is not None:
            props = self.factory_body.get("properties")
            if isinstance(props, dict) and isinstance(props.get("globalParameters"), dict):
                return props["globalParameters"]
        if self.global_parameters_body is not None:
            props = self.global_parameters_body.get("properties", self.global_parameters_body)
            if isinstance(props, dict):
                return props
        return {}

    @property
    def include_factory_template(self) -> bool:
        return bool(self.publish_config.get("includeFactoryTemplate"))

    @property
    def include_global_params_template(self) -> bool:
        return bool(self.publish_config.get("includeGlobalParamsTemplate"))
