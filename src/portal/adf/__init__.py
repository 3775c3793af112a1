"""Azure Data Factory: the factory model, the ARM export identical to ADF Publish, and validation."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from portal.errors import Finding, FindingsError, Severity
from portal.adf.arm import ArmExport, export_factory, write_export
from portal.adf.loader import load_factory, open_source, parse_factory
from portal.adf.model import AdfObject, Factory, Kind

__all__ = [
    "AdfObject", "ArmExport", "ExportResult", "Factory", "Kind", "export_factory", "export_to_folder",
    "load_factory", "write_export",
]


@dataclass(frozen=True)
class ExportResult:
    factory_name: str
    out_dir: Path
    files: tuple[str, ...]
    warnings: tuple[Finding, ...]
    export: ArmExport


def export_to_folder(
    adf_root: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, ref: str | None = None,
    root_folder: str | None = None, factory_name: str | None = None, locale: str = "en",
) -> ExportResult:
    """Load the factory (at `ref` when given), export it and write the files atomically to `out_dir`."""
    loaded = parse_factory(open_source(adf_root, ref, root_folder), factory_name=factory_name)
    if loaded.errors:
        raise FindingsError(loaded.errors)
    export = export_factory(loaded.factory, locale=locale)
    target = write_export(export, out_dir)
    warnings = tuple(f for f in loaded.findings if f.severity is Severity.WARNING) + tuple(export.warnings())
    return ExportResult(loaded.factory.name, target, tuple(export.file_names()), warnings, export)
