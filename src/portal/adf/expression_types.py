"""Expression-typed properties: where ADF Studio writes a plain "@…" string as {"value": …, "type": "Expression"}.

ADF Studio re-serializes every object it loads before Publish. A property that the Data Factory model types as
"string (or Expression with resultType …)" and that holds a plain string with an expression in it (it starts with
'@', or holds a '@{…}' interpolation) comes out in the Expression form. Seen in the corpus:

- dataset location fileName / fileSystem ("@pipeline()…", "@dataset()…"): a corpus factory DelimitedText3,
  a corpus factory;
- Copy source storeSettings.wildcardFileName "@item().name": a corpus factory pipeline1;
- Azure Data Explorer command with '@{activity(…)…}' inside: a corpus factory ADXIngestAppTables_seqnum.

Which properties those are comes from the azure-mgmt-datafactory SDK models (the REST spec's entityTypes), not from
names: `expression-types.json` holds, per model, the JSON names of its Expression-typed properties and of its nested
models, and per polymorphic base model its subtypes by discriminator value. `table_from_sdk()` rebuilds that file
from the installed SDK (tests check that the shipped file matches); the export itself never imports the SDK, which
takes longer to import than a whole export of a mid-sized factory.

Free-form values are left alone: reference parameters, Web activity `body` objects, headers dictionaries, anything
typed as a plain object. So are the linked services' own properties: ADF keeps a parameterized linked service's
"@{linkedService().x}" as a plain string (a corpus factory AzureBlobFS url, a corpus factory
SqlServer server/database/userName, a corpus factory RestService url); in a linked service only Key Vault secret
references are re-serialized (`secretName`, `secretVersion`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from portal.adf.sdk_schema import rest_fields, subtypes_of

TABLE_FILE = "expression-types.json"

# The models each object kind's `properties` are an instance of (polymorphic bases resolve by their discriminator).
ROOT_MODELS: Mapping[str, str] = {
    "pipeline": "Pipeline",
    "dataset": "Dataset",
    "linkedService": "LinkedService",
    "trigger": "Trigger",
    "integrationRuntime": "IntegrationRuntime",
    "credential": "Credential",
    "adfcdc": "ChangeDataCapture",
    "managedVirtualNetwork": "ManagedVirtualNetwork",
    "managedPrivateEndpoint": "ManagedPrivateEndpoint",
}
# In a linked service only these models' Expression-typed properties are re-serialized (see the module docstring).
LINKED_SERVICE_EXPRESSION_MODELS = frozenset({"AzureKeyVaultSecretReference"})
# Models whose Expression-typed properties the Studio keeps as written: an activity's user properties stay plain
# strings (a corpus factory MetadataDrivenCopyTask_9rl_BottomLevel, a corpus factory Test-01,
# a corpus factory ADF_SQL_pl: "@{…}" / "@concat(…)" values unchanged in ARM). The table leaves them out.
KEPT_AS_WRITTEN_MODELS = frozenset({"UserProperty"})


def is_expression_text(text: str) -> bool:
    """ADF's test for a string that holds an expression: it starts with '@' ('@@' escapes a literal '@'), or
    interpolates one with '@{…}'."""
    if text[:1] == "@":
        return text[:2] != "@@"
    return "@{" in text


@lru_cache(maxsize=1)
def load_table() -> dict[str, Any]:
    data = resources.files("portal.adf").joinpath(TABLE_FILE).read_text(encoding="utf-8")
    table = json.loads(data)
    # Sets for the lookups the walk does.
    for model in table["models"].values():
        model["expr"] = frozenset(model.get("expr", ()))
        # key → (holds a list, model of the value or of each item), and the keys as a set to intersect with.
        nested = {key: (ref[:2] == "[]", ref.removeprefix("[]")) for key, ref in (model.get("nested") or {}).items()}
        model["nested"] = nested
        model["nested_keys"] = frozenset(nested)
    return table


def apply_expression_types(kind: str, props: dict[str, Any]) -> dict[str, Any]:
    """`props` (an object's `properties`, already a fresh copy) with every plain expression string in an
    Expression-typed property replaced by its Expression form. Changes `props` in place and returns it."""
    root = ROOT_MODELS.get(kind)
    if root is None or not isinstance(props, dict):
        return props
    table = load_table()
    only = LINKED_SERVICE_EXPRESSION_MODELS if kind == "linkedService" else None
    _walk(table["models"], table["polymorphic"], root, props, only)
    return props


def _resolve(polymorphic: Mapping[str, Any], name: str, value: Mapping[str, Any]) -> str:
    """The concrete model of `value` when `name` is a polymorphic base (by its discriminator), else `name`."""
    subtypes = polymorphic.get(name)
    while subtypes is not None:
        chosen = subtypes["types"].get(value.get(subtypes["key"]))
        if chosen is None or chosen == name:
            return name
        name = chosen
        subtypes = polymorphic.get(name)
    return name


def _walk(
    models: Mapping[str, Any],
    polymorphic: Mapping[str, Any],
    name: str,
    value: dict[str, Any],
    only: frozenset[str] | None,
) -> None:
    name = _resolve(polymorphic, name, value)
    model = models.get(name)
    if model is None:
        return
    if only is None or name in only:
        expr = model["expr"]
        for key in expr.intersection(value):
            text = value[key]
            if isinstance(text, str) and is_expression_text(text):
                value[key] = {"value": text, "type": "Expression"}
    nested = model["nested"]
    if not nested:
        return
    # Only the keys the JSON has: models declare many more properties than an object sets.
    for key in model["nested_keys"].intersection(value):
        is_list, child_model = nested[key]
        child = value[key]
        if is_list:
            if isinstance(child, list):
                for item in child:
                    if isinstance(item, dict):
                        _walk(models, polymorphic, child_model, item, only)
        elif isinstance(child, dict):
            _walk(models, polymorphic, child_model, child, only)


# ---- Building the table from the SDK (development and tests only) --------------------------------------------------

_MODEL_REF = re.compile(r"_models\.(\w+)")
_ANY = re.compile(r"^(?:Optional\[)?Any\]?$")


def _ivar_docs(cls: type) -> dict[str, str]:
    """`:ivar name: text` blocks of a model's docstring, per attribute."""
    docs: dict[str, str] = {}
    current = None
    for line in (cls.__doc__ or "").splitlines():
        stripped = line.strip()
        match = re.match(r":ivar (\w+):(.*)", stripped)
        if match:
            current = match.group(1)
            docs[current] = match.group(2)
        elif stripped.startswith(":"):
            current = None
        elif current:
            docs[current] += " " + stripped
    return docs


def table_from_sdk() -> dict[str, Any]:
    """The Expression-type table derived from the installed azure-mgmt-datafactory models."""
    import inspect

    from azure.mgmt.datafactory import models as sdk  # noqa: PLC0415 - development only

    classes = {
        name: cls for name, cls in vars(sdk).items() if inspect.isclass(cls) and getattr(cls, "_is_model", False)
    }
    models: dict[str, Any] = {}
    polymorphic: dict[str, Any] = {}
    for name, cls in sorted(classes.items()):
        docs: dict[str, str] = {}
        for base in reversed(cls.__mro__):
            if base in classes.values():
                docs.update(_ivar_docs(base))
        expr: list[str] = []
        nested: dict[str, str] = {}
        discriminator = None
        for attr, (field, annotation) in rest_fields(cls).items():
            rest = field._rest_name_input or attr
            if field._is_discriminator:
                discriminator = rest
                continue
            text = annotation if isinstance(annotation, str) else getattr(annotation, "__forward_arg__", None)
            if text is None:
                text = str(annotation).replace("typing.", "")
            text = text.replace(" ", "")
            ref = _MODEL_REF.search(text)
            if ref and ref.group(1) in classes and "dict[" not in text:
                nested[rest] = ("[]" if "list[" in text else "") + ref.group(1)
            elif _ANY.match(text) and "Expression with resultType" in docs.get(attr, ""):
                expr.append(rest)
        if name in KEPT_AS_WRITTEN_MODELS:
            expr = []
        entry: dict[str, Any] = {}
        if expr:
            entry["expr"] = sorted(expr)
        if nested:
            entry["nested"] = dict(sorted(nested.items()))
        if entry:
            models[name] = entry
        if discriminator and "__mapping__" in vars(cls):
            # Every concrete subtype below this base by its discriminator value (intermediate bases such as
            # ExecutionActivity keep their own mapping).
            types = {value: sub.__name__ for value, sub in subtypes_of(cls).items() if sub.__name__ in classes}
            polymorphic[name] = {"key": discriminator, "types": dict(sorted(types.items()))}
    # Before pruning: the activity types whose model has typeProperties (publish_defaults fills in an empty one).
    activity_types = sorted(
        value
        for value, model in polymorphic["Activity"]["types"].items()
        if "typeProperties" in models.get(model, {}).get("nested", {})
    )
    _prune(models, polymorphic)
    return {
        "models": models,
        "polymorphic": dict(sorted(polymorphic.items())),
        "activityTypesWithTypeProperties": activity_types,
    }


def _prune(models: dict[str, Any], polymorphic: dict[str, Any]) -> None:
    """Keep only what can lead to an Expression-typed property, so that the walk never descends into references,
    dependencies and the like (the export runs this walk over every object)."""
    live: set[str] = {name for name, model in models.items() if model.get("expr")}
    changed = True
    while changed:
        changed = False
        for name, model in models.items():
            if name in live:
                continue
            candidates = [target.removeprefix("[]") for target in model.get("nested", {}).values()]
            if any(_is_live(target, live, polymorphic) for target in candidates):
                live.add(name)
                changed = True
        for name, subtypes in polymorphic.items():
            if name not in live and any(sub in live for sub in subtypes["types"].values()):
                live.add(name)
                changed = True
    for name in list(models):
        model = models[name]
        nested = {
            key: target
            for key, target in model.get("nested", {}).items()
            if _is_live(target.removeprefix("[]"), live, polymorphic)
        }
        if nested:
            model["nested"] = nested
        else:
            model.pop("nested", None)
        if not model:
            del models[name]
    for name in list(polymorphic):
        if name not in live:
            del polymorphic[name]
        else:
            polymorphic[name]["types"] = {
                value: sub for value, sub in polymorphic[name]["types"].items() if sub in live
            }


def _is_live(name: str, live: set[str], polymorphic: Mapping[str, Any]) -> bool:
    return name in live or any(sub in live for sub in polymorphic.get(name, {}).get("types", {}).values())


def write_table(path: str) -> None:
    """Regenerate `expression-types.json` (run after upgrading the SDK):
    `python -c "import portal.adf.expression_types as t; t.write_table('src/portal/adf/expression-types.json')"`.
    """
    import os

    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(table_from_sdk(), handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.replace(temporary, path)
