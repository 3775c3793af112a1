"""What an expression may read: `EvaluationContext` (parameters, variables and the deployment's scope)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ID = "00000000-0000-0000-0000-000000000000"


@dataclass
class EvaluationContext:
    """What expressions may read. Parameter and variable values are evaluated lazily, once, when first used;
    treat the mappings as fixed once evaluation has started (results are cached here)."""

    parameters: Mapping[str, Any]
    variables: Mapping[str, Any] = field(default_factory=dict)
    subscription_id: str = DEFAULT_ID
    resource_group: str = "resource-group"
    location: str = "westeurope"
    tenant_id: str = DEFAULT_ID
    deployment_name: str = "deployment"
    # Evaluated parameters and variables by (kind, name), and those being evaluated (to name a cycle).
    _done: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _active: list[tuple[str, str]] = field(default_factory=list, init=False, repr=False, compare=False)
