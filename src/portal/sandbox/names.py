"""The name rules of the contract's path parameters, checked before anything is stored.

The rules come from `portal.sandbox.contract.name_rule` (the vendored contract). Where it cannot answer (while
it is being vendored, or for a parameter it lacks), the table below holds the same rules: the `parameters`
section of azure-rest-api-specs specification/datafactory/resource-manager/Microsoft.DataFactory/stable/
2018-06-01/datafactory.json (`pattern`, `minLength`, `maxLength` of each `...Name` path parameter), as of the
revision vendored in `portal.sandbox.contract/spec` (it has `changeDataCaptureName` and `globalParameterName`,
and gives `credentialName` the managed network pattern; an older revision gave it the entity pattern).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portal.sandbox.errors import ApiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NameRule:
    parameter: str
    pattern: str | None  # None: the contract states no pattern (and so on for the lengths)
    min_length: int | None
    max_length: int | None

    def allows(self, name: str) -> bool:
        if self.min_length is not None and len(name) < self.min_length:
            return False
        if self.max_length is not None and len(name) > self.max_length:
            return False
        return self.pattern is None or re.fullmatch(self.pattern, name) is not None

    def describe(self) -> str:
        parts = [f"match {self.pattern}"] if self.pattern else []
        if self.min_length is not None or self.max_length is not None:
            parts.append(
                f"have {self.min_length or 0} to {self.max_length if self.max_length is not None else 'any'} characters"
            )
        return " and ".join(parts) or "be a valid name"


_DNS_LIKE = r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$"  # factoryName, integrationRuntimeName
_ENTITY = r"^[A-Za-z0-9_][^<>*#.%&:\\+?/]*$"  # linkedServiceName, datasetName, pipelineName, ...
_NETWORK = r"^([_A-Za-z0-9]|([_A-Za-z0-9][-_A-Za-z0-9]{0,125}[_A-Za-z0-9]))$"

_TABLE = {
    "factoryName": NameRule("factoryName", _DNS_LIKE, 3, 63),
    "integrationRuntimeName": NameRule("integrationRuntimeName", _DNS_LIKE, 3, 63),
    "linkedServiceName": NameRule("linkedServiceName", _ENTITY, 1, 260),
    "datasetName": NameRule("datasetName", _ENTITY, 1, 260),
    "pipelineName": NameRule("pipelineName", _ENTITY, 1, 260),
    "triggerName": NameRule("triggerName", _ENTITY, 1, 260),
    "dataFlowName": NameRule("dataFlowName", _ENTITY, 1, 260),
    "credentialName": NameRule("credentialName", _NETWORK, 1, 127),
    "managedVirtualNetworkName": NameRule("managedVirtualNetworkName", _NETWORK, 1, 127),
    "managedPrivateEndpointName": NameRule("managedPrivateEndpointName", _NETWORK, 1, 127),
    "changeDataCaptureName": NameRule("changeDataCaptureName", _ENTITY, 1, 260),
    "globalParameterName": NameRule("globalParameterName", _ENTITY, 1, 260),
}

# The path parameter naming each collection's objects (the URL segment as routes.COLLECTIONS spells it).
PARAMETER_OF = {
    "factories": "factoryName",
    "pipelines": "pipelineName",
    "datasets": "datasetName",
    "linkedservices": "linkedServiceName",
    "triggers": "triggerName",
    "dataflows": "dataFlowName",
    "integrationRuntimes": "integrationRuntimeName",
    "credentials": "credentialName",
    "managedVirtualNetworks": "managedVirtualNetworkName",
    "managedPrivateEndpoints": "managedPrivateEndpointName",
    "adfcdcs": "changeDataCaptureName",
    "globalParameters": "globalParameterName",
}


_WARNED: set[str] = set()


@functools.lru_cache(maxsize=1)
def _contract_rule() -> Callable[[str], Any] | None:
    try:
        from portal.sandbox.contract import name_rule
    except ImportError:
        return None
    return name_rule


def rule_for(parameter: str) -> NameRule | None:
    """The contract's rule for a path parameter, or this module's copy of it."""
    contract = _contract_rule()
    found = None
    if contract is not None:
        try:
            found = contract(parameter)
        except Exception as err:  # noqa: BLE001 - a contract still being vendored must not take the sandbox down
            if parameter not in _WARNED:
                _WARNED.add(parameter)
                log.warning(
                    "the vendored contract has no name rule for %s (%r); using the sandbox's copy", parameter, err
                )
    if found is not None:
        return NameRule(parameter, found.pattern, found.min_length, found.max_length)
    return _TABLE.get(parameter)


def check_name(collection: str, name: str) -> None:
    """400 InvalidResourceName when `name` breaks its path parameter's rule."""
    parameter = PARAMETER_OF.get(collection)
    rule = rule_for(parameter) if parameter else None
    if rule is not None and not rule.allows(name):
        raise ApiError(
            400,
            "InvalidResourceName",
            f"The resource name '{name}' is invalid: {rule.parameter} must {rule.describe()}.",
        )
