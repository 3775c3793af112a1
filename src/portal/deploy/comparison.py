"""What a plan compares: only the properties the source owns, read from the service's contract.

The live factory answers with more than it was given and in its own spelling: read-only properties it fills in
(an integration runtime's `state`, a managed network's `vNetId` and `alias`, a private endpoint's
`provisioningState` and `connectionState`, a trigger's `runtimeState`), secrets masked, enum values in the
contract's case (`int` → `Int`). Which property is which comes from the models of `azure-mgmt-datafactory`,
generated from the REST contract: a field whose visibility is only "read" is the service's, an enum field is
compared without regard to case (the SDK's enums are case-insensitive, as the service is). A property the
contract does not define is compared only when both sides have it, since the service may drop what it does not
know or add its own; everything the contract defines is compared strictly, so a hand edit of it shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portal.adf.expressions import Secret
from portal.adf.model import Kind
from portal.adf.sdk_schema import (
    LIST,
    MAP,
    ONE,
    PROPERTIES_MODEL,
    Field,
    concrete_model,
    fields_of,
    is_model,
)

# Properties the service keeps to itself although the contract lets a client send them.
SERVICE_OWNED = frozenset({"encryptedCredential"})
GLOBAL_PARAMETERS = "globalParameters"
_SCALARS = (str, int, float, bool)


# What the contract says about one property (see `Field`); a plan compares by it.
Slot = Field


def _slot(model: str | None, container: str = ONE, enum_values: Mapping[str, str] | None = None) -> Slot:
    return Field(rest_name="", model=model, container=container, enum_values=enum_values)


def slots_of(model_name: str) -> Mapping[str, Slot] | None:
    """The model's properties by lower-cased wire name; None when the contract has no such model."""
    return fields_of(model_name) if is_model(model_name) else None


def top_slot(kind: str) -> Slot:
    """The slot of a whole object's `properties` of `kind` (the portal's kind names)."""
    if kind == GLOBAL_PARAMETERS:
        return _slot("GlobalParameterSpecification", MAP)
    try:
        model = PROPERTIES_MODEL.get(Kind(kind))
    except ValueError:
        model = None
    return _slot(model)


def comparable(kind: str, desired: Any, live: Any) -> tuple[Any, Any]:
    """Both sides of one object's `properties` reduced to what the source owns, ready to be compared. Parts
    equal on both sides are left as they are (they compare equal either way)."""
    if type(desired) is type(live) and desired == live:
        return desired, live
    return _pair(desired, live, top_slot(kind))


def _pair(ours: Any, theirs: Any, slot: Slot) -> tuple[Any, Any]:
    if slot.container == LIST and type(ours) is list and type(theirs) is list:
        item = _slot(slot.model, ONE, slot.enum_values)
        pairs = [_pair(o, t, item) for o, t in zip(ours, theirs, strict=False)]  # as far as both go; the rest below
        rest = len(pairs)
        return (
            [p[0] for p in pairs] + [_one(o, item) for o in ours[rest:]],
            [p[1] for p in pairs] + [_one(t, item) for t in theirs[rest:]],
        )
    if slot.container == MAP and type(ours) is dict and type(theirs) is dict:
        item = _slot(slot.model, ONE, slot.enum_values)
        return _mapping(ours, theirs, lambda key: item)
    if slot.container == ONE and type(ours) is dict and type(theirs) is dict and not _is_secure(ours, theirs):
        model = slot.model and concrete_model(slot.model, ours if "type" in ours else theirs)
        slots = slots_of(model) if model else None
        if slots is None:
            return _mapping(ours, theirs, lambda key: _FREE)
        return _mapping(ours, theirs, lambda key: slots.get(key.lower(), _UNDEFINED), by_contract=True)
    return _one(ours, slot), _one(theirs, slot)


_FREE = _slot(None)
_UNDEFINED = _slot(None)  # a property the model does not define (compared by identity with `is`)


def _mapping(ours: dict[str, Any], theirs: dict[str, Any], slot_for: Any, by_contract: bool = False) -> tuple[Any, Any]:
    """Both sides of a JSON object, property by property. With `by_contract` (an object the contract models), a
    property the contract defines is matched whatever the case of its name, as the service reads names (Git
    writes a change data capture's `SourceConnectionsInfo`, the contract `sourceConnectionsInfo`); both sides
    then carry the source's spelling. Names in maps and free-form JSON are matched exactly."""
    out_ours: dict[str, Any] = {}
    out_theirs: dict[str, Any] = {}
    spelled = {k.lower(): k for k in theirs} if by_contract else {}
    paired: set[str] = set()
    rows: list[tuple[str, bool, bool, Any, Any]] = []
    for key in ours:
        their_key = key
        if key not in theirs and by_contract and slot_for(key) not in (_UNDEFINED, _FREE):
            their_key = spelled.get(key.lower(), key)
        in_theirs = their_key in theirs
        if in_theirs:
            paired.add(their_key)
        rows.append((key, True, in_theirs, ours[key], theirs.get(their_key)))
    rows += [(k, False, True, None, v) for k, v in theirs.items() if k not in paired and k not in ours]
    for key, in_ours, in_theirs, mine, live in rows:
        if key in SERVICE_OWNED:
            continue
        slot = slot_for(key)
        if slot.read_only:
            continue
        if slot is _UNDEFINED and not (in_ours and in_theirs):
            continue
        if _is_secret_slot(mine):
            continue  # a secret in the source: its live value is unknowable, so it is not compared
        if in_ours and in_theirs and type(mine) is type(live) and mine == live:
            # Equal as they stand: whatever the reduction drops or respells it would on both sides alike.
            if not _empty(mine):
                out_ours[key], out_theirs[key] = mine, live
            continue
        if in_ours and in_theirs:
            mine, live = _pair(mine, live, slot)
        else:
            mine, live = _one(mine, slot), _one(live, slot)
        if in_ours and not _empty(mine):
            out_ours[key] = mine
        if in_theirs and not _empty(live):
            out_theirs[key] = live
    return out_ours, out_theirs


def _one(value: Any, slot: Slot) -> Any:
    """One side alone (the other has nothing there): cleaned the same way."""
    if type(value) in _SCALARS:
        if slot.enum_values is not None and type(value) is str:
            return slot.enum_values.get(value.lower(), value)
        return value
    if isinstance(value, Secret):
        return None
    if type(value) is list:
        item = _slot(slot.model, ONE, slot.enum_values) if slot.container == LIST else _FREE
        return [_one(v, item) for v in value]
    if type(value) is dict:
        if _is_secure(value, None):
            return {"type": "SecureString"}
        if slot.container == MAP:
            item = _slot(slot.model, ONE, slot.enum_values)
            return _mapping(value, {}, lambda key: item)[0]
        model = slot.model and concrete_model(slot.model, value)
        slots = slots_of(model) if model else None
        if slots is None:
            return _mapping(value, {}, lambda key: _FREE)[0]
        return _mapping(value, {}, lambda key: slots.get(key.lower(), _FREE))[0]
    return value


def _is_secure(ours: Any, theirs: Any) -> bool:
    """A SecureString on either side: the service answers it masked, so only its being one is compared."""
    return any(type(v) is dict and v.get("type") == "SecureString" for v in (ours, theirs))


def _is_secret_slot(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    return type(value) is dict and value.get("type") == "SecureString" and isinstance(value.get("value"), Secret)


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == []
