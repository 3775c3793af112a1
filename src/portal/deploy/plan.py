"""The plan: what promoting an environment will change in its live factory, object by object.

A plan compares the environment's rendered resources (the template with its values) with the live factory read
through the SDK. It is immutable and JSON-serializable, with a stable hash. It records the live version (etag and
trigger state) of every object it changes, so apply can refuse when any of them moved since the plan was shown;
the fingerprint of the whole live factory is kept too, for environments that want that stricter check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from portal.adf.arm import FACTORY_TYPE, GLOBAL_PARAMETERS_TYPE
from portal.adf.expressions import Secret
from portal.adf.model import Kind
from portal.adf.references import find_references
from portal.databricks.plan import NotebookPlan
from portal.deploy.comparison import comparable
from portal.deploy.limits import plan_blockers, write_rate_note
from portal.deploy.target import (
    COLLECTIONS,
    EVENT_TRIGGER_TYPES,
    GLOBAL_PARAMETERS,
    LiveObject,
)
from portal.environments.config import Environment

if TYPE_CHECKING:
    from portal.environments.render import RenderedEnvironment
    from portal.environments.workspace import MappingWorkspace

CREATE, UPDATE, DELETE, UNCHANGED = "create", "update", "delete", "unchanged"
_KIND_BY_TYPE = {kind.arm_type: kind.value for kind in Kind}
_DEPLOY_RANK = {c.key: rank for rank, c in enumerate(COLLECTIONS)}

Key = tuple[str, str]


@dataclass(frozen=True)
class DesiredObject:
    kind: str
    name: str
    properties: Mapping[str, Any]  # may hold Secret values: never shown, never compared
    depends_on: tuple[Key, ...]

    @property
    def key(self) -> Key:
        return (self.kind, self.name)


@dataclass(frozen=True)
class PropertyChange:
    path: str
    before: Any  # None when the property is new
    after: Any  # None when the property goes

    def __str__(self) -> str:
        def shown(value: Any) -> Any:
            return "(absent)" if value is None else _show(value)

        return f"{self.path}: {shown(self.before)} → {shown(self.after)}"


@dataclass(frozen=True)
class ObjectChange:
    kind: str
    name: str
    action: str
    changes: tuple[PropertyChange, ...] = ()
    # The name the live object has when it differs only in case (names are case-insensitive in Data Factory).
    live_name: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class TriggerChange:
    name: str
    stop: bool  # stopped before the deployment
    start: bool  # started after it
    event_subscription: bool  # a blob or custom event trigger: unsubscribe before stopping, subscribe to start
    reason: str


@dataclass(frozen=True)
class LiveVersion:
    """An object as the plan saw it in the live factory: whether it existed, its etag and its runtime state (for
    a trigger)."""

    kind: str
    name: str
    exists: bool
    etag: str | None = None
    runtime_state: str | None = None

    @property
    def key(self) -> Key:
        return (self.kind, self.name)

    def matches(self, live: LiveObject | None) -> bool:
        if live is None or not self.exists:
            return live is None and not self.exists
        return live.etag == self.etag and live.runtime_state == self.runtime_state

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Plan:
    environment: str
    subscription_id: str
    resource_group: str
    factory: str
    source_commit: str | None
    objects: tuple[ObjectChange, ...]  # creates, updates and unchanged, in deployment order
    deletions: tuple[ObjectChange, ...]  # live objects the source no longer has, in deletion order
    deletions_enabled: bool
    triggers: tuple[TriggerChange, ...]
    live_fingerprint: str  # the live state the plan was made against
    trigger_state: str = "source"
    notes: tuple[str, ...] = field(default=())
    # The live versions of everything the plan writes, deletes, stops or starts (see `LiveVersion`).
    preconditions: tuple[LiveVersion, ...] = field(default=())
    stale_check: str = "changed-objects"
    # The longest the stopped triggers stay down while the factory is written (deploy.trigger_downtime_seconds).
    trigger_downtime_seconds: int = 300
    # The environment's Databricks folder, when it has one: deployed in the same promotion, before the factory.
    notebooks: NotebookPlan | None = None
    # Why the service would refuse part of this plan (a documented limit, an immutable object, a name it does not
    # accept): a plan with any is shown but never applied, so nothing is written half-way.
    blockers: tuple[str, ...] = field(default=())

    @property
    def can_apply(self) -> bool:
        return not self.blockers

    @property
    def creates(self) -> list[ObjectChange]:
        return [o for o in self.objects if o.action == CREATE]

    @property
    def updates(self) -> list[ObjectChange]:
        return [o for o in self.objects if o.action == UPDATE]

    @property
    def unchanged(self) -> list[ObjectChange]:
        return [o for o in self.objects if o.action == UNCHANGED]

    @property
    def effective_deletions(self) -> list[ObjectChange]:
        return list(self.deletions) if self.deletions_enabled else []

    @property
    def factory_has_changes(self) -> bool:
        return bool(
            self.creates or self.updates or self.effective_deletions or any(t.stop or t.start for t in self.triggers)
        )

    @property
    def has_changes(self) -> bool:
        return self.factory_has_changes or (self.notebooks is not None and self.notebooks.has_changes)

    def counts(self) -> dict[str, int]:
        """The factory's changes by action; see `notebooks.counts()` for the notebooks'."""
        return {
            "create": len(self.creates),
            "update": len(self.updates),
            "delete": len(self.effective_deletions),
            "unchanged": len(self.unchanged),
            "triggers": sum(1 for t in self.triggers if t.stop or t.start),
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["hash"] = self.hash
        data["counts"] = self.counts()
        if self.notebooks is not None:
            data["notebooks"]["counts"] = self.notebooks.counts()
        data["hasChanges"] = self.has_changes
        return data

    @cached_property
    def hash(self) -> str:
        """Stable over identical plans: canonical JSON of everything the plan says (computed once: the plan is
        immutable)."""
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), default=_show)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _show(value: Any) -> Any:
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# --- the desired state ---------------------------------------------------------------------------------------------


def desired_state(workspace: MappingWorkspace, rendered: RenderedEnvironment) -> dict[Key, DesiredObject]:
    """The objects the environment must have, by (kind, name), from its rendered resources."""
    deps_by_key = {}
    for arm in workspace.export.resources:
        kind = _kind_of(arm.key[0])
        deps_by_key[(kind, arm.key[1])] = tuple((_kind_of(t), n) for t, n in arm.depends_on if t != FACTORY_TYPE)
    desired: dict[Key, DesiredObject] = {}
    factory_globals = None
    for resource in rendered.resources:
        if resource.type == FACTORY_TYPE:
            # The factory resource itself is not deployed (it would reset the factory's Git configuration); its
            # global parameters are, the way ADF's newer ARM option does.
            factory_globals = (resource.properties or {}).get("globalParameters")
            continue
        kind = _kind_of(resource.type)
        key = (kind, resource.object_name)
        desired[key] = DesiredObject(kind, resource.object_name, resource.properties, deps_by_key.get(key, ()))
    if factory_globals and (GLOBAL_PARAMETERS, "default") not in desired:
        desired[(GLOBAL_PARAMETERS, "default")] = DesiredObject(GLOBAL_PARAMETERS, "default", factory_globals, ())
    return desired


def _kind_of(arm_type: str) -> str:
    if arm_type == GLOBAL_PARAMETERS_TYPE:
        return GLOBAL_PARAMETERS
    return _KIND_BY_TYPE.get(arm_type, arm_type)


# --- comparing ---------------------------------------------------------------------------------------------------


def property_changes(before: Any, after: Any, path: str = "properties") -> list[PropertyChange]:
    """A readable diff: one change per property path whose value differs."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[PropertyChange] = []
        for key in list(after) + [k for k in before if k not in after]:
            changes.extend(property_changes(before.get(key), after.get(key), f"{path}.{key}"))
        return changes
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(before) == len(after)
        and any(isinstance(v, (dict, list)) for v in before + after)
    ):
        changes = []
        for index, (b, a) in enumerate(zip(before, after, strict=True)):
            changes.extend(property_changes(b, a, f"{path}[{index}]"))
        return changes
    return [] if before == after else [PropertyChange(path, before, after)]


# --- the plan ----------------------------------------------------------------------------------------------------


def live_fingerprint(live: Mapping[Key, LiveObject]) -> str:
    """Changes whenever any live object or trigger state changes (etags are per write)."""
    rows = sorted((kind, name, obj.etag or "", obj.runtime_state or "") for (kind, name), obj in live.items())
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()


def match_live(desired: Iterable[Key], live: Mapping[Key, LiveObject]) -> dict[Key, LiveObject]:
    """The live object of each desired key. Data Factory's names are case-insensitive (a PUT to `MyPipe`
    updates `mypipe`), so an object is matched whatever the case of its name."""
    by_lower = {(kind, name.lower()): (kind, name) for kind, name in live}
    matched: dict[Key, LiveObject] = {}
    for key in desired:
        found = live.get(key)
        if found is None:
            other = by_lower.get((key[0], key[1].lower()))
            found = live.get(other) if other is not None else None
        if found is not None:
            matched[key] = found
    return matched


def make_plan(
    env: Environment, desired: Mapping[Key, DesiredObject], live: Mapping[Key, LiveObject], source_commit: str | None
) -> Plan:
    matched = match_live(desired, live)
    objects: dict[Key, ObjectChange] = {}
    notes: list[str] = []
    for key, wanted in desired.items():
        current = matched.get(key)
        if current is None:
            objects[key] = ObjectChange(key[0], key[1], CREATE)
            continue
        ours, theirs = comparable(key[0], wanted.properties, current.properties)
        changes = [] if ours == theirs else property_changes(theirs, ours)
        live_name = current.name if current.name != key[1] else None
        objects[key] = ObjectChange(key[0], key[1], UPDATE if changes else UNCHANGED, tuple(changes), live_name)
        if live_name is not None:
            notes.append(
                f"{key[0]} {key[1]} is named {live_name} in the factory: names are case-insensitive, so "
                "it is that object (updated in place, never created beside it or deleted)"
            )
    kept = {(k, n.lower()) for k, n in desired}
    deletions = [ObjectChange(k[0], k[1], DELETE) for k in live if (k[0], k[1].lower()) not in kept and _deletable(k)]
    if deletions and not env.deploy.delete_removed:
        notes.append(
            f"{len(deletions)} live objects are not in the source; deletion is off for {env.name} "
            "(deploy.delete_removed in portal.yaml)"
        )
    notes += _databricks_mismatches(env, desired)
    triggers = _trigger_changes(env, desired, live, matched, objects, deletions if env.deploy.delete_removed else [])
    stopping = sum(1 for t in triggers if t.stop)
    if stopping:
        notes.append(
            f"{stopping} started trigger{'s' if stopping != 1 else ''} will be stopped while the factory is "
            f"written, for at most {env.deploy.trigger_downtime_seconds} s "
            "(deploy.trigger_downtime_seconds): past that the deploy stops and they are started again"
        )
    effective = deletions if env.deploy.delete_removed else []
    blockers = plan_blockers(desired, objects, live, effective)
    writes = sum(1 for o in objects.values() if o.action != UNCHANGED) + len(effective)
    writes += sum(int(t.stop) + int(t.start) + 2 * int(t.event_subscription) for t in triggers)
    rate = write_rate_note(writes)
    if rate is not None:
        notes.append(rate)
    touched = [k for k, o in objects.items() if o.action != UNCHANGED]
    touched += [(c.kind, c.name) for c in effective]
    touched += [(Kind.TRIGGER.value, t.name) for t in triggers]
    seen = {**live, **matched}
    return Plan(
        environment=env.name,
        subscription_id=env.data_factory.subscription_id,
        resource_group=env.data_factory.resource_group,
        factory=env.data_factory.factory_name,
        source_commit=source_commit,
        objects=tuple(objects[k] for k in deploy_order(desired)),
        deletions=tuple(_deletion_order(deletions, live)),
        deletions_enabled=env.deploy.delete_removed,
        triggers=tuple(triggers),
        live_fingerprint=live_fingerprint(live),
        trigger_state=env.deploy.trigger_state,
        notes=tuple(notes),
        preconditions=tuple(_live_version(key, seen.get(key)) for key in sorted(set(touched))),
        stale_check=env.deploy.stale_check,
        trigger_downtime_seconds=env.deploy.trigger_downtime_seconds,
        blockers=tuple(blockers),
    )


def _databricks_mismatches(env: Environment, desired: Mapping[Key, DesiredObject]) -> list[str]:
    """Databricks linked services that would run this environment's pipelines in another workspace than the one
    its notebooks are promoted to (a mapping left at dev's value, typically)."""
    if env.databricks is None:
        return []
    wanted = env.databricks.host.rstrip("/").lower()
    notes = []
    for (kind, name), obj in sorted(desired.items()):
        if kind != Kind.LINKED_SERVICE.value or obj.properties.get("type") != "AzureDatabricks":
            continue
        domain = (obj.properties.get("typeProperties") or {}).get("domain")
        if isinstance(domain, str) and domain.rstrip("/").lower() != wanted:
            notes.append(
                f"linked service {name} points at {domain}, but {env.name}'s notebooks go to "
                f"{env.databricks.host} (databricks.host): set its domain in the environment's values"
            )
    return notes


def _live_version(key: Key, live: LiveObject | None) -> LiveVersion:
    if live is None:
        return LiveVersion(key[0], key[1], exists=False)
    return LiveVersion(key[0], key[1], True, live.etag, live.runtime_state)


def moved_since_plan(plan: Plan, live: Mapping[Key, LiveObject | None]) -> list[LiveVersion]:
    """The plan's objects whose live version is no longer the one the plan saw (`live` holds at least them)."""
    by_lower = {(kind, name.lower()): obj for (kind, name), obj in live.items()}
    return [
        v
        for v in plan.preconditions
        if not v.matches(live.get(v.key) if v.key in live else by_lower.get((v.kind, v.name.lower())))
    ]


def _deletable(key: Key) -> bool:
    # The global parameters resource is the factory's own, and the contract has no delete operation for managed
    # virtual networks (ManagedVirtualNetworks: get, list and create or update only): neither is ever deleted.
    return key[0] not in (GLOBAL_PARAMETERS, Kind.MANAGED_VIRTUAL_NETWORK.value)


def _references(properties: Any) -> Iterable[Key]:
    for ref in find_references(properties, None):
        yield (ref.kind.value, ref.name)


def _trigger_changes(
    env: Environment,
    desired: Mapping[Key, DesiredObject],
    live: Mapping[Key, LiveObject],
    matched: Mapping[Key, LiveObject],
    objects: Mapping[Key, ObjectChange],
    deletions: list[ObjectChange],
) -> list[TriggerChange]:
    trigger = Kind.TRIGGER.value
    touched_pipelines = {c.name for c in objects.values() if c.kind == Kind.PIPELINE.value and c.action != UNCHANGED}
    touched_pipelines |= {c.name for c in deletions if c.kind == Kind.PIPELINE.value}
    deleted = {c.name for c in deletions if c.kind == trigger}
    result = []
    wanted_lower = {n.lower() for k, n in desired if k == trigger}
    names = sorted(
        {n for k, n in desired if k == trigger} | {n for k, n in live if k == trigger and n.lower() not in wanted_lower}
    )
    for name in names:
        key = (trigger, name)
        current = matched.get(key) or live.get(key)
        wanted = desired.get(key)
        was_started = current is not None and current.runtime_state == "Started"
        if wanted is None:
            if name in deleted and was_started and current is not None:  # (started: so there is one)
                result.append(TriggerChange(name, True, False, _is_event(current.properties), "deleted"))
            continue
        if env.deploy.trigger_state == "previous" and current is not None:
            want_started = was_started
        elif env.deploy.trigger_state == "previous":
            want_started = False  # a new trigger stays stopped until someone starts it
        else:
            want_started = wanted.properties.get("runtimeState") == "Started"
        pipelines = {n for k, n in _references(wanted.properties.get("pipelines") or []) if k == Kind.PIPELINE.value}
        pipelines |= {n for k, n in _references(wanted.properties.get("pipeline") or {}) if k == Kind.PIPELINE.value}
        changed = objects[key].action != UNCHANGED
        reasons = []
        if changed:
            reasons.append("the trigger changes")
        if pipelines & touched_pipelines:
            reasons.append("its pipelines change: " + ", ".join(sorted(pipelines & touched_pipelines)))
        stop = was_started and (bool(reasons) or not want_started)
        start = want_started and (stop or not was_started)
        if not reasons:
            reasons.append("started as the source says" if start else "stopped as the source says")
        if stop or start:
            result.append(TriggerChange(name, stop, start, _is_event(wanted.properties), "; ".join(reasons)))
    return result


def _is_event(properties: Mapping[str, Any]) -> bool:
    return properties.get("type") in EVENT_TRIGGER_TYPES


def deploy_order(desired: Mapping[Key, DesiredObject]) -> list[Key]:
    """Dependencies first (level by level), kinds in the service's order within a level, then names."""
    levels: dict[Key, int] = {}

    def level(key: Key, seen: frozenset[Key] = frozenset()) -> int:
        if key in levels:
            return levels[key]
        deps = [d for d in desired[key].depends_on if d in desired and d not in seen]
        value = 1 + max((level(d, seen | {key}) for d in deps), default=-1)
        levels[key] = value
        return value

    return sorted(desired, key=lambda k: (level(k), _DEPLOY_RANK.get(k[0], 99), k[1]))


def _deletion_order(deletions: list[ObjectChange], live: Mapping[Key, LiveObject]) -> list[ObjectChange]:
    """Dependents first: an object goes only after everything that still refers to it."""
    gone = {(c.kind, c.name) for c in deletions}
    referenced_by: dict[Key, set[Key]] = {k: set() for k in gone}
    for key in gone:
        for ref in _references(live[key].properties):
            if ref in gone and ref != key:
                referenced_by[ref].add(key)
    depth: dict[Key, int] = {}

    def rank(key: Key, seen: frozenset[Key] = frozenset()) -> int:
        if key not in depth:
            users = [u for u in referenced_by[key] if u not in seen]
            depth[key] = 1 + max((rank(u, seen | {key}) for u in users), default=-1)
        return depth[key]

    return sorted(deletions, key=lambda c: (rank((c.kind, c.name)), -_DEPLOY_RANK.get(c.kind, 99), c.name))
