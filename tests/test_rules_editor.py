"""The structured editor for `arm-template-parameters-definition.json` and its parameter preview."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from portal.adf import export_factory, load_factory
from portal.adf.model import Factory
from portal.adf.parameterization import DEFAULT_DEFINITION, RESOURCE_LEVEL_KEYS
from portal.adf.rules_editor import (
    Rule,
    RulePreview,
    RuleTarget,
    add_rule,
    current_definition,
    definition_text,
    list_rules,
    preview,
    remove_rule,
)
from portal.errors import PortalError

LS_TYPE = "Microsoft.DataFactory/factories/linkedServices"
TRIGGER_TYPE = "Microsoft.DataFactory/factories/triggers"
DEFINITION_FILE = "arm-template-parameters-definition.json"


# --- factories on disk --------------------------------------------------------------------------------------------


def write(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent="\t"), encoding="utf-8")


def small_factory(root: Path, definition: dict[str, Any] | None = None) -> Factory:
    """A factory with a lake and a SQL linked service, a dataset, a pipeline and a schedule trigger."""
    write(root / "factory" / "adf-dev.json", {"name": "adf-dev", "location": "westeurope"})
    write(
        root / "linkedService" / "LS_Blob.json",
        {
            "name": "LS_Blob",
            "properties": {
                "type": "AzureBlobFS",
                "annotations": [],
                "typeProperties": {"url": "https://dev.example.net/", "authenticationType": "ManagedIdentity"},
            },
        },
    )
    write(
        root / "linkedService" / "LS_Sql.json",
        {
            "name": "LS_Sql",
            "properties": {
                "type": "AzureSqlDatabase",
                "annotations": [],
                "typeProperties": {
                    "server": "sqldev.example.net",
                    "database": "sales",
                    "authenticationType": "SystemAssignedManagedIdentity",
                },
            },
        },
    )
    write(
        root / "dataset" / "DS_In.json",
        {
            "name": "DS_In",
            "properties": {
                "linkedServiceName": {"referenceName": "LS_Blob", "type": "LinkedServiceReference"},
                "annotations": [],
                "type": "Binary",
                "typeProperties": {"location": {"type": "AzureBlobFSLocation"}},
            },
        },
    )
    write(
        root / "pipeline" / "PL_Copy.json",
        {
            "name": "PL_Copy",
            "properties": {
                "activities": [
                    {
                        "name": "Copy",
                        "type": "Copy",
                        "inputs": [{"referenceName": "DS_In", "type": "DatasetReference"}],
                        "typeProperties": {"source": {"type": "BinarySource"}, "sink": {"type": "BinarySink"}},
                    }
                ],
                "parameters": {"day": {"type": "string"}, "batch": {"type": "int"}},
                "annotations": [],
            },
        },
    )
    write(
        root / "trigger" / "TR_Daily.json",
        {
            "name": "TR_Daily",
            "properties": {
                "annotations": [],
                "runtimeState": "Stopped",
                "type": "ScheduleTrigger",
                "pipelines": [
                    {
                        "pipelineReference": {"referenceName": "PL_Copy", "type": "PipelineReference"},
                        "parameters": {"day": "mon", "batch": 500},
                    }
                ],
                "typeProperties": {
                    "recurrence": {"frequency": "Day", "interval": 1, "startTime": "2024-01-01T00:00:00Z"}
                },
            },
        },
    )
    if definition is not None:
        write(root / DEFINITION_FILE, definition)
    return load_factory(root)


def names(parameters: Any) -> list[str]:
    return [p.name for p in parameters]


def by_name(parameters: Any) -> dict[str, Any]:
    return {p.name: p for p in parameters}


def leaves(value: Any) -> list[str]:
    """Every string in a definition tree, walked by hand (array naming properties are not rules)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list) and value:
        return leaves(value[0])
    return []


def at(definition: dict[str, Any], target: RuleTarget) -> Any:
    """The value the definition holds at a target (for linked services / datasets, below the subtype key)."""
    node: Any = definition[next(k for k in definition if k.lower() == target.resource_type.lower())]
    if target.subtype is not None and (target.resource_type == LS_TYPE or "*" in node or target.subtype in node):
        node = node[target.subtype]
    for segment in target.path:
        node = node[0] if segment == "[]" else node[segment]
    return node


def interval_rule() -> Rule:
    return Rule(RuleTarget.parse("trigger", "properties.typeProperties.recurrence.interval"), "=", "-interval", "int")


# --- starting point -----------------------------------------------------------------------------------------------


def test_without_a_file_editing_starts_from_the_default_and_keeps_its_rules(tmp_path: Path) -> None:
    factory = small_factory(tmp_path / "adf")
    assert factory.parameter_definition is None
    definition = current_definition(factory)
    assert definition == DEFAULT_DEFINITION and definition is not DEFAULT_DEFINITION
    definition[LS_TYPE]["*"]["properties"]["typeProperties"]["url"] = "-"
    assert DEFAULT_DEFINITION[LS_TYPE]["*"]["properties"]["typeProperties"]["url"] == "="  # a copy

    edited = add_rule(current_definition(factory), interval_rule())
    result = preview(factory, edited)
    assert isinstance(result, RulePreview)
    assert names(result.added) == ["TR_Daily_interval"]
    assert result.removed == () and result.changed == ()
    # The default's linked-service rule still applies with the edited definition as a custom file.
    new_export = export_factory(_with_definition(factory, edited))
    url = by_name(new_export.parameters)["LS_Blob_properties_typeProperties_url"]
    assert url.default == "https://dev.example.net/"
    assert result.parameter_count == len(new_export.parameters)


def _with_definition(factory: Factory, definition: dict[str, Any]) -> Factory:
    return dataclasses.replace(factory, parameter_definition=definition, parameter_definition_path=DEFINITION_FILE)


def test_a_factory_with_a_file_edits_that_file(tmp_path: Path) -> None:
    own = {TRIGGER_TYPE: {"properties": {"typeProperties": {"recurrence": {"frequency": "="}}}}}
    factory = small_factory(tmp_path / "adf", own)
    assert current_definition(factory) == own
    assert [r.text() for r in list_rules(current_definition(factory))] == ["="]


# --- adding -------------------------------------------------------------------------------------------------------


def test_added_rule_makes_a_parameter_with_name_type_and_default(tmp_path: Path) -> None:
    factory = small_factory(tmp_path / "adf")
    result = preview(factory, add_rule(current_definition(factory), interval_rule()))
    (parameter,) = result.added
    assert (parameter.name, parameter.type, parameter.default, parameter.required) == (
        "TR_Daily_interval",
        "int",
        1,
        False,
    )
    assert parameter.path == ("properties", "typeProperties", "recurrence", "interval")
    assert result.warnings == ()


def test_dash_rule_makes_a_required_parameter_without_default(tmp_path: Path) -> None:
    factory = small_factory(tmp_path / "adf")
    rule = Rule(RuleTarget.parse("trigger", "properties.typeProperties.recurrence.frequency"), "-")
    (parameter,) = preview(factory, add_rule(current_definition(factory), rule)).added
    assert parameter.name == "TR_Daily_properties_typeProperties_recurrence_frequency"
    assert parameter.required and not parameter.has_default
    assert parameter.template_entry() == {"type": "string"}


def test_subtype_rule_applies_only_to_that_type(tmp_path: Path) -> None:
    factory = small_factory(tmp_path / "adf")
    rule = Rule(RuleTarget.parse("linkedService", "properties.typeProperties.authenticationType", "AzureSqlDatabase"))
    definition = add_rule(current_definition(factory), rule)
    assert definition[LS_TYPE]["AzureSqlDatabase"] == {"properties": {"typeProperties": {"authenticationType": "="}}}
    assert list(definition[LS_TYPE]) == ["*", "Odbc", "AzureSqlDatabase"]
    result = preview(factory, definition)
    assert names(result.added) == ["LS_Sql_properties_typeProperties_authenticationType"]
    assert result.added[0].default == "SystemAssignedManagedIdentity"
    # The same rule for every subtype reaches the lake too.
    every = add_rule(current_definition(factory), Rule(RuleTarget(LS_TYPE, rule.target.path)))
    assert sorted(names(preview(factory, every).added)) == [
        "LS_Blob_properties_typeProperties_authenticationType",
        "LS_Sql_properties_typeProperties_authenticationType",
    ]


def test_array_rule_with_naming_property_names_items_by_pipeline(tmp_path: Path) -> None:
    factory = small_factory(tmp_path / "adf", {})
    target = RuleTarget.parse("trigger", "properties.pipelines[].parameters.*")
    assert target.path == ("properties", "pipelines", "[]", "parameters", "*")
    definition = add_rule({}, Rule(target, naming="pipelineReference.referenceName"))
    assert definition == {
        TRIGGER_TYPE: {"properties": {"pipelines": [{"parameters": {"*": "="}}, "pipelineReference.referenceName"]}}
    }
    result = preview(factory, definition)
    assert names(result.added) == [
        "TR_Daily_properties_PL_Copy_parameters_day",
        "TR_Daily_properties_PL_Copy_parameters_batch",
    ]
    assert [p.default for p in result.added] == ["mon", 500]
    assert [p.type for p in result.added] == ["string", "int"]
    # Without naming the items are named by index.
    by_index = add_rule({}, Rule(target))
    assert by_index == {TRIGGER_TYPE: {"properties": {"pipelines": [{"parameters": {"*": "="}}]}}}
    assert names(preview(factory, by_index).added)[0] == "TR_Daily_properties_0_parameters_day"


def test_naming_none_keeps_the_arrays_naming_and_empty_drops_it() -> None:
    target = RuleTarget.parse("trigger", "properties.pipelines[].parameters.*")
    kept = add_rule(DEFAULT_DEFINITION, Rule(target, "-"))
    assert kept[TRIGGER_TYPE]["properties"]["pipelines"] == [
        {"parameters": {"*": "-"}},
        "pipelineReference.referenceName",
    ]
    dropped = add_rule(DEFAULT_DEFINITION, Rule(target, "-", naming=""))
    assert dropped[TRIGGER_TYPE]["properties"]["pipelines"] == [{"parameters": {"*": "-"}}]
    changed = add_rule(DEFAULT_DEFINITION, Rule(target, naming="pipelineReference.type"))
    assert changed[TRIGGER_TYPE]["properties"]["pipelines"][1] == "pipelineReference.type"
    with pytest.raises(PortalError) as info:
        add_rule({}, Rule(RuleTarget.parse("trigger", "properties.x"), naming="a.b"))
    assert info.value.code == "PARAM_RULE" and "'[]'" in info.value.what


def test_array_of_plain_items_takes_a_string_item_rule() -> None:
    definition = add_rule({}, Rule(RuleTarget.parse("managedPrivateEndpoint", "properties.fqdns[]")))
    assert definition == {
        "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints": {
            "properties": {"fqdns": ["="]}
        }
    }


def test_replacing_a_rules_action_changes_the_parameter(tmp_path: Path) -> None:
    factory = small_factory(tmp_path / "adf")
    target = RuleTarget.parse("linkedService", "properties.typeProperties.url")
    definition = add_rule(current_definition(factory), Rule(target, "-"))
    assert definition[LS_TYPE]["*"]["properties"]["typeProperties"]["url"] == "-"
    # Replaced in place: the key keeps its position and there is still one rule there.
    assert list(definition[LS_TYPE]["*"]["properties"]["typeProperties"]) == list(
        DEFAULT_DEFINITION[LS_TYPE]["*"]["properties"]["typeProperties"]
    )
    assert [r for r in list_rules(definition) if r.target == target] == [Rule(target, "-")]
    result = preview(factory, definition)
    assert result.added == () and result.removed == ()
    ((old, new),) = result.changed
    assert old.name == new.name == "LS_Blob_properties_typeProperties_url"
    assert (old.required, old.has_default) == (False, True) and (new.required, new.has_default) == (True, False)


# --- removing -----------------------------------------------------------------------------------------------------


def test_removing_a_rule_lists_the_removed_parameters(tmp_path: Path) -> None:
    factory = small_factory(tmp_path / "adf")
    target = RuleTarget.parse("linkedService", "properties.typeProperties.server")
    definition = remove_rule(current_definition(factory), target)
    assert "server" not in definition[LS_TYPE]["*"]["properties"]["typeProperties"]
    result = preview(factory, definition)
    assert names(result.removed) == ["LS_Sql_properties_typeProperties_server"]
    assert result.added == () and result.changed == ()
    assert result.parameter_count == len(export_factory(factory).parameters) - 1


def test_removal_prunes_what_it_empties_but_not_other_empty_entries() -> None:
    odbc = RuleTarget.parse("linkedService", "properties.typeProperties.userName", "Odbc")
    once = remove_rule(DEFAULT_DEFINITION, odbc)
    assert once[LS_TYPE]["Odbc"] == {"properties": {"typeProperties": {"connectionString": {"secretName": "="}}}}
    twice = remove_rule(
        once, RuleTarget.parse("linkedService", "properties.typeProperties.connectionString.secretName", "Odbc")
    )
    assert list(twice[LS_TYPE]) == ["*"]  # the emptied subtype entry is gone
    assert twice["Microsoft.DataFactory/factories/pipelines"] == {}  # untouched empty entries stay
    runtime = remove_rule(
        DEFAULT_DEFINITION,
        RuleTarget.parse(
            "integrationRuntime",
            "properties.typeProperties.computeProperties.dataFlowProperties.externalComputeInfo[].accessToken",
        ),
    )
    assert (
        "computeProperties"
        not in runtime["Microsoft.DataFactory/factories/integrationRuntimes"]["properties"]["typeProperties"]
    )  # the array and the objects it sat in
    scope: Any = DEFAULT_DEFINITION
    for dotted in (
        "properties.pipelines[].parameters.*",
        "properties.pipeline.parameters.*",
        "properties.typeProperties.scope",
    ):
        scope = remove_rule(scope, RuleTarget.parse("trigger", dotted))
    assert TRIGGER_TYPE not in scope  # the resource-type entry goes when its last rule does
    assert list(scope) == [k for k in DEFAULT_DEFINITION if k != TRIGGER_TYPE]


def test_removing_a_missing_rule_is_refused() -> None:
    cases = [
        (
            RuleTarget.parse("linkedService", "properties.typeProperties.nope"),
            "nothing at properties.typeProperties.nope",
        ),
        (RuleTarget.parse("linkedService", "properties.typeProperties"), "holds rules"),
        (RuleTarget.parse("linkedService", "properties.typeProperties.url", "AzureSqlDatabase"), "'AzureSqlDatabase'"),
        (RuleTarget.parse("adfcdc", "properties.x"), "no rules for Microsoft.DataFactory/factories/adfcdcs"),
        (RuleTarget.parse("trigger", "properties.pipeline[].parameters"), "not an array rule"),
    ]
    for target, why in cases:
        with pytest.raises(PortalError) as info:
            remove_rule(DEFAULT_DEFINITION, target)
        assert info.value.code == "RULE_NOT_FOUND", target
        assert why in info.value.what and info.value.where == target.describe()


# --- refusals -----------------------------------------------------------------------------------------------------


def test_conflicts_name_the_exact_place() -> None:
    url = "Microsoft.DataFactory/factories/linkedServices [*] → properties.typeProperties.url"
    with pytest.raises(PortalError) as info:
        add_rule(DEFAULT_DEFINITION, Rule(RuleTarget.parse("linkedService", "properties.typeProperties.url.y")))
    assert info.value.code == "RULE_CONFLICT" and info.value.where == url
    assert "already the rule '='" in info.value.what and "properties.typeProperties.url.y" in info.value.what

    with pytest.raises(PortalError) as info:
        add_rule(DEFAULT_DEFINITION, Rule(RuleTarget.parse("trigger", "properties.pipelines.x")))
    assert info.value.code == "RULE_CONFLICT"
    assert info.value.where == "Microsoft.DataFactory/factories/triggers → properties.pipelines"
    assert "array rule" in info.value.what and "properties.pipelines[]" in (info.value.hint or "")

    with pytest.raises(PortalError) as info:
        add_rule(DEFAULT_DEFINITION, Rule(RuleTarget.parse("trigger", "properties.pipeline[].x")))
    assert info.value.code == "RULE_CONFLICT"
    assert info.value.where == "Microsoft.DataFactory/factories/triggers → properties.pipeline"
    assert "not an array rule" in info.value.what

    with pytest.raises(PortalError) as info:
        add_rule(DEFAULT_DEFINITION, Rule(RuleTarget.parse("linkedService", "properties.typeProperties")))
    assert info.value.code == "RULE_CONFLICT" and info.value.where.endswith("→ properties.typeProperties")
    assert "37 rule(s)" in info.value.what

    with pytest.raises(PortalError) as info:
        add_rule(
            DEFAULT_DEFINITION,
            Rule(
                RuleTarget.parse(
                    "integrationRuntime",
                    "properties.typeProperties.computeProperties.dataFlowProperties.externalComputeInfo[]",
                )
            ),
        )
    assert info.value.code == "RULE_CONFLICT"
    assert info.value.where.endswith(
        "→ properties.typeProperties.computeProperties.dataFlowProperties.externalComputeInfo[]"
    )
    with pytest.raises(PortalError) as info:
        add_rule(
            DEFAULT_DEFINITION,
            Rule(
                RuleTarget.parse(
                    "integrationRuntime",
                    "properties.typeProperties."
                    "computeProperties.dataFlowProperties.externalComputeInfo[]."
                    "accessToken.x",
                )
            ),
        )
    assert info.value.where.endswith("externalComputeInfo[].accessToken")
    assert "already the rule '-::secureString'" in info.value.what
    # Beside those places the same definition takes rules.
    assert add_rule(DEFAULT_DEFINITION, Rule(RuleTarget.parse("trigger", "properties.typeProperties.x")))[TRIGGER_TYPE][
        "properties"
    ]["typeProperties"] == {"scope": "=", "x": "="}


def test_subtype_rules_need_a_definition_keyed_by_subtype() -> None:
    unsubtyped = {"Microsoft.DataFactory/factories/credentials": {"properties": {"typeProperties": {"token": "="}}}}
    every = add_rule(unsubtyped, Rule(RuleTarget.parse("credential", "properties.typeProperties.x")))
    assert every["Microsoft.DataFactory/factories/credentials"]["properties"]["typeProperties"] == {
        "token": "=",
        "x": "=",
    }
    with pytest.raises(PortalError) as info:
        add_rule(unsubtyped, Rule(RuleTarget.parse("credential", "properties.typeProperties.x", "ServicePrincipal")))
    assert info.value.code == "RULE_CONFLICT" and "not keyed by subtype" in info.value.what
    # An empty definition keys credentials as ADF's default does.
    assert add_rule({}, Rule(RuleTarget.parse("credential", "properties.typeProperties.x"))) == {
        "Microsoft.DataFactory/factories/credentials": {"*": {"properties": {"typeProperties": {"x": "="}}}}
    }


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"action": "+"}, "'+'"),
        ({"action": ""}, "''"),
        ({"action": "=", "type": "float"}, "'float'"),
        ({"action": "-", "name": "a:int"}, "':'"),
        ({"action": "=", "name": "-"}, "'-'"),
    ],
)
def test_invalid_rules_are_refused_naming_the_target(kwargs: dict[str, Any], said: str) -> None:
    rule = Rule(RuleTarget.parse("trigger", "properties.typeProperties.recurrence.interval"), **kwargs)
    for attempt in (rule.text, lambda: add_rule({}, rule)):
        with pytest.raises(PortalError) as info:
            attempt()
        assert info.value.code == "PARAM_RULE"
        assert info.value.where == (
            "Microsoft.DataFactory/factories/triggers → properties.typeProperties.recurrence.interval"
        )
        assert said in info.value.what


def test_rule_text_is_the_exact_rule_string() -> None:
    target = RuleTarget.parse("linkedService", "properties.typeProperties.connectionString")
    assert Rule(target).text() == "="
    assert Rule(target, "-", "name").text() == "-:name"
    assert Rule(target, "=", "-freq", "int").text() == "=:-freq:int"
    assert Rule(target, "|", "-connectionString", "securestring").text() == "|:-connectionString:secureString"
    assert Rule(target, "-", type="SECURESTRING") == Rule(target, "-", type="secureString")
    assert Rule(target, "-", type="secureString").text() == "-::secureString"


@pytest.mark.parametrize("dotted", ["", " ", "a..b", ".a", "a.", "a[0]", "[]", "a.[]", "a[][]", "a[]b", "a]"])
def test_bad_paths_are_refused(dotted: str) -> None:
    with pytest.raises(PortalError) as info:
        RuleTarget.parse("trigger", dotted)
    assert info.value.code == "RULE_TARGET"


def test_targets_map_short_names_and_subtypes() -> None:
    short = {
        "linkedService": LS_TYPE,
        "dataset": "Microsoft.DataFactory/factories/datasets",
        "pipeline": "Microsoft.DataFactory/factories/pipelines",
        "trigger": TRIGGER_TYPE,
        "integrationRuntime": "Microsoft.DataFactory/factories/integrationRuntimes",
        "dataflow": "Microsoft.DataFactory/factories/dataflows",
        "credential": "Microsoft.DataFactory/factories/credentials",
        "managedPrivateEndpoint": "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints",
        "factory": "Microsoft.DataFactory/factories",
        "globalParameters": "Microsoft.DataFactory/factories/globalparameters",
    }
    for name, arm in short.items():
        assert RuleTarget(name, ("properties", "x")).resource_type == arm
    assert RuleTarget("microsoft.datafactory/factories/LINKEDSERVICES", ("properties",)).resource_type == LS_TYPE
    assert RuleTarget("linkedService", ("properties",)).subtype == "*"
    assert RuleTarget("trigger", ("properties",), "*") == RuleTarget("trigger", ("properties",))
    assert (
        RuleTarget.parse("trigger", "properties.pipelines[].parameters.*").dotted
        == "properties.pipelines[].parameters.*"
    )
    for bad in ("nothing", "Microsoft.Sql/servers"):
        with pytest.raises(PortalError) as info:
            RuleTarget(bad, ("properties",))
        assert info.value.code == "RULE_TARGET"
    with pytest.raises(PortalError):
        RuleTarget("trigger", "properties.x")  # type: ignore[arg-type]
    with pytest.raises(PortalError) as info:
        add_rule({}, Rule(RuleTarget.parse("trigger", "typeProperties.x")))
    assert info.value.code == "RULE_TARGET" and "properties" in (info.value.hint or "")


def test_resource_types_are_found_in_any_letter_case() -> None:
    definition = {"microsoft.datafactory/factories/TRIGGERS": {"properties": {"a": "="}}}
    edited = add_rule(definition, Rule(RuleTarget.parse("trigger", "properties.b"), "-"))
    assert edited == {"microsoft.datafactory/factories/TRIGGERS": {"properties": {"a": "=", "b": "-"}}}
    assert remove_rule(edited, RuleTarget.parse("trigger", "properties.a")) == {
        "microsoft.datafactory/factories/TRIGGERS": {"properties": {"b": "-"}}
    }


# --- purity and the file's text -----------------------------------------------------------------------------------


def test_inputs_are_never_mutated(tmp_path: Path) -> None:
    factory = small_factory(tmp_path / "adf")
    definition = current_definition(factory)
    snapshot = copy.deepcopy(definition)
    edits = [
        lambda d: add_rule(d, interval_rule()),
        lambda d: add_rule(d, Rule(RuleTarget.parse("trigger", "properties.pipelines[].parameters.*"), "-", naming="")),
        lambda d: add_rule(d, Rule(RuleTarget.parse("linkedService", "properties.typeProperties.x", "Odbc"))),
        lambda d: remove_rule(d, RuleTarget.parse("linkedService", "properties.typeProperties.url")),
        lambda d: remove_rule(d, RuleTarget.parse("dataset", "properties.typeProperties.fileName")),
    ]
    for edit in edits:
        changed = edit(definition)
        assert changed != definition
        assert definition == snapshot
    assert snapshot == DEFAULT_DEFINITION
    preview(factory, add_rule(definition, interval_rule()))
    assert definition == snapshot and factory.parameter_definition is None


def test_definition_text_round_trips_with_order_and_four_spaces() -> None:
    definition = add_rule(DEFAULT_DEFINITION, interval_rule())
    definition = add_rule(definition, Rule(RuleTarget.parse("adfcdc", "properties.b")))
    text = definition_text(definition)
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert json.loads(text) == definition
    assert list(json.loads(text)) == list(definition)
    assert list(definition)[-1] == "Microsoft.DataFactory/factories/adfcdcs"  # new entries go last
    assert text.splitlines()[1] == '    "Microsoft.DataFactory/factories": {'
    assert text.splitlines()[2] == '        "properties": {'
    assert "\t" not in text
    assert definition_text({"x": 1}, indent="\t") == '{\n\t"x": 1\n}\n'

    def order(value: Any) -> Any:
        if isinstance(value, dict):
            return [(k, order(v)) for k, v in value.items()]
        if isinstance(value, list):
            return [order(v) for v in value]
        return value

    assert order(json.loads(text)) == order(definition)


def test_list_rules_finds_every_leaf_of_the_default_and_text_round_trips() -> None:
    rules = list_rules(DEFAULT_DEFINITION)
    assert len(rules) == len(leaves(DEFAULT_DEFINITION)) == 63
    assert len(set(rules)) == len(rules)
    for rule in rules:
        assert rule.text() == at(copy.deepcopy(dict(DEFAULT_DEFINITION)), rule.target), rule
    trigger = [r for r in rules if r.target.dotted == "properties.pipelines[].parameters.*"]
    assert [r.naming for r in trigger] == ["pipelineReference.referenceName"]
    assert all(r.naming is None for r in rules if "[]" not in r.target.path)
    odbc = [r.target.dotted for r in rules if r.target.subtype == "Odbc"]
    assert odbc == ["properties.typeProperties.userName", "properties.typeProperties.connectionString.secretName"]
    # Every listed rule can be removed, and adding it back gives an equal set of rules.
    for rule in rules:
        assert set(list_rules(add_rule(remove_rule(DEFAULT_DEFINITION, rule.target), rule))) == set(rules)


def test_list_rules_skips_values_that_are_no_rule_and_refuses_broken_ones() -> None:
    definition = {TRIGGER_TYPE: {"properties": {"type": "BlobEventsTrigger", "x": "=", "y": None}}}
    assert [r.target.dotted for r in list_rules(definition)] == ["properties.x"]
    for broken in ("=:a:float", 5):
        with pytest.raises(PortalError) as info:
            list_rules({TRIGGER_TYPE: {"properties": {"x": broken}}})
        assert info.value.code == "PARAM_RULE" and "properties.x" in info.value.where


# --- preview warnings ---------------------------------------------------------------------------------------------


def test_preview_warns_when_a_new_rule_matches_nothing(tmp_path: Path) -> None:
    factory = small_factory(tmp_path / "adf")
    rule = Rule(RuleTarget.parse("linkedService", "properties.typeProperties.url", "Snowflake"))
    result = preview(factory, add_rule(current_definition(factory), rule))
    assert result.added == () and result.removed == ()
    assert result.warnings == (
        "the rule '=' at Microsoft.DataFactory/factories/linkedServices [Snowflake] → properties.typeProperties.url "
        "matches no property of any Snowflake linked service (the factory has no Snowflake linked services)",
    )
    result = preview(
        factory,
        add_rule(
            current_definition(factory), Rule(RuleTarget.parse("linkedService", "properties.typeProperties.nothing"))
        ),
    )
    assert result.warnings == (
        "the rule '=' at Microsoft.DataFactory/factories/linkedServices [*] → "
        "properties.typeProperties.nothing matches no property of any linked service",
    )


def test_preview_warns_over_256_parameters(tmp_path: Path) -> None:
    root = tmp_path / "adf"
    write(root / "factory" / "adf-big.json", {"name": "adf-big"})
    for index in range(300):
        write(
            root / "linkedService" / f"LS_{index:03}.json",
            {
                "name": f"LS_{index:03}",
                "properties": {"type": "AzureBlobFS", "typeProperties": {"url": f"https://lake{index}.example.net/"}},
            },
        )
    write(root / DEFINITION_FILE, {})
    factory = load_factory(root)
    definition = add_rule(
        current_definition(factory),
        Rule(RuleTarget.parse("linkedService", "properties.typeProperties.url"), "=", "-url"),
    )
    result = preview(factory, definition)
    assert len(result.added) == 300 and result.added[0].name == "LS_000_url"
    assert result.parameter_count == 301
    assert "the template would have 301 parameters; ARM allows at most 256" in result.warnings
    assert len(preview(factory, current_definition(factory)).warnings) == 0


# --- properties ---------------------------------------------------------------------------------------------------

FIRST = st.sampled_from(sorted(RESOURCE_LEVEL_KEYS))
SEGMENT = st.sampled_from(["a", "b", "c", "*"])
TYPES = st.sampled_from(["linkedService", "dataset", "trigger", "credential", "factory", "pipeline"])


@st.composite
def targets(draw: st.DrawFn) -> RuleTarget:
    path = [draw(FIRST)]
    for _ in range(draw(st.integers(0, 5))):
        if path[-1] != "[]" and draw(st.booleans()):
            path.append("[]")
        else:
            path.append(draw(SEGMENT))
    resource_type = draw(TYPES)
    subtype = draw(st.sampled_from([None, "*", "AzureSqlDatabase"])) if resource_type != "factory" else None
    return RuleTarget(resource_type, tuple(path), subtype)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    target = draw(targets())
    naming = draw(st.sampled_from([None, "x", "x.name"])) if "[]" in target.path else None
    return Rule(
        target,
        draw(st.sampled_from(["=", "-", "|"])),
        draw(st.sampled_from(["", "-short", "other"])),
        draw(st.sampled_from([None, "string", "int", "secureString", "object"])),
        naming,
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(rules())
def test_add_then_remove_on_an_empty_definition_is_empty(rule: Rule) -> None:
    added = add_rule({}, rule)
    assert list_rules(added) == [rule]
    assert at(added, rule.target) == rule.text()
    assert json.loads(definition_text(added)) == added
    assert remove_rule(added, rule.target) == {}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rules(), min_size=1, max_size=6))
def test_added_rules_are_listed_and_removable_in_any_order(sequence: list[Rule]) -> None:
    definition: dict[str, Any] = {}
    kept: dict[RuleTarget, Rule] = {}
    for rule in sequence:
        try:
            definition = add_rule(definition, rule)
        except PortalError as error:
            assert error.code == "RULE_CONFLICT"
            continue
        kept[rule.target] = rule
        listed = list_rules(definition)
        assert rule in listed or (
            rule.naming is None and any(r.target == rule.target and r.text() == rule.text() for r in listed)
        )
    assert {r.target for r in list_rules(definition)} == set(kept)
    for target in reversed(list(kept)):
        definition = remove_rule(definition, target)
    assert definition == {}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(rules())
def test_add_then_remove_on_the_default_keeps_its_rules(rule: Rule) -> None:
    before = set(list_rules(DEFAULT_DEFINITION))
    if any(r.target == rule.target for r in before):
        return
    try:
        added = add_rule(DEFAULT_DEFINITION, rule)
    except PortalError as error:
        assert error.code == "RULE_CONFLICT"
        return
    assert rule.target in {r.target for r in list_rules(added)}
    if rule.naming is None:
        assert set(list_rules(remove_rule(added, rule.target))) == before
