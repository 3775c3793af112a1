"""The notebooks' deploy as named steps, built from their plan: make folders, import, prune notebooks, prune
folders, record the manifest. The runner is `portal.steps.run_steps`."""

from __future__ import annotations

from portal.databricks.plan import CREATE, UPDATE, NotebookPlan, PlannedNotebooks
from portal.databricks.workspace import MANIFEST_NAME
from portal.steps import Step

# The notebooks' steps (deployed before the factory), in the order they run.
NOTEBOOK_FOLDERS = "notebook folders"
IMPORT_NOTEBOOKS = "import notebooks"
PRUNE_NOTEBOOKS = "prune notebooks"
PRUNE_FOLDERS = "prune folders"
NOTEBOOK_MANIFEST = "notebook manifest"

_WRITES = (CREATE, UPDATE)


# --- the notebooks' steps --------------------------------------------------------------------------------------


def notebook_steps(notebooks: PlannedNotebooks | NotebookPlan, *, parallelism: int = 1) -> list[Step]:
    """The notebooks' steps: make folders, import, prune notebooks, prune folders, record the manifest. Each step
    goes through all its items (a failure is raised once the others are done), then the next step starts."""
    plan = notebooks.plan if isinstance(notebooks, PlannedNotebooks) else notebooks
    nothing = None if plan.has_changes else "nothing changed"
    writes = tuple(c.path for c in plan.changes if c.action in _WRITES)
    pruned = tuple(c.path for c in plan.deletions)

    def step(name: str, description: str, items: tuple[str, ...], empty: str, done_word: str, at_once: int = 1) -> Step:
        skipped = nothing or (None if items else empty)
        if skipped is not None:
            return Step(name, description, skipped_because=skipped)
        return Step(
            name,
            description,
            items,
            batches=(items,),
            parallelism=max(1, at_once),
            done_word=done_word,
            failure_noun="notebook",
        )

    manifest = f"{plan.target_folder}/{MANIFEST_NAME}"  # WorkspaceTarget.manifest_path of the planned folder
    manifest_words = (
        "record what was deployed in the folder's manifest, last: a run that fails before it is planned again"
    )
    manifest_skipped = nothing or (None if plan.write_manifest else "the manifest is up to date")
    if manifest_skipped is not None:
        manifest_step = Step(NOTEBOOK_MANIFEST, manifest_words, skipped_because=manifest_skipped)
    else:  # one call; its events name the manifest instead of counting
        manifest_step = Step(
            NOTEBOOK_MANIFEST,
            manifest_words,
            (manifest,),
            batches=((manifest,),),
            failure_noun="notebook manifest",
            counted=False,
        )
    return [
        step(
            NOTEBOOK_FOLDERS,
            "make the missing folders of the target folder (with their parents)",
            tuple(plan.folders_to_create),
            "every folder exists",
            "created",
        ),
        step(
            IMPORT_NOTEBOOKS,
            "import the new and changed notebooks and files, overwriting",
            writes,
            "no notebook or file changes",
            "imported",
            parallelism,
        ),
        # Deletes one at a time: Databricks allows two a second per workspace.
        step(
            PRUNE_NOTEBOOKS,
            "delete what the portal deployed and Git no longer has, one at a time",
            pruned,
            "nothing was removed from Git",
            "deleted",
        ),
        step(
            PRUNE_FOLDERS,
            "delete the folders the portal made that are now empty, deepest first",
            tuple(plan.folders_to_delete),
            "no folder is emptied",
            "deleted",
        ),
        manifest_step,
    ]
