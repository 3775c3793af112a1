"""Apply the notebook part of a plan: make the missing folders, import what changes (overwriting), prune what the
portal deployed and Git no longer has, then record the new manifest. These are the named steps of
`portal.deploy.steps.notebook_steps` (the ones `portal plan` prints), carried out by the runner the factory's
steps use too.

The manifest is written last: after a failure it still describes an earlier, complete promotion, so the next run
plans the remaining work again (objects this run already imported are recognised by their content and are not
imported twice) and converges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portal.databricks.plan import PlannedNotebooks
from portal.databricks.steps import (
    IMPORT_NOTEBOOKS,
    NOTEBOOK_FOLDERS,
    NOTEBOOK_MANIFEST,
    PRUNE_FOLDERS,
    PRUNE_NOTEBOOKS,
    notebook_steps,
)
from portal.databricks.workspace import WorkspaceTarget
from portal.events import EventSink, no_events
from portal.steps import StepAction, StepFailed, run_steps


@dataclass
class NotebookReport:
    imported: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    folders_created: list[str] = field(default_factory=list)
    folders_deleted: list[str] = field(default_factory=list)
    manifest_written: bool = False

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class NotebookStepFailed(Exception):
    """A workspace call failed; `where` names the path."""

    def __init__(self, where: str, error: Exception):
        super().__init__(f"{where}: {error}")
        self.portal_where = where
        self.error = error


def apply_notebooks(
    planned: PlannedNotebooks,
    target: WorkspaceTarget,
    *,
    sink: EventSink = no_events,
    parallelism: int = 4,
    report: NotebookReport | None = None,
) -> NotebookReport:
    """Carry out the notebooks' steps (`notebook_steps`, the list `portal plan` prints) through the runner; a
    failed workspace call is raised as `NotebookStepFailed` naming its path once its step's other calls end."""
    report = report if report is not None else NotebookReport()
    steps = notebook_steps(planned, parallelism=parallelism)

    def put(path: str) -> None:
        source = planned.sources[path]
        target.import_object(path, source.content, source.import_format, source.language)

    def delete(path: str) -> None:
        target.delete(path)

    def write_manifest(path: str) -> None:
        target.write_manifest(planned.manifest)

    def manifest_written(path: str) -> None:
        report.manifest_written = True

    actions = {
        NOTEBOOK_FOLDERS: StepAction(target.mkdirs, report.folders_created.append),
        IMPORT_NOTEBOOKS: StepAction(put, report.imported.append),
        PRUNE_NOTEBOOKS: StepAction(delete, report.deleted.append),
        PRUNE_FOLDERS: StepAction(delete, report.folders_deleted.append),
        NOTEBOOK_MANIFEST: StepAction(write_manifest, manifest_written),
    }
    try:
        run_steps(steps, actions, sink)
    except StepFailed as failed:
        raise NotebookStepFailed(failed.where, failed.error) from failed.error
    return report
