"""Golden tests: `portal export-arm` on each real factory's Git JSON against what ADF Publish generated.

Publishes of the current ADF format (2024 on) must match byte for byte. Older publishes may differ only where
ADF's own output format changed since: the empty defaults it adds (pipeline `policy`, `annotations: []`), the
linked-template deployments' apiVersion and names, and the global-parameters file that older versions did
not write.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from portal.adf.jsonformat import dumps_bytes
from portal.cli import main
from tests.corpus import CorpusEntry, first_difference, paired_entries

ENTRIES = paired_entries()

# ADF Studio appends objects created during the browser session to the end of its resource list, and Publish
# keeps that order. Git does not record the session, so these objects are where a fresh session puts them.
SESSION_APPENDED: dict[str, list[str]] = {
    # Publish commit "Adding pipeline: pipeline2".
    "aolear__azure-datafactory-poc": ["[concat(parameters('factoryName'), '/pipeline2')]"],
    # Every other Publish output lists integration runtimes before credentials and managed virtual networks;
    # here the runtime (created with the managed network) comes last.
    "KenshoHigashi__labs-adf": ["[concat(parameters('factoryName'), '/integrationRuntime1')]"],
}

OLD_POLICIES = ({"elapsedTimeMetric": {}, "cancelAfter": {}}, {"elapsedTimeMetric": {}})


def test_corpus_is_present() -> None:
    assert len(ENTRIES) >= 8, "the shared corpus (../shared/adf-corpus) must sit beside the project"


def _export(entry: CorpusEntry, out: Path) -> None:
    args = ["export-arm", str(entry.source), "--out", str(out), "--locale", entry.locale]
    if not (entry.source / "factory").is_dir():
        # No factory file in Git: like ADF's own export command, the factory is named on the command line.
        args += ["--factory-name", entry.factory_name]
    assert main(args) == 0


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _normalise_old_format(name: str, document: Any) -> Any:
    """Remove what only the ADF version tells apart, on both sides."""
    document = copy.deepcopy(document)
    for resource in document.get("resources", []):
        props = resource.get("properties")
        kind = resource.get("type", "")
        if isinstance(props, dict):
            if kind.endswith("/pipelines") and props.get("policy") in OLD_POLICIES:
                del props["policy"]
            if kind.endswith(("/datasets", "/linkedServices")) and props.get("annotations") == []:
                del props["annotations"]
        if kind == "Microsoft.Resources/deployments":
            resource["apiVersion"] = "(version)"
            resource["name"] = resource["name"].rsplit("ArmTemplate_", 1)[-1]
            resource["dependsOn"] = [d.rsplit("ArmTemplate_", 1)[-1] for d in resource["dependsOn"]]
    return document


def _session_order(entry: CorpusEntry, document: Any) -> Any:
    """Our template with the session-created objects moved to the end, as ADF Studio had them."""
    moved = SESSION_APPENDED.get(entry.name)
    resources = document.get("resources") or []
    if not moved or not resources or resources[0].get("type") == "Microsoft.Resources/deployments":
        return document
    document = copy.deepcopy(document)
    document["resources"] = [r for r in resources if r["name"] not in moved] + [
        r for r in resources if r["name"] in moved]
    return document


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_export_matches_adf_publish(entry: CorpusEntry, tmp_path: Path) -> None:
    out = tmp_path / entry.factory_name
    _export(entry, out)
    produced = _files(out)
    expected = _files(entry.arm)

    if not entry.current_format:
        # Before 2021 Publish wrote no global-parameters file.
        missing_gp = [f for f in produced if f.startswith("globalParameters/") and f not in expected]
        for name in missing_gp:
            assert json.loads(produced.pop(name)) == {}
    assert sorted(produced) == sorted(expected)

    for name in expected:
        ours = json.loads(produced[name])
        theirs = json.loads(expected[name])
        if entry.current_format:
            text = produced[name]
            if entry.name in SESSION_APPENDED and name == "ARMTemplateForFactory.json":
                ours = _session_order(entry, ours)
                text = dumps_bytes(ours)
            assert text == expected[name], (
                f"{name} differs from ADF Publish byte for byte: {first_difference(ours, theirs)}")
            continue
        if name == "ARMTemplateForFactory.json":
            ours = _session_order(entry, ours)
        if not entry.current_format:
            ours, theirs = _normalise_old_format(name, ours), _normalise_old_format(name, theirs)
        assert ours == theirs, f"{name} differs from ADF Publish: {first_difference(ours, theirs)}"
