"""Azure Data Factory: the factory model, the ARM export identical to ADF Publish, and validation."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from portal.adf.arm import ArmExport, export_factory, write_export
from portal.adf.loader import load_factory, open_source, parse_factory
from portal.adf.model import AdfObject, Factory, Kind
from portal.errors import Finding, FindingsError, Severity
from portal.output_folder import Protected

__all__ = [
    "AdfObject",
    "ArmExport",
    "ExportResult",
    "Factory",
    "Kind",
    "export_factory",
    "export_to_folder",
    "load_factory",
    "write_export",
]


@dataclass(frozen=True)
class ExportResult:
    factory_name: str
    out_dir: Path
    files: tuple[str, ...]
    warnings: tuple[Finding, ...]
    export: ArmExport


def export_to_folder(
    adf_root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    ref: str | None = None,
    root_folder: str | None = None,
    factory_name: str | None = None,
    locale: str = "en",
) -> ExportResult:
    """Load the factory (at `ref` when given), check it, export it and write the files atomically to `out_dir`.

    Like ADF's own export, a factory with errors (dangling references, cycles, duplicate names …) is refused
    and nothing is written. ARM's size limits are reported as warnings: the files are what Publish would
    write all the same, and which of them can be deployed is the deployer's choice.
    """
    with without_cycle_collection():
        return _export_to_folder(
            adf_root, out_dir, ref=ref, root_folder=root_folder, factory_name=factory_name, locale=locale
        )


@contextlib.contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Python's cycle collector off while a factory is exported. The export builds millions of small dicts and
    lists, none of them in a reference cycle (plain JSON values; reference counting frees them), and each
    collection pass scans every live object: on a 10,000-object factory the passes cost about as much as the
    export's own work (bench/bench_export.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _export_to_folder(
    adf_root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    ref: str | None,
    root_folder: str | None,
    factory_name: str | None,
    locale: str,
) -> ExportResult:
    from portal.adf.validation import check_structure, sort_findings, written_limit_findings

    loaded = parse_factory(open_source(adf_root, ref, root_folder), factory_name=factory_name)
    findings = check_structure(loaded.factory, loaded.findings)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        raise FindingsError(sort_findings(errors))
    export = export_factory(loaded.factory, locale=locale)
    read = [Protected(Path(adf_root), "the folder the export reads")]
    if root_folder:
        read.append(Protected(Path(adf_root) / root_folder.strip("/"), "the ADF root folder"))
    target = write_export(export, out_dir, protected=read)
    limits = [replace(f, severity=Severity.WARNING) for f in written_limit_findings(export, target)]
    warnings = [f for f in findings if f.severity is Severity.WARNING] + export.warnings() + limits
    return ExportResult(loaded.factory.name, target, tuple(export.file_names()), tuple(warnings), export)
