"""Per-environment values as standard ARM deployment parameter files (the format of
ARMTemplateParametersForFactory.json), so Azure's own tooling can deploy with them too.

A parameter holds either a `value` or a Key Vault `reference` (`{"keyVault": {"id": …}, "secretName": …}`).
Reading keeps everything else in the file as it was, so a round trip changes only what was edited.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from portal import safe_json
from portal.errors import ErrorCode, Finding, FindingsError, Place
from portal.secret_sources import KeyVaultReference

PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2015-01-01/deploymentParameters.json#"
_UNSET = object()


@dataclass(frozen=True)
class ParameterEntry:
    name: str
    value: Any = _UNSET
    reference: KeyVaultReference | None = None
    # The entry as the file had it, so keys the portal does not manage survive a round trip.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def has_value(self) -> bool:
        return self.value is not _UNSET

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.raw.items() if k not in ("value", "reference")}
        if self.reference is not None:
            out.update(self.reference.as_json())
        else:
            out["value"] = self.value
        return out


@dataclass(frozen=True)
class ParameterFile:
    path: str
    entries: Mapping[str, ParameterEntry]
    # The file's other top-level keys ($schema, contentVersion, anything else), kept in order.
    header: Mapping[str, Any] = field(
        default_factory=lambda: {"$schema": PARAMETERS_SCHEMA, "contentVersion": "1.0.0.0"}
    )
    # The file's own layout, kept so an edit's diff shows only the edit.
    indent: str = "    "
    final_newline: bool = True

    def get(self, name: str) -> ParameterEntry | None:
        return self.entries.get(name)

    def with_entry(self, entry: ParameterEntry) -> ParameterFile:
        entries = dict(self.entries)
        entries[entry.name] = entry
        return replace(self, entries=entries)

    def without(self, names: set[str]) -> ParameterFile:
        return replace(self, entries={n: e for n, e in self.entries.items() if n not in names})

    def to_json(self) -> str:
        document: dict[str, Any] = {}
        for key, value in self.header.items():
            document[key] = value
        document["parameters"] = {name: entry.as_json() for name, entry in self.entries.items()}
        text = json.dumps(document, indent=self.indent, ensure_ascii=False)
        return text + "\n" if self.final_newline else text


def empty_parameter_file(path: str) -> ParameterFile:
    return ParameterFile(path, {})


def parse_parameter_file(data: bytes, path: str) -> ParameterFile:
    """Read a deployment parameter file; each problem names the file and the parameter."""
    try:
        document = safe_json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise FindingsError([Finding(ErrorCode.PARAMETER_FILE, path, f"is not UTF-8 text (byte {exc.start})")]) from exc
    except json.JSONDecodeError as exc:
        raise FindingsError(
            [
                Finding(
                    ErrorCode.PARAMETER_FILE,
                    Place(file=path, line=exc.lineno, column=exc.colno),
                    f"invalid JSON: {exc.msg}",
                )
            ]
        ) from exc
    except safe_json.NestingError as exc:
        raise FindingsError([Finding(ErrorCode.PARAMETER_FILE, path, str(exc))]) from None
    if not isinstance(document, dict) or not isinstance(document.get("parameters", {}), dict):
        raise FindingsError(
            [Finding(ErrorCode.PARAMETER_FILE, path, 'must be an ARM deployment parameter file: {"parameters": {…}}')]
        )
    findings: list[Finding] = []
    entries: dict[str, ParameterEntry] = {}
    for name, raw in document.get("parameters", {}).items():
        where = f"{path} (parameters.{name})"
        if not isinstance(raw, dict) or ("value" in raw) == ("reference" in raw):
            findings.append(
                Finding(ErrorCode.PARAMETER_FILE, where, 'must hold either "value" or a Key Vault "reference"')
            )
            continue
        if "value" in raw:
            entries[name] = ParameterEntry(name, raw["value"], raw=raw)
            continue
        reference = raw["reference"]
        vault = reference.get("keyVault") if isinstance(reference, dict) else None
        if (
            not isinstance(vault, dict)
            or not isinstance(vault.get("id"), str)
            or not isinstance(reference.get("secretName"), str)
        ):
            findings.append(
                Finding(ErrorCode.PARAMETER_FILE, where, 'a reference must be {"keyVault": {"id": …}, "secretName": …}')
            )
            continue
        version = reference.get("secretVersion")
        entries[name] = ParameterEntry(
            name,
            reference=KeyVaultReference(
                vault["id"], reference["secretName"], version if isinstance(version, str) else None
            ),
            raw=raw,
        )
    if findings:
        raise FindingsError(findings)
    header = {k: v for k, v in document.items() if k != "parameters"}
    text = data.decode("utf-8-sig")
    indent = re.search(r"\n([ \t]+)\S", text)
    return ParameterFile(
        path,
        entries,
        header or {"$schema": PARAMETERS_SCHEMA, "contentVersion": "1.0.0.0"},
        indent=indent.group(1) if indent else "    ",
        final_newline=text.endswith("\n"),
    )
