"""An error's place as parts (`Place`), printed one way by the CLI and the pages."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from portal.cli import main
from portal.environments.config import parse_config
from portal.environments.workspace import MappingWorkspace
from portal.errors import ErrorCode, Finding, FindingsError, Place, PortalError, describe, findings_of
from tests.mapping_repo import make_repo
from ui.common import error_lines
from ui.parameters import findings_by_parameter

BATCH = "TR_Daily_properties_PL_Load_parameters_batchSize"


@pytest.mark.parametrize(
    ("place", "text"),
    [
        (Place(environment="test", object="LS_Sql_connectionString"), "environment test → LS_Sql_connectionString"),
        (Place(file="portal.yaml", line=3, column=7), "portal.yaml:3:7"),
        (Place(file="dataflow/df.json", json_path="properties.sinks[0]"), "dataflow/df.json (properties.sinks[0])"),
        (
            Place(object="pipeline PL_Load", json_path="properties.activities"),
            "pipeline PL_Load (properties.activities)",
        ),
        (
            Place(environment="prod", file="environments/prod.parameters.json", line=2),
            "environment prod (environments/prod.parameters.json:2)",
        ),
    ],
)
def test_a_place_reads_as_the_portal_has_always_written_it(place: Place, text: str) -> None:
    assert place == text and str(place) == text and isinstance(place, str)
    copy = pickle.loads(pickle.dumps(place))
    assert copy == place and (copy.file, copy.line, copy.environment) == (place.file, place.line, place.environment)


def test_errors_keep_their_place_as_parts() -> None:
    error = PortalError(
        Place(environment="test", object=BATCH), "is not a whole number", "give 1 or more", code=ErrorCode.TYPE
    )
    assert error.place is not None and (error.place.environment, error.place.object) == ("test", BATCH)
    assert error.as_finding().place == error.place
    assert PortalError("somewhere", "went wrong").place is None


def test_the_cli_and_the_pages_say_a_problem_the_same_way(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FindingsError) as bad_yaml:
        parse_config("version: 1\nenvironments: [\n")
    (finding,) = bad_yaml.value.findings
    assert finding.place is not None and finding.place.file == "portal.yaml" and finding.place.line == 3
    assert error_lines(bad_yaml.value) == [describe(f) for f in findings_of(bad_yaml.value)]

    repo = tmp_path / "repo"
    make_repo(repo)
    assert main(["params", "set", "test", BATCH, "many", "--repo", str(repo)]) == 1
    printed = capsys.readouterr().err.strip()
    with pytest.raises(PortalError) as refused:
        MappingWorkspace.open(repo).set_values("test", [(BATCH, "many")])
    assert printed == f"error: {describe(refused.value)}" and error_lines(refused.value) == [describe(refused.value)]
    assert refused.value.place is not None and refused.value.place.object == BATCH


def test_the_parameters_form_files_findings_by_their_parts_not_their_words() -> None:
    mine = Finding(ErrorCode.TYPE, Place(environment="test", object=BATCH), "must be a whole number")
    other_environment = Finding(ErrorCode.TYPE, Place(environment="prod", object=BATCH), "must be a whole number")
    # Reads like a parameter's place, but names a file: it belongs to the page, not to a field.
    in_a_file = Finding(ErrorCode.PARAMETER_FILE, Place(environment="test", object=BATCH, file="x.json"), "bad")
    words_only = Finding(ErrorCode.TYPE, f"environment test → {BATCH}", "a place given as text")
    by_field, rest = findings_by_parameter([mine, other_environment, in_a_file, words_only], "test")
    assert by_field == {BATCH: (mine,)} and rest == [other_environment, in_a_file, words_only]
