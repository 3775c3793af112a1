"""The offline ARM expression evaluator: syntax, each function family by example, secrets, errors, properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from portal.adf.expressions import (
    SUPPORTED_FUNCTIONS,
    Call,
    EvaluationContext,
    ExpressionError,
    Index,
    IntegerLiteral,
    Property,
    Secret,
    StringLiteral,
    evaluate_string,
    evaluate_value,
    is_expression,
    parse_expression,
    references_parameters,
    resolve_uri,
    unique_string,
)
from portal.errors import PortalError

SUB = "00000000-0000-0000-0000-000000000000"
SAS = Secret("Key Vault kv-prod / sas-token")
PASSWORD = Secret("environment variable SQL_PASSWORD")


def context(**parameters: Any) -> EvaluationContext:
    return EvaluationContext(parameters=parameters)


def ev(text: str, ctx: EvaluationContext | None = None) -> Any:
    return evaluate_string(text, ctx if ctx is not None else context(), "ARMTemplateForFactory.json: test")


def error(text: str, ctx: EvaluationContext | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        ev(text, ctx)
    return caught.value


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- syntax ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[concat('a')]", True),
        ("[[literal]", False),
        ("[x", False),
        ("plain", False),
        ("", False),
        ("[]", True),
        ("x]", False),
    ],
)
def test_is_expression(text: str, expected: bool) -> None:
    assert is_expression(text) is expected


def test_parse_builds_calls_properties_and_indexes() -> None:
    node = parse_expression("parameters('obj').a.b[0]")
    assert isinstance(node, Index)
    assert node.index == IntegerLiteral(0, 23)
    assert isinstance(node.target, Property) and node.target.name == "b"
    inner = node.target.target
    assert isinstance(inner, Property) and inner.name == "a"
    assert inner.target == Call("parameters", (StringLiteral("obj", 12),), 1)


def test_parse_literals_and_whitespace() -> None:
    assert parse_expression("  'it''s' ") == StringLiteral("it's", 3)
    assert parse_expression("-42") == IntegerLiteral(-42, 1)
    assert parse_expression("concat( 'a' ,\n 'b' )") == Call(
        "concat", (StringLiteral("a", 9), StringLiteral("b", 16)), 1
    )


@pytest.mark.parametrize(
    "text, column, fragment",
    [
        ("concat('a'", 11, "expected ',' or ')'"),
        ("concat('a' 'b')", 12, "expected ',' or ')'"),
        ("'abc", 1, "no closing quote"),
        ("true", 5, "expected '(' after true"),
        ("concat('a')).x", 12, "expected the end of the expression"),
        ("", 1, "the expression is empty"),
        ("concat(1.5)", 8, "decimal numbers"),
        ("concat(#)", 8, "unexpected character '#'"),
        ("parameters('x').", 17, "a property name after '.'"),
        ("parameters('x')[0", 18, "expected ']'"),
    ],
)
def test_syntax_errors_name_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text)
    assert f"column {column}" in caught.value.what
    assert fragment in caught.value.what
    assert caught.value.code == "EXPRESSION"


def test_syntax_error_columns_count_in_the_whole_string() -> None:
    err = error("[concat('a' 'b')]")
    assert "syntax error at column 13" in err.what
    assert "\"[concat('a' 'b')]\"" in err.what
    assert err.where == "ARMTemplateForFactory.json: test"
    assert isinstance(err, PortalError) and err.as_finding().code == "EXPRESSION"


def test_bare_true_hints_at_parentheses() -> None:
    assert "true() with parentheses" in (error("[if(true, 'a', 'b')]").hint or "")


def test_long_expressions_are_shortened_in_messages() -> None:
    text = "[concat(" + ", ".join(["'abcdefghij'"] * 30) + ", foo())]"
    err = error(text)
    assert "unknown function foo" in err.what
    assert text[:100] in err.what and text not in err.what and "..." in err.what


# --- literals and escaping ------------------------------------------------------------------------------------


def test_plain_and_escaped_strings() -> None:
    assert ev("plain text") == "plain text"
    assert ev("[[literal]") == "[literal]"
    assert ev("[[concat('a')]") == "[concat('a')]"
    # Only a string that would otherwise be an expression is escaped: without the closing bracket, ARM keeps it.
    assert ev("[[abc") == "[[abc"
    assert ev("[test] value") == "[test] value"
    assert ev("[abc") == "[abc"


def test_quotes_inside_string_literals() -> None:
    assert ev("['it''s']") == "it's"
    assert ev("[concat('''', 'a', '''')]") == "'a'"
    assert ev("['']") == ""
    assert ev("[42]") == 42
    assert ev("[-7]") == -7


# --- parameters and variables ---------------------------------------------------------------------------------

ADF = EvaluationContext(
    parameters={
        "factoryName": "adf-prod",
        "LS_properties_typeProperties_url": "https://prod.dfs.core.windows.net/",
        "containerUri": "https://stprod.blob.core.windows.net/adf",
        "containerSasToken": SAS,
        "obj": {"a": {"b": [10, {"c": "deep"}]}, "Mixed": 1},
    },
    variables={"factoryId": "[concat('Microsoft.DataFactory/factories/', parameters('factoryName'))]"},
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[concat(parameters('factoryName'), '/PL_Copy')]", "adf-prod/PL_Copy"),
        (
            "[concat(variables('factoryId'), '/datasets/DS_In')]",
            "Microsoft.DataFactory/factories/adf-prod/datasets/DS_In",
        ),
        ("[parameters('LS_properties_typeProperties_url')]", "https://prod.dfs.core.windows.net/"),
        (
            "[resourceId('Microsoft.Resources/deployments', 'x_ArmTemplate_0')]",
            f"/subscriptions/{SUB}/resourceGroups/resource-group/providers/Microsoft.Resources/deployments/x_ArmTemplate_0",
        ),
        ("[parameters('obj').a.b[0]]", 10),
        ("[parameters('obj').a.b[1].c]", "deep"),
        ("[parameters('obj')['a'].b[1]['c']]", "deep"),
        ("[PARAMETERS('FACTORYNAME')]", "adf-prod"),
        ("[parameters('obj').mixed]", 1),
        ("[resourceGroup().location]", "westeurope"),
    ],
)
def test_real_adf_shapes(text: str, expected: Any) -> None:
    assert ev(text, ADF) == expected


def test_linked_template_uri_with_a_secret_sas_token() -> None:
    value = ev("[concat(parameters('containerUri'), '/ArmTemplate_0.json', parameters('containerSasToken'))]", ADF)
    assert value == Secret("concat of Key Vault kv-prod / sas-token")
    assert str(value) == "«secret: concat of Key Vault kv-prod / sas-token»"


def test_parameter_returning_a_secret_is_fine() -> None:
    assert ev("[parameters('containerSasToken')]", ADF) is SAS


def test_parameter_defaults_that_are_expressions_are_evaluated_lazily() -> None:
    ctx = context(
        factoryName="adf-test",
        pipeline="[concat(parameters('factoryName'), '/x')]",
        nested={"url": "[concat('https://', parameters('factoryName'))]", "n": 1},
        broken="[foo()]",
    )
    assert ev("[parameters('pipeline')]", ctx) == "adf-test/x"
    assert ev("[parameters('nested').url]", ctx) == "https://adf-test"
    assert ev("[parameters('nested')]", ctx) == {"url": "https://adf-test", "n": 1}
    # An unused broken default does no harm; a used one reports where it was used from.
    assert ev("[parameters('factoryName')]", ctx) == "adf-test"
    err = error("[parameters('broken')]", ctx)
    assert "unknown function foo" in err.what and "in parameter 'broken'" in err.where


def test_escaped_default_values_are_unescaped() -> None:
    assert ev("[parameters('p')]", context(p="[[test value]")) == "[test value]"


def test_results_are_copies() -> None:
    ctx = context(obj={"a": [1]})
    first = ev("[parameters('obj')]", ctx)
    first["a"].append(2)
    assert ev("[parameters('obj')]", ctx) == {"a": [1]}


def test_variable_cycle_is_an_error() -> None:
    ctx = EvaluationContext(parameters={}, variables={"a": "[variables('b')]", "b": "[concat(variables('a'))]"})
    err = error("[variables('a')]", ctx)
    assert "a cycle: variables('a') → variables('b') → variables('a')" in err.what
    # The context is usable afterwards: nothing is left half-evaluated.
    err_again = error("[variables('b')]", ctx)
    assert "a cycle" in err_again.what


def test_parameter_cycle_through_a_variable() -> None:
    ctx = EvaluationContext(parameters={"p": "[variables('v')]"}, variables={"v": "[parameters('p')]"})
    assert "parameters('p') → variables('v') → parameters('p')" in error("[parameters('p')]", ctx).what


def test_self_reference_is_a_cycle() -> None:
    assert "a cycle" in error("[parameters('p')]", context(p="[parameters('p')]")).what


def test_missing_parameter_and_variable() -> None:
    err = error("[parameters('nope')]", ADF)
    assert "parameter 'nope' is not defined" in err.what
    assert "factoryName" in (err.hint or "")
    assert "variable 'x' is not defined" in error("[variables('x')]", ADF).what


def test_property_and_index_errors() -> None:
    assert "has no property 'zz'" in error("[parameters('obj').zz]", ADF).what
    assert "index 5 is out of range (the array has 2 elements)" in error("[parameters('obj').a.b[5]]", ADF).what
    assert "index -1 is out of range" in error("[parameters('obj').a.b[-1]]", ADF).what
    assert "cannot read property 'x' of a string" in error("[parameters('factoryName').x]", ADF).what
    assert "cannot index a object with a int" in error("[parameters('obj')[0]]", ADF).what
    assert "cannot read property 'x' of «secret" in error("[parameters('containerSasToken').x]", ADF).what


# --- strings --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[concat('a', 'b', 'c')]", "abc"),
        ("[concat('n', 1, true())]", "n1True"),
        ("[concat(createArray(1, 2), createArray(3), createArray())]", [1, 2, 3]),
        ("[format('{0}-{1}', 'a', 2)]", "a-2"),
        ("[format('{{literal}} {0}', 'x')]", "{literal} x"),
        ("[format('{1}{0}{1}', 'a', 'b')]", "bab"),
        (
            "[format('Hello, {0}. Formatted number: {1:N0}', 'User', 8175133)]",
            "Hello, User. Formatted number: 8,175,133",
        ),
        ("[format('{0:D5}|{1:X}|{2,4}|{3,-3}|', 42, 255, 'ab', 'c')]", "00042|FF|  ab|c  |"),
        ("[format('{0}', true())]", "True"),
        ("[replace('123-123-1234', '-', '')]", "1231231234"),
        ("[replace('aAa', 'a', 'b')]", "bAb"),
        ("[toLower('One Two')]", "one two"),
        ("[toUpper('One Two')]", "ONE TWO"),
        ("[trim('  one two  ')]", "one two"),
        ("[substring('one two three', 4, 3)]", "two"),
        ("[substring('abc', 1)]", "bc"),
        ("[substring('abc', 3, 0)]", ""),
        ("[padLeft('123', 10, '0')]", "0000000123"),
        ("[padLeft(7, 3)]", "  7"),
        ("[padLeft('12345', 3, '0')]", "12345"),
        ("[startsWith('abcdef', 'ab')]", True),
        ("[startsWith('abcdef', 'A')]", True),
        ("[startsWith('abcdef', 'e')]", False),
        ("[endsWith('abcdef', 'ef')]", True),
        ("[endsWith('abcdef', 'F')]", True),
        ("[endsWith('abcdef', 'e')]", False),
        ("[indexOf('test', 't')]", 0),
        ("[lastIndexOf('test', 't')]", 3),
        ("[indexOf('abcdef', 'CD')]", 2),
        ("[lastIndexOf('abcdef', 'AB')]", 0),
        ("[indexOf('abcdef', 'z')]", -1),
        ("[indexOf(createArray('a', 'b', 'a'), 'a')]", 0),
        ("[lastIndexOf(createArray('a', 'b', 'a'), 'a')]", 2),
        ("[split('one,two,three', ',')]", ["one", "two", "three"]),
        ("[split('one;two,three', createArray(',', ';'))]", ["one", "two", "three"]),
        ("[split('a,,b', ',')]", ["a", "", "b"]),
        ("[split('abc', ',')]", ["abc"]),
        ("[join(createArray('a', 'b', 'c'), '-')]", "a-b-c"),
        ("[join(createArray(1, true()), ',')]", "1,True"),
        ("[string(true())]", "True"),
        ("[string(false())]", "False"),
        ("[string(5)]", "5"),
        ("[string('x')]", "x"),
        ("[string(createObject('valueA', 10, 'valueB', 'Example Text'))]", '{"valueA":10,"valueB":"Example Text"}'),
        ("[string(createArray('a', 'b', 'c'))]", '["a","b","c"]'),
        ("[string(json('{\"a\": [true, null]}'))]", '{"a":[true,null]}'),
        ("[base64('one, two, three')]", "b25lLCB0d28sIHRocmVl"),
        ("[base64ToString('b25lLCB0d28sIHRocmVl')]", "one, two, three"),
        ('[base64ToJson(base64(\'{"one": "a", "two": "b"}\'))]', {"one": "a", "two": "b"}),
        (
            "[uriComponent('http://contoso.com/resources/nested/azuredeploy.json')]",
            "http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json",
        ),
        (
            "[uriComponentToString('http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json')]",
            "http://contoso.com/resources/nested/azuredeploy.json",
        ),
        ("[uriComponent('a b+c~é')]", "a%20b%2Bc~%C3%A9"),
    ],
)
def test_string_functions(text: str, expected: Any) -> None:
    assert ev(text) == expected


@pytest.mark.parametrize(
    "base, relative, expected",
    [
        # ARM's documented examples.
        ("http://contoso.org/firstpath", "myscript.sh", "http://contoso.org/myscript.sh"),
        ("http://contoso.org/firstpath/", "myscript.sh", "http://contoso.org/firstpath/myscript.sh"),
        ("http://contoso.org/firstpath/azuredeploy.json", "myscript.sh", "http://contoso.org/firstpath/myscript.sh"),
        (
            "http://contoso.org/firstpath/azuredeploy.json/",
            "myscript.sh",
            "http://contoso.org/firstpath/azuredeploy.json/myscript.sh",
        ),
        (
            "http://contoso.com/resources/",
            "nested/azuredeploy.json",
            "http://contoso.com/resources/nested/azuredeploy.json",
        ),
        # RFC 3986 cases.
        ("https://example.com", "users", "https://example.com/users"),
        ("https://example.com/a/b", "/c", "https://example.com/c"),
        ("https://example.com/a/b", "../c?x=1", "https://example.com/c?x=1"),
        ("https://example.com/a?q", "", "https://example.com/a?q"),
        ("https://example.com/a", "//cdn.example.org/x", "https://cdn.example.org/x"),
        ("https://example.com/a", "abfss://c@acct.dfs.core.windows.net/p", "abfss://c@acct.dfs.core.windows.net/p"),
        ("abfss://c@acct.dfs.core.windows.net/raw/in", "out", "abfss://c@acct.dfs.core.windows.net/raw/out"),
    ],
)
def test_uri(base: str, relative: str, expected: str) -> None:
    assert resolve_uri(base, relative) == expected
    assert ev(f"[uri({quote(base)}, {quote(relative)})]") == expected


def test_uri_needs_an_absolute_base() -> None:
    assert "must be absolute" in error("[uri('contoso.org/a', 'b')]").what


@pytest.mark.parametrize(
    "values, expected",
    [
        # Published values of ARM's uniqueString.
        (("test",), "rbgf3xv4ufgzg"),
        (("hello", "world"), "a7wkljktk6wne"),
        (("tyeth",), "zcztcwvu6iyg6"),
    ],
)
def test_unique_string_matches_arm(values: tuple[str, ...], expected: str) -> None:
    assert unique_string(*values) == expected
    assert ev("[uniqueString(" + ", ".join(quote(v) for v in values) + ")]") == expected


def test_unique_string_of_the_resource_group_is_13_letters() -> None:
    value = ev("[uniqueString(resourceGroup().id)]")
    assert len(value) == 13 and value.isalnum() and value == value.lower()


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[substring('abc', 4)]", "start index 4 is outside the string"),
        ("[substring('abc', -1)]", "start index -1"),
        ("[substring('1234567890', 0, 11)]", "index 0, length 11, string length 10"),
        ("[substring('abc', 0, -1)]", "length -1"),
        ("[format('{1}', 'a')]", "placeholder {1} has no value"),
        ("[format('{0', 'a')]", "without a matching '}'"),
        ("[format('a}b')]", "without a matching '{'"),
        ("[format('{0:yyyy}', 'a')]", "':yyyy' is not supported"),
        ("[format('{0}', createArray(1))]", "value 0 is an array"),
        ("[replace('abc', '', 'x')]", "the string to replace is empty"),
        ("[concat('a', createArray('b'))]", "argument 2 is a array"),
        ("[concat(createArray('b'), 'a')]", "argument 2 is a string"),
        ("[concat('a', null())]", "argument 2 is a null"),
        ("[toLower(1)]", "argument 1 must be a string, got a int"),
        ("[padLeft('a', 3, 'xy')]", "single character"),
        ("[base64ToString('%%%')]", "not base64"),
        ("[json('{bad')]", "not valid JSON"),
        ("[split('a', '')]", "the delimiter is empty"),
        ("[string(null())]", "cannot convert null"),
        ("[uniqueString(1)]", "argument 1 must be a string"),
    ],
)
def test_string_errors(text: str, fragment: str) -> None:
    err = error(text)
    assert fragment in err.what
    assert text in err.what  # the expression is quoted


# --- arrays and objects ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[length('One Two Three')]", 13),
        ("[length(createArray('a', 'b', 'c'))]", 3),
        ("[length(createObject('a', 1, 'b', 2))]", 2),
        ("[empty('')]", True),
        ("[empty(createArray())]", True),
        ("[empty(createObject())]", True),
        ("[empty(null())]", True),
        ("[empty('x')]", False),
        ("[contains('OneTwoThree', 'e')]", True),
        ("[contains('OneTwoThree', 'z')]", False),
        ("[contains('OneTwoThree', 'one')]", False),
        ("[contains(createObject('one', 'a'), 'ONE')]", True),
        ("[contains(createObject('one', 'a'), 'two')]", False),
        ("[contains(createArray('one', 'two'), 'two')]", True),
        ("[contains(createArray('one', 'two'), 'TWO')]", False),
        ("[contains(createArray(1, 2), 2)]", True),
        ("[contains('a1', 1)]", True),
        ("[first(createArray('one', 'two'))]", "one"),
        ("[first('One Two')]", "O"),
        ("[first(createArray())]", None),
        ("[first('')]", ""),
        ("[last(createArray('one', 'three'))]", "three"),
        ("[last('One Two Three')]", "e"),
        ("[take(createArray('one', 'two', 'three'), 2)]", ["one", "two"]),
        ("[take('one two', 2)]", "on"),
        ("[take('abc', 0)]", ""),
        ("[take('abc', -3)]", ""),
        ("[take('abc', 10)]", "abc"),
        ("[skip(createArray('one', 'two', 'three'), 2)]", ["three"]),
        ("[skip('one two three', 4)]", "two three"),
        ("[skip('abc', -1)]", "abc"),
        ("[skip('abc', 9)]", ""),
        ("[createArray()]", []),
        ("[createArray(1, 'a', createArray(true()))]", [1, "a", [True]]),
        (
            "[createObject('intProp', 1, 'stringProp', 'abc', 'boolProp', true(), 'arrayProp', createArray('a'), "
            "'objectProp', createObject('key1', 'value1'))]",
            {"intProp": 1, "stringProp": "abc", "boolProp": True, "arrayProp": ["a"], "objectProp": {"key1": "value1"}},
        ),
        ("[array(1)]", [1]),
        ("[array('efgh')]", ["efgh"]),
        ("[array(createArray(1))]", [1]),
        ("[array(createObject('a', 'b'))]", [{"a": "b"}]),
        ("[union(createArray('one', 'two', 'one'), createArray('three', 'two'))]", ["one", "two", "three"]),
        ("[union(createObject('a', 1, 'b', 2), createObject('b', 3, 'c', 4))]", {"a": 1, "b": 3, "c": 4}),
        ("[intersection(createArray('one', 'two', 'three'), createArray('two', 'three', 'four'))]", ["two", "three"]),
        (
            "[intersection(createObject('one', 'a', 'two', 'b', 'three', 'c'), "
            "createObject('one', 'a', 'two', 'z', 'three', 'c'))]",
            {"one": "a", "three": "c"},
        ),
        ("[coalesce(null(), null(), 'default')]", "default"),
        ("[coalesce(null(), 1)]", 1),
        ("[coalesce(null())]", None),
        ("[coalesce('', 'x')]", ""),
        ("[min(6, 4, 8)]", 4),
        ("[min(createArray(0, 3, 2))]", 0),
        ("[max(6, 4, 8)]", 8),
        ("[max(createArray(0, 3, 2))]", 3),
        ("[range(1, 3)]", [1, 2, 3]),
        ("[range(5, 0)]", []),
        ("[json('null')]", None),
        ('[json(\'{"a": "b"}\').a]', "b"),
        ("[json('[1, 2, 3]')[2]]", 3),
        ("[json('true')]", True),
    ],
)
def test_array_and_object_functions(text: str, expected: Any) -> None:
    assert ev(text) == expected


def test_union_merges_nested_objects_and_replaces_arrays() -> None:
    ctx = EvaluationContext(
        parameters={},
        variables={
            "firstObject": {"property": {"one": "a", "two": "b", "three": "c1"}, "nestedArray": [1, 2]},
            "secondObject": {"property": {"three": "c2", "four": "d", "five": "e"}, "nestedArray": [3, 4]},
            "firstArray": [["one", "two"], ["three"]],
            "secondArray": [["three"], ["four", "two"]],
        },
    )
    assert ev("[union(variables('firstObject'), variables('secondObject'))]", ctx) == {
        "property": {"one": "a", "two": "b", "three": "c2", "four": "d", "five": "e"},
        "nestedArray": [3, 4],
    }
    assert ev("[union(variables('firstArray'), variables('secondArray'))]", ctx) == [
        ["one", "two"],
        ["three"],
        ["four", "two"],
    ]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[length(1)]", "needs a string, an array or an object, got a int"),
        ("[length(null())]", "got a null"),
        ("[empty(3)]", "got a int"),
        ("[contains(1, 1)]", "got a int"),
        ("[contains(createObject('a', 1), 1)]", "keys are strings"),
        ("[take(1, 1)]", "needs an array or a string"),
        ("[take('abc', 'x')]", "argument 2 must be an int"),
        ("[first(1)]", "needs an array or a string"),
        ("[createObject('a')]", "key and value pairs"),
        ("[createObject('a', 1, 'a', 2)]", "the key 'a' is given twice"),
        ("[createObject(1, 2)]", "argument 1 must be a string"),
        ("[union(createArray(), createObject())]", "only arrays or only objects"),
        ("[intersection('a', 'b')]", "only arrays or only objects"),
        ("[min()]", "min takes at least 1 argument, got 0"),
        ("[min(createArray())]", "at least one int"),
        ("[max(1, 'a')]", "needs ints, got a string"),
        ("[range(0, -1)]", "between 0 and 10000"),
        ("[range(2147483647, 2)]", "must not exceed 2147483647"),
    ],
)
def test_array_and_object_errors(text: str, fragment: str) -> None:
    assert fragment in error(text).what


# --- logic, comparison and numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[if(true(), 'yes', 'no')]", "yes"),
        ("[if(equals(1, 2), 'yes', 'no')]", "no"),
        ("[equals('abc', 'abc')]", True),
        ("[equals('abc', 'ABC')]", False),
        ("[equals(1, '1')]", False),
        ("[equals(1, true())]", False),
        ("[equals(null(), null())]", True),
        ("[equals(createArray(1, createObject('a', 'b')), json('[1, {\"a\": \"b\"}]'))]", True),
        ("[equals(createObject('a', 1), createObject('a', 2))]", False),
        ("[not(true())]", False),
        ("[and(true(), true(), false())]", False),
        ("[and(true(), true())]", True),
        ("[or(false(), false(), true())]", True),
        ("[or(false(), false())]", False),
        ("[greater(10, 5)]", True),
        ("[greater('A', 'B')]", False),
        ("[greaterOrEquals(5, 5)]", True),
        ("[less(5, 10)]", True),
        ("[less('a', 'b')]", True),
        ("[lessOrEquals(6, 5)]", False),
        ("[true()]", True),
        ("[FALSE()]", False),
        ("[null()]", None),
        ("[add(5, 3)]", 8),
        ("[sub(7, 3)]", 4),
        ("[mul(5, -3)]", -15),
        ("[div(8, 3)]", 2),
        ("[div(-8, 3)]", -2),
        ("[mod(7, 3)]", 1),
        ("[mod(-7, 3)]", -1),
        ("[int('4')]", 4),
        ("[int(' -12 ')]", -12),
        ("[int(3)]", 3),
        ("[bool('true')]", True),
        ("[bool('False')]", False),
        ("[bool(1)]", True),
        ("[bool(0)]", False),
        ("[float('1.5')]", 1.5),
        ("[float(2)]", 2.0),
        ("[string(float('2'))]", "2"),
    ],
)
def test_logic_comparison_and_numbers(text: str, expected: Any) -> None:
    value = ev(text)
    assert value == expected and type(value) is type(expected)


def test_if_evaluates_only_the_chosen_branch() -> None:
    assert ev("[if(true(), 'ok', listKeys('x', '2020-01-01'))]") == "ok"
    assert ev("[if(false(), parameters('missing'), 'ok')]") == "ok"
    assert ev("[if(equals(parameters('env'), 'prod'), substring('ab', 5), 'dev')]", context(env="test")) == "dev"
    err = error("[if(false(), 'ok', listKeys('x', '2020-01-01'))]")
    assert "listKeys cannot be evaluated offline" in err.what


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[if('yes', 'a', 'b')]", "if needs a bool condition, got a string"),
        ("[if(true(), 'a')]", "if takes 3 arguments"),
        ("[not(1)]", "argument 1 must be a bool"),
        ("[and(true())]", "and takes at least 2 arguments, got 1"),
        ("[greater(1, 'a')]", "compares two ints or two strings"),
        ("[div(1, 0)]", "division by zero"),
        ("[mod(1, 0)]", "division by zero"),
        ("[add(1, 'a')]", "argument 2 must be an int"),
        ("[mul(9223372036854775807, 2)]", "does not fit in a 64-bit integer"),
        ("[int('1.5')]", "cannot convert the string '1.5' to an int"),
        ("[int('1_000')]", "to an int"),
        ("[bool('yes')]", "to a bool"),
        ("[equals(1)]", "equals takes 2 arguments, got 1"),
        ("[true(1)]", "true takes 0 arguments, got 1"),
        ("[substring()]", "substring takes 1 to 3 arguments, got 0"),
    ],
)
def test_logic_and_number_errors(text: str, fragment: str) -> None:
    assert fragment in error(text).what


# --- deployment functions -------------------------------------------------------------------------------------


def test_deployment_functions_use_the_context() -> None:
    ctx = EvaluationContext(
        parameters={},
        subscription_id="sub-1",
        resource_group="rg-prod",
        location="northeurope",
        tenant_id="tenant-1",
        deployment_name="adf-release-42",
    )
    assert ev("[subscription()]", ctx) == {
        "id": "/subscriptions/sub-1",
        "subscriptionId": "sub-1",
        "tenantId": "tenant-1",
        "displayName": "sub-1",
    }
    assert ev("[resourceGroup()]", ctx) == {
        "id": "/subscriptions/sub-1/resourceGroups/rg-prod",
        "name": "rg-prod",
        "location": "northeurope",
    }
    assert ev("[subscription().subscriptionId]", ctx) == "sub-1"
    assert ev("[deployment().name]", ctx) == "adf-release-42"
    assert ev("[environment().name]", ctx) == "AzureCloud"
    assert ev("[resourceId('Microsoft.DataFactory/factories/pipelines', 'adf', 'PL_Copy')]", ctx) == (
        "/subscriptions/sub-1/resourceGroups/rg-prod/providers/Microsoft.DataFactory/factories/adf/pipelines/PL_Copy"
    )
    assert ev("[resourceId('rg-other', 'Microsoft.Storage/storageAccounts', 'st')]", ctx) == (
        "/subscriptions/sub-1/resourceGroups/rg-other/providers/Microsoft.Storage/storageAccounts/st"
    )
    assert ev("[resourceId('sub-2', 'rg-other', 'Microsoft.Storage/storageAccounts', 'st')]", ctx) == (
        "/subscriptions/sub-2/resourceGroups/rg-other/providers/Microsoft.Storage/storageAccounts/st"
    )
    assert ev("[subscriptionResourceId('Microsoft.Resources/resourceGroups', 'rg')]", ctx) == (
        "/subscriptions/sub-1/providers/Microsoft.Resources/resourceGroups/rg"
    )
    assert ev("[tenantResourceId('Microsoft.Management/managementGroups', 'mg')]", ctx) == (
        "/providers/Microsoft.Management/managementGroups/mg"
    )


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[resourceId('Microsoft.DataFactory/factories/pipelines', 'adf')]", "needs 2 name(s), got 1"),
        ("[resourceId('a', 'b')]", "needs a resource type"),
        ("[resourceId('s', 'g', 'x', 'Microsoft.Storage/storageAccounts', 'st')]", "at most 2 argument(s)"),
        ("[resourceId('Microsoft.Storage/storageAccounts', 1)]", "argument 2 must be a string"),
        ("[deployment().properties.templateLink.uri]", "has no property 'properties'"),
    ],
)
def test_deployment_function_errors(text: str, fragment: str) -> None:
    assert fragment in error(text).what


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[reference('x')]", "function reference cannot be evaluated offline"),
        ("[listKeys('x', '2021-01-01').keys[0].value]", "function listKeys cannot be evaluated offline"),
        ("[listConnectionStrings('x', '2021-01-01')]", "function listConnectionStrings cannot be evaluated offline"),
        ("[newGuid()]", "function newGuid cannot be evaluated offline"),
        ("[utcNow()]", "function utcNow cannot be evaluated offline"),
        ("[guid('a')]", "function guid is not supported"),
        ("[dateTimeAdd('2020-01-01', 'P1D')]", "function dateTimeAdd is not supported"),
        ("[frobnicate('a')]", "unknown function frobnicate"),
        ("[ns.fn('a')]", "user-defined function ns.fn is not supported"),
    ],
)
def test_functions_that_cannot_be_evaluated(text: str, fragment: str) -> None:
    err = error(text)
    assert fragment in err.what and text in err.what


def test_supported_functions_are_listed() -> None:
    assert {"concat", "format", "if", "uniqueString", "resourceId", "parameters"} <= set(SUPPORTED_FUNCTIONS)
    assert "guid" not in SUPPORTED_FUNCTIONS and "reference" not in SUPPORTED_FUNCTIONS


# --- secrets --------------------------------------------------------------------------------------------------

SECRETS = EvaluationContext(
    parameters={"sas": SAS, "pwd": PASSWORD, "user": "admin", "holder": {"key": PASSWORD, "name": "n"}}
)


@pytest.mark.parametrize(
    "text, source",
    [
        ("[concat('Server=x;Password=', parameters('pwd'))]", "concat of environment variable SQL_PASSWORD"),
        (
            "[concat(parameters('pwd'), parameters('sas'), parameters('pwd'))]",
            "concat of environment variable SQL_PASSWORD and Key Vault kv-prod / sas-token",
        ),
        ("[format('{0}:{1}', parameters('user'), parameters('pwd'))]", "format of environment variable SQL_PASSWORD"),
        ("[replace(parameters('sas'), '?', '')]", "replace of Key Vault kv-prod / sas-token"),
        ("[toLower(concat('a', parameters('sas')))]", "toLower of concat of Key Vault kv-prod / sas-token"),
        ("[base64(parameters('pwd'))]", "base64 of environment variable SQL_PASSWORD"),
        ("[string(parameters('holder'))]", "string of environment variable SQL_PASSWORD"),
        ("[take(parameters('pwd'), 3)]", "take of environment variable SQL_PASSWORD"),
        ("[first(parameters('pwd'))]", "first of environment variable SQL_PASSWORD"),
        ("[parameters('holder').key]", "environment variable SQL_PASSWORD"),
    ],
)
def test_secrets_flow_through_string_functions(text: str, source: str) -> None:
    value = ev(text, SECRETS)
    assert value == Secret(source)


def test_secrets_pass_through_structures() -> None:
    assert ev("[createArray(parameters('pwd'), 'x')]", SECRETS) == [PASSWORD, "x"]
    assert ev("[createObject('p', parameters('pwd'))]", SECRETS) == {"p": PASSWORD}
    assert ev("[coalesce(null(), parameters('pwd'))]", SECRETS) == PASSWORD
    assert ev("[length(createArray(parameters('pwd'), 'x'))]", SECRETS) == 2
    assert ev("[contains(parameters('holder'), 'key')]", SECRETS) == True  # noqa: E712 (the value is a bool)
    assert ev("[if(true(), parameters('pwd'), 'x')]", SECRETS) == PASSWORD
    assert ev("[union(parameters('holder'), createObject('extra', 1))]", SECRETS) == {
        "key": PASSWORD,
        "name": "n",
        "extra": 1,
    }
    value = evaluate_value(
        {"connectionString": "[concat('pwd=', parameters('pwd'))]", "user": "[parameters('user')]"}, SECRETS, "ls.json"
    )
    assert value == {"connectionString": Secret("concat of environment variable SQL_PASSWORD"), "user": "admin"}


@pytest.mark.parametrize(
    "text",
    [
        "[equals(parameters('pwd'), 'x')]",
        "[contains(parameters('pwd'), 'x')]",
        "[contains(createArray(parameters('pwd')), 'x')]",
        "[length(parameters('pwd'))]",
        "[empty(parameters('sas'))]",
        "[if(equals(parameters('sas'), ''), 'a', 'b')]",
        "[if(parameters('holder').key, 'a', 'b')]",
        "[startsWith(parameters('sas'), '?')]",
        "[indexOf(parameters('sas'), 'sig')]",
        "[split(parameters('sas'), '&')]",
        "[json(parameters('pwd'))]",
        "[uniqueString(parameters('pwd'))]",
        "[greater(parameters('pwd'), 'a')]",
        "[union(createArray(parameters('pwd')), createArray('a'))]",
        "[take('abc', parameters('pwd'))]",
        "[createObject(parameters('pwd'), 1)]",
    ],
)
def test_testing_or_comparing_a_secret_is_an_error(text: str) -> None:
    err = error(text, SECRETS)
    assert "which is unknown offline" in err.what and "«secret: " in err.what
    assert "tested or compared" in (err.hint or "")


def test_secret_is_shown_by_source_only() -> None:
    assert str(Secret("Key Vault kv-prod / sql-password")) == "«secret: Key Vault kv-prod / sql-password»"


# --- evaluate_value and references_parameters -----------------------------------------------------------------


def test_evaluate_value_walks_objects_and_arrays_and_keeps_keys() -> None:
    resource = {
        "name": "[concat(parameters('factoryName'), '/PL_Copy')]",
        "dependsOn": ["[concat(variables('factoryId'), '/datasets/DS_In')]"],
        "[concat('key')]": 1,
        "properties": {
            "url": "[parameters('LS_properties_typeProperties_url')]",
            "n": 3,
            "b": True,
            "x": None,
            "escaped": "[[not an expression]",
        },
    }
    assert evaluate_value(resource, ADF, "resources[0]") == {
        "name": "adf-prod/PL_Copy",
        "dependsOn": ["Microsoft.DataFactory/factories/adf-prod/datasets/DS_In"],
        "[concat('key')]": 1,
        "properties": {
            "url": "https://prod.dfs.core.windows.net/",
            "n": 3,
            "b": True,
            "x": None,
            "escaped": "[not an expression]",
        },
    }


def test_evaluate_value_names_the_json_path() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate_value({"properties": {"activities": [{"a b": "[foo()]"}]}}, ADF, "PL_Copy.json")
    assert caught.value.where == 'PL_Copy.json.properties.activities[0]["a b"]'


def test_references_parameters() -> None:
    resource = {
        "name": "[concat(parameters('factoryName'), '/PL_Copy')]",
        "properties": {
            "url": "[parameters('LS_url')]",
            "list": [
                "[if(equals(parameters('env'), 'prod'), parameters('a').x[parameters('i')], 'b')]",
                "plain",
                "[[parameters('escaped')]",
            ],
            "var": "[variables('factoryId')]",
            "broken": "[concat(parameters('still''found'), ]",
            "PARAMETERS('loud')": 1,
        },
    }
    assert references_parameters(resource) == {"factoryName", "LS_url", "env", "a", "i", "still'found"}
    assert references_parameters("[PARAMETERS('Upper')]") == {"Upper"}
    assert references_parameters(42) == set()


# --- properties -----------------------------------------------------------------------------------------------

# Text with quotes, brackets and other characters an expression must carry; no surrogates (not valid JSON text).
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(TEXT)
def test_any_string_literal_round_trips(text: str) -> None:
    assert evaluate_string("[" + quote(text) + "]", context(), "p") == text


@given(st.lists(TEXT, min_size=1, max_size=8))
def test_concat_of_strings_is_join(parts: list[str]) -> None:
    expression = "[concat(" + ", ".join(quote(p) for p in parts) + ")]"
    assert evaluate_string(expression, context(), "p") == "".join(parts)


@given(TEXT.filter(lambda s: not s.startswith("[")))
def test_plain_strings_are_unchanged(text: str) -> None:
    assert evaluate_string(text, context(), "p") == text


@given(TEXT)
def test_escaped_literals_lose_one_bracket(text: str) -> None:
    assert evaluate_string("[[" + text + "]", context(), "p") == "[" + text + "]"


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_integers_round_trip(number: int) -> None:
    assert evaluate_string(f"[{number}]", context(), "p") == number
    assert evaluate_string(f"[string({number})]", context(), "p") == str(number)


@settings(max_examples=50)
@given(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=4))
def test_unique_string_is_13_base32_letters(values: list[str]) -> None:
    result = unique_string(*values)
    assert len(result) == 13 and set(result) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert result == unique_string(*values)


@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6).filter(lambda n: n != 0))
def test_div_and_mod_match_dotnet(a: int, b: int) -> None:
    quotient = evaluate_string(f"[div({a}, {b})]", context(), "p")
    remainder = evaluate_string(f"[mod({a}, {b})]", context(), "p")
    assert quotient * b + remainder == a
    assert abs(remainder) < abs(b) and (remainder == 0 or (remainder < 0) == (a < 0))
