"""The parameterization rules (`arm-template-parameters-definition.json`), by example and by property."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from portal.adf.parameterization import (
    DEFAULT_DEFINITION,
    ParameterSink,
    RuleApplier,
    RuleSpec,
    rules_for,
)
from portal.adf.secrets import linked_service_secure_strings
from portal.errors import PortalError

LS_TYPE = "Microsoft.DataFactory/factories/linkedServices"
TRIGGER_TYPE = "Microsoft.DataFactory/factories/triggers"


def apply(resource: dict[str, Any], rules: Any, prefix: str = "obj") -> tuple[dict[str, Any], ParameterSink]:
    resource = copy.deepcopy(resource)
    sink = ParameterSink()
    RuleApplier(prefix=prefix, object_name=prefix, resource_type=LS_TYPE, sink=sink, where="defs.json").apply(
        resource, rules
    )
    return resource, sink


# --- examples -------------------------------------------------------------------------------------------------


def test_equals_keeps_value_as_default_and_names_by_path() -> None:
    out, sink = apply(
        {"properties": {"typeProperties": {"url": "https://a"}}},
        {"properties": {"typeProperties": {"url": "="}}},
        prefix="LS1",
    )
    assert out["properties"]["typeProperties"]["url"] == "[parameters('LS1_properties_typeProperties_url')]"
    parameter = sink.parameters["LS1_properties_typeProperties_url"]
    assert parameter.template_entry() == {"type": "string", "defaultValue": "https://a"}


def test_dash_makes_the_parameter_required_without_default() -> None:
    _, sink = apply({"properties": {"x": 5}}, {"properties": {"x": "-"}})
    parameter = sink.parameters["obj_properties_x"]
    assert parameter.template_entry() == {"type": "int"}
    assert parameter.required and parameter.file_value() == ""


def test_name_parts_short_and_replacing() -> None:
    _, sink = apply(
        {"properties": {"recurrence": {"interval": 1, "frequency": "Day"}}},
        {"properties": {"recurrence": {"interval": "=:triggerSuffix:int", "frequency": "=:-freq"}}},
    )
    assert list(sink.parameters) == ["obj_properties_recurrence_triggerSuffix", "obj_freq"]
    assert sink.parameters["obj_properties_recurrence_triggerSuffix"].type == "int"


def test_star_applies_at_one_level_and_siblings_override() -> None:
    out, sink = apply(
        {"properties": {"a": "1", "b": 2, "nested": {"c": "3"}}},
        {"properties": {"*": "=", "b": "=:-bee:string"}},
    )
    assert list(sink.parameters) == ["obj_properties_a", "obj_bee"]
    # One level only, and a rule without '::object' leaves an object alone (ashish-bj__adf-ashish): the nested
    # object is neither walked into nor parameterized whole.
    assert sink.parameters["obj_bee"].type == "string"
    assert out["properties"]["nested"] == {"c": "3"}


def test_an_object_is_parameterized_only_with_the_object_type() -> None:
    out, sink = apply(
        {"properties": {"nested": {"c": "3"}, "list": [1, 2]}}, {"properties": {"nested": "=::object", "list": "="}}
    )
    assert sink.parameters["obj_properties_nested"].template_entry() == {"type": "object", "defaultValue": {"c": "3"}}
    assert out["properties"]["nested"] == "[parameters('obj_properties_nested')]"
    # Arrays need no type (fqdns and dependsOn rules in the corpus make array parameters).
    assert sink.parameters["obj_properties_list"].template_entry() == {"type": "array", "defaultValue": [1, 2]}


def test_array_rule_with_naming_property() -> None:
    trigger = {
        "properties": {
            "pipelines": [
                {"pipelineReference": {"referenceName": "PL_A"}, "parameters": {"day": "mon"}},
                {"pipelineReference": {"referenceName": "PL_B"}, "parameters": {"day": "tue", "n": 3}},
            ]
        }
    }
    _, sink = apply(
        trigger,
        {"properties": {"pipelines": [{"parameters": {"*": "="}}, "pipelineReference.referenceName"]}},
        prefix="TR",
    )
    assert list(sink.parameters) == [
        "TR_properties_PL_A_parameters_day",
        "TR_properties_PL_B_parameters_day",
        "TR_properties_PL_B_parameters_n",
    ]


def test_array_rule_without_naming_property_uses_the_index() -> None:
    pipeline = {"properties": {"activities": [{"name": "A"}, {"name": "B"}]}}
    _, sink = apply(pipeline, {"properties": {"activities": [{"name": "="}]}}, prefix="PL")
    assert [p.default for p in sink.parameters.values()] == ["A", "B"]
    assert list(sink.parameters) == ["PL_properties_0_name", "PL_properties_1_name"]


def test_expression_values_keep_their_wrapper() -> None:
    out, sink = apply(
        {"properties": {"folderPath": {"value": "@dataset().folder", "type": "Expression"}}},
        {"properties": {"folderPath": "="}},
    )
    assert out["properties"]["folderPath"] == {
        "value": "[parameters('obj_properties_folderPath')]",
        "type": "Expression",
    }
    assert sink.parameters["obj_properties_folderPath"].default == "@dataset().folder"


def test_pipe_on_key_vault_reference_parameterizes_the_secret_name() -> None:
    secret = {
        "type": "AzureKeyVaultSecret",
        "store": {"referenceName": "KV", "type": "LinkedServiceReference"},
        "secretName": "conn",
    }
    out, sink = apply(
        {"properties": {"typeProperties": {"connectionString": secret}}},
        {"properties": {"typeProperties": {"connectionString": "|:-connectionString:secureString"}}},
    )
    name = "obj_properties_typeProperties_connectionString_secretName"
    assert list(sink.parameters) == [name]
    assert sink.parameters[name].template_entry() == {"type": "string", "defaultValue": "conn"}
    assert out["properties"]["typeProperties"]["connectionString"]["secretName"] == f"[parameters('{name}')]"


def test_pipe_on_plain_value_makes_a_secure_string_without_default() -> None:
    out, sink = apply(
        {"properties": {"typeProperties": {"connectionString": "Server=x;Password=hunter2"}}},
        {"properties": {"typeProperties": {"connectionString": "|:-connectionString:secureString"}}},
        prefix="SQL",
    )
    entry = sink.parameters["SQL_connectionString"].template_entry()
    assert entry == {"type": "secureString", "metadata": "Secure string for 'connectionString' of 'SQL'"}
    assert "hunter2" not in repr(sink.parameters) and "hunter2" not in repr(out)


def test_a_subtype_section_replaces_star() -> None:
    rules = rules_for(DEFAULT_DEFINITION, LS_TYPE, "Odbc", "default")
    type_props = rules["properties"]["typeProperties"]
    assert type_props["connectionString"] == {"secretName": "="}  # Odbc's own rule
    assert "url" not in type_props  # `*` does not apply to a subtype with a section of its own
    assert (
        rules_for(DEFAULT_DEFINITION, LS_TYPE, "AzureBlobFS", "default")["properties"]["typeProperties"][
            "connectionString"
        ]
        == "|:-connectionString:secureString"
    )


def test_resource_types_match_case_insensitively() -> None:
    definition = {"microsoft.datafactory/factories/TRIGGERS": {"properties": {"x": "="}}}
    assert rules_for(definition, TRIGGER_TYPE, None, "d") == {"properties": {"x": "="}}


@pytest.mark.parametrize("text", ["", "x", "=:a:b:c", "=:a:float", "+", ":name"])
def test_invalid_rules_are_refused_with_their_place(text: str) -> None:
    with pytest.raises(PortalError) as info:
        RuleSpec.parse(text, "arm-template-parameters-definition.json: triggers → properties.x")
    assert "properties.x" in str(info.value) and repr(text) in str(info.value)


def test_values_that_are_no_rule_are_ignored_and_recorded() -> None:
    out, sink = apply(
        {"properties": {"type": "BlobEventsTrigger", "x": "1"}}, {"properties": {"type": "BlobEventsTrigger", "x": "="}}
    )
    assert out["properties"]["type"] == "BlobEventsTrigger"
    assert list(sink.parameters) == ["obj_properties_x"]
    assert sink.ignored_rules == [(f"defs.json: {LS_TYPE} → properties.type", "BlobEventsTrigger")]


def test_clashing_names_are_numbered_not_merged() -> None:
    _, sink = apply(
        {"properties": {"a": {"x": "1"}, "b": {"x": "2"}}}, {"properties": {"a": {"x": "=:-x"}, "b": {"x": "=:-x"}}}
    )
    assert list(sink.parameters) == ["obj_x", "obj_x_2"]
    assert sink.clashes == [("obj_x", "obj_x_2")]


def test_encrypted_credential_becomes_a_secure_parameter_in_place() -> None:
    sink = ParameterSink()
    type_props = {"functionAppUrl": "https://f", "authentication": "Anonymous", "encryptedCredential": "abc"}
    out = linked_service_secure_strings("AF", "AzureFunction", type_props, sink, LS_TYPE)
    # In the model's order, after authentication (AdarshSingh04__CMS).
    assert list(out) == ["functionAppUrl", "authentication", "functionKey"]
    assert out["functionKey"] == {"type": "SecureString", "value": "[parameters('AF_functionKey')]"}
    assert sink.parameters["AF_functionKey"].metadata == "Secure string for 'functionKey' of 'AF'"


def test_encrypted_credential_with_service_principal() -> None:
    sink = ParameterSink()
    type_props = {
        "connectionString": "Server=s",
        "servicePrincipalId": "id",
        "tenant": "t",
        "encryptedCredential": "abc",
    }
    out = linked_service_secure_strings("DW", "AzureSqlDatabase", type_props, sink, LS_TYPE)
    assert list(out) == ["connectionString", "servicePrincipalId", "servicePrincipalKey", "tenant"]
    # The connection string beside an encrypted credential is a secure string of its own, with no default.
    assert list(sink.parameters) == ["DW_connectionString", "DW_servicePrincipalKey"]
    assert out["connectionString"] == {"type": "SecureString", "value": "[parameters('DW_connectionString')]"}
    assert not sink.parameters["DW_connectionString"].has_default


# --- properties -----------------------------------------------------------------------------------------------

KEYS = st.text(alphabet="abcdefgh", min_size=1, max_size=4)
SCALARS = st.one_of(st.text(alphabet="xyz/:@ .", max_size=8), st.integers(-5, 5), st.booleans())
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=12,
)
RESOURCES = st.dictionaries(KEYS, JSON, min_size=1, max_size=5).map(lambda d: {"properties": d})


def _leaf_paths(value: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(value, dict) and value:
        return [p for key, child in value.items() for p in _leaf_paths(child, path + (key,))]
    return [path] if path else []


def _rules_for_paths(paths: list[tuple[str, ...]], action: str) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    for path in paths:
        node = rules
        for key in path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                break
        else:
            node.setdefault(path[-1], action)
    return rules


def _substitute(value: Any, defaults: dict[str, Any]) -> Any:
    if isinstance(value, str):
        match = re.fullmatch(r"\[parameters\('(.*)'\)\]", value)
        return copy.deepcopy(defaults[match.group(1)]) if match else value
    if isinstance(value, dict):
        return {k: _substitute(v, defaults) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, defaults) for v in value]
    return value


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(resource=RESOURCES, data=st.data())
def test_keep_rules_round_trip_to_the_original(resource: dict[str, Any], data: st.DataObject) -> None:
    """Putting every `=` parameter's default back where its expression is gives the original resource."""
    leaves = [p for p in _leaf_paths(resource) if p[0] == "properties"]
    chosen = data.draw(st.lists(st.sampled_from(leaves), unique=True) if leaves else st.just([]))
    out, sink = apply(resource, _rules_for_paths(chosen, "="))
    defaults = {name: p.default for name, p in sink.parameters.items()}
    assert _substitute(out, defaults) == resource
    assert len(sink.parameters) == len({p.path for p in sink.parameters.values()})
    for parameter in sink.parameters.values():
        assert parameter.name.startswith("obj_properties_")
        assert (
            parameter.type
            == {bool: "bool", int: "int", dict: "object", list: "array", str: "string"}[type(parameter.default)]
        )


@settings(max_examples=100, deadline=None)
@given(resource=RESOURCES)
def test_star_touches_exactly_the_keys_of_its_level(resource: dict[str, Any]) -> None:
    out, sink = apply(resource, {"properties": {"*": "-"}})
    assert set(out["properties"]) == set(resource["properties"])
    # Objects are left alone by a rule without '::object'; every other value becomes a parameter.
    touched = [k for k, v in resource["properties"].items() if not isinstance(v, dict)]
    assert all(out["properties"][k] == resource["properties"][k] for k in resource["properties"] if k not in touched)
    assert all(
        isinstance(out["properties"][k], str) and out["properties"][k].startswith("[parameters('") for k in touched
    )
    assert [p.path for p in sink.parameters.values()] == [("properties", k) for k in touched]
    assert not any(p.has_default for p in sink.parameters.values())


@settings(max_examples=100, deadline=None)
@given(
    names=st.lists(st.text(alphabet="ABCxyz_", min_size=1, max_size=5), min_size=1, max_size=6, unique=True),
    values=st.data(),
)
def test_array_items_are_named_by_the_naming_property(names: list[str], values: st.DataObject) -> None:
    items = [{"ref": {"name": n}, "parameters": {"p": values.draw(SCALARS)}} for n in names]
    _, sink = apply({"properties": {"list": items}}, {"properties": {"list": [{"parameters": {"p": "="}}, "ref.name"]}})
    assert list(sink.parameters) == [f"obj_properties_{n}_parameters_p" for n in names]
    assert [p.default for p in sink.parameters.values()] == [i["parameters"]["p"] for i in items]


@settings(deadline=None)
@given(
    action=st.sampled_from(["=", "-", "|"]),
    name=st.sampled_from(["", "n", "-short"]),
    type_name=st.sampled_from(["", "string", "SecureString", "int", "bool", "object", "secureObject", "array"]),
)
def test_rule_text_parses(action: str, name: str, type_name: str) -> None:
    text = action + (f":{name}" if name or type_name else "") + (f":{type_name}" if type_name else "")
    spec = RuleSpec.parse(text, "here")
    assert spec.action == action and spec.name == name
    assert (spec.type or "").lower() == type_name.lower()


def test_default_rules_name_trigger_parameters_by_pipeline() -> None:
    trigger = {
        "properties": {
            "pipelines": [
                {
                    "pipelineReference": {"referenceName": "PL_Control", "type": "PipelineReference"},
                    "parameters": {"LoadType": "full"},
                }
            ]
        }
    }
    rules = rules_for(DEFAULT_DEFINITION, TRIGGER_TYPE, "ScheduleTrigger", "default")
    _, sink = apply(trigger, rules, prefix="TRG_Daily")
    assert list(sink.parameters) == ["TRG_Daily_properties_PL_Control_parameters_LoadType"]


def test_pipe_on_a_masked_secure_string_keeps_the_wrapper_and_no_value() -> None:
    out, sink = apply(
        {"properties": {"typeProperties": {"sasToken": {"type": "SecureString", "value": "**********"}}}},
        {"properties": {"typeProperties": {"sasToken": "|"}}},
        prefix="LS",
    )
    assert out["properties"]["typeProperties"]["sasToken"] == {
        "type": "SecureString",
        "value": "[parameters('LS_sasToken')]",
    }
    assert sink.parameters["LS_sasToken"].template_entry() == {
        "type": "secureString",
        "metadata": "Secure string for 'sasToken' of 'LS'",
    }


@pytest.mark.parametrize(
    ("ls_type", "type_props", "expected"),
    [
        # Seen in Publish output: the secret follows the identity it belongs to.
        (
            "SqlServer",
            {"connectionString": "Data Source=s", "userName": "u", "encryptedCredential": "x"},
            ["connectionString", "userName", "password"],
        ),
        # The SDK model's order: secretAccessKey is declared after authenticationType.
        (
            "AmazonS3",
            {"accessKeyId": "k", "authenticationType": "AccessKey", "encryptedCredential": "x"},
            ["accessKeyId", "authenticationType", "secretAccessKey"],
        ),
        (
            "AzureDatabricks",
            {"domain": "https://adb", "existingClusterId": "c", "encryptedCredential": "x"},
            ["domain", "accessToken", "existingClusterId"],
        ),
        (
            "FileServer",
            {"host": "\\\\share", "userId": "u", "encryptedCredential": "x"},
            ["host", "userId", "password"],
        ),
        ("AzureBlobFS", {"url": "https://lake", "encryptedCredential": "x"}, ["url", "accountKey"]),
        (
            "AzureBlobStorage",
            {
                "serviceEndpoint": "https://b",
                "servicePrincipalId": "id",
                "servicePrincipalCredentialType": "ServicePrincipalKey",
                "accountKind": "StorageV2",
                "encryptedCredential": "x",
            },
            # The blob connector's model has no servicePrincipalCredential: its secret is servicePrincipalKey.
            [
                "serviceEndpoint",
                "servicePrincipalId",
                "servicePrincipalKey",
                "servicePrincipalCredentialType",
                "accountKind",
            ],
        ),
        (
            "RestService",
            {"url": "https://api", "authenticationType": "Anonymous", "encryptedCredential": "x"},
            ["url", "authenticationType"],
        ),
    ],
)
def test_secret_property_per_connector(ls_type: str, type_props: dict[str, Any], expected: list[str]) -> None:
    out = linked_service_secure_strings("LS", ls_type, type_props, ParameterSink(), LS_TYPE)
    assert list(out) == expected
