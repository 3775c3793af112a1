"""Apply the notebook part of a plan: make the missing folders, import what changes (overwriting), prune what the
portal deployed and Git no longer has, then record the new manifest.

The manifest is written last: after a failure it still describes an earlier, complete promotion, so the next run
plans the remaining work again (objects this run already imported are recognised by their content and are not
imported twice) and converges.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from portal.databricks.plan import CREATE, UPDATE, PlannedNotebooks
from portal.databricks.workspace import WorkspaceTarget
from portal.deploy.events import OBJECT_DONE, STEP_FINISHED, STEP_STARTED, Event, EventSink, no_events


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


def apply_notebooks(planned: PlannedNotebooks, target: WorkspaceTarget, *, sink: EventSink = no_events,
                    parallelism: int = 4, report: NotebookReport | None = None) -> NotebookReport:
    plan = planned.plan
    report = report if report is not None else NotebookReport()
    if not plan.has_changes:
        return report
    _each("notebook folders", list(plan.folders_to_create), target.mkdirs, "created", sink,
          report.folders_created, parallelism=1)
    writes = [c.path for c in plan.changes if c.action in (CREATE, UPDATE)]

    def put(path: str) -> None:
        source = planned.sources[path]
        target.import_object(path, source.content, source.import_format, source.language)

    _each("import notebooks", writes, put, "imported", sink, report.imported, parallelism=parallelism)
    # Deletes one at a time: Databricks allows two a second per workspace.
    _each("prune notebooks", [c.path for c in plan.deletions], target.delete, "deleted", sink, report.deleted,
          parallelism=1)
    _each("prune folders", list(plan.folders_to_delete), target.delete, "deleted", sink, report.folders_deleted,
          parallelism=1)
    if plan.write_manifest:
        sink(Event(STEP_STARTED, "notebook manifest", target.manifest_path))
        try:
            target.write_manifest(planned.manifest)
        except Exception as error:  # noqa: BLE001 - named and raised again
            raise NotebookStepFailed(f"notebook manifest {target.manifest_path}", error) from error
        report.manifest_written = True
        sink(Event(STEP_FINISHED, "notebook manifest", target.manifest_path))
    return report


def _each(step: str, paths: list[str], act: Callable[[str], None], done_word: str, sink: EventSink,
          done: list[str], *, parallelism: int) -> None:
    if not paths:
        return
    sink(Event(STEP_STARTED, step, total=len(paths)))
    failure: NotebookStepFailed | None = None
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        futures = {path: pool.submit(act, path) for path in paths}
        for path, future in futures.items():
            try:
                future.result()
            except Exception as error:  # noqa: BLE001 - the others finish; the first failure is reported
                failure = failure or NotebookStepFailed(f"notebook {path}", error)
                continue
            done.append(path)
            sink(Event(OBJECT_DONE, step, path, done_word, len(done), len(paths)))
    if failure is not None:
        raise failure
    sink(Event(STEP_FINISHED, step, done=len(paths), total=len(paths)))
