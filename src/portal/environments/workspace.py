"""The mappings façade: one repository at one commit, its environments and their parameter values.

The CLI and the portal pages call this and nothing below it: read the catalogue, check values, prepare edits,
and save them as a Git commit.

A workspace read at a commit is parsed once per process: `MappingWorkspace.at_commit` (and `open` given a full
commit id) keeps the workspaces of the commits used last, per repository and commit, and hands every caller the
same object. That is safe because a commit never changes and nothing changes a workspace after it was opened:
its fields are frozen values (RepoSnapshot, PortalConfig, Factory), its methods return new values (edits, parameter
files, catalogues), reads at the commit are serialised by the snapshot's lock, and what is computed on first use
(`export`, `source_errors`, the factory's indexes) is derived from the commit alone. The working tree is never kept.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from portal.adf.arm import ArmExport, export_factory
from portal.adf.loader import open_source, parse_factory
from portal.adf.model import PARAMETER_DEFINITION_FILE, Factory
from portal.adf.parameterization import TemplateParameter
from portal.adf.validation import sort_findings
from portal.environments.catalogue import CatalogueEntry, catalogue_entry, display_value
from portal.environments.checks import check_environment, parse_input
from portal.environments.config import (
    CONFIG_FILE,
    Environment,
    PortalConfig,
    load_config,
    with_secret_variable,
)
from portal.environments.parameter_files import (
    ParameterFile,
    empty_parameter_file,
    parse_parameter_file,
)
from portal.environments.repository import RepoSnapshot
from portal.errors import ErrorCode, Finding, FindingsError, Place, PortalError, Severity
from portal.secret_sources import EnvironmentVariable, SecretSource

if TYPE_CHECKING:
    from portal.adf.rules_editor import Rule, RulePreview, RuleTarget
    from portal.environments.git_store import Author, CommitResult


@dataclass(frozen=True)
class Edit:
    """One file changed by an edit, with what it was and what it becomes."""

    path: str
    before: str | None
    after: str | None
    changes: tuple[str, ...]  # one line per change, for the commit message and the preview

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                (self.before or "").splitlines(keepends=True),
                (self.after or "").splitlines(keepends=True),
                fromfile=f"a/{self.path}",
                tofile=f"b/{self.path}",
            )
        )


class MappingWorkspace:
    def __init__(self, snapshot: RepoSnapshot, config: PortalConfig, factory: Factory):
        self.snapshot = snapshot
        self.config = config
        self.factory = factory

    @classmethod
    def open(cls, repo_dir: str | os.PathLike[str] = ".", ref: str | None = None) -> MappingWorkspace:
        """The repository at `ref` (a branch, tag or commit), or its working tree (`ref` None, read anew each
        time). A full commit id is `at_commit`'s: the workspace read once for that commit."""
        if ref is not None and _FULL_COMMIT.fullmatch(ref):
            return cls.at_commit(repo_dir, ref)
        return cls._read(repo_dir, ref)

    @classmethod
    def at_commit(cls, repo_dir: str | os.PathLike[str], commit: str) -> MappingWorkspace:
        """The repository at `commit` (a full commit id), parsed once per process: the same object for every
        caller while the commit is among the `AT_COMMIT_KEPT` used last (see the module's docstring)."""
        if not _FULL_COMMIT.fullmatch(commit):
            raise PortalError(
                f"{Path(repo_dir)}@{commit}",
                f"{commit!r} is not a full commit id",
                hint="resolve the ref to its commit first",
                code=ErrorCode.GIT_REF,
            )
        root = Path(repo_dir).resolve()
        return _AT_COMMIT.get((root, commit), lambda: cls._read(root, commit))

    @classmethod
    def _read(cls, repo_dir: str | os.PathLike[str], ref: str | None) -> MappingWorkspace:
        snapshot = RepoSnapshot.open(repo_dir, ref)
        config = load_config(snapshot)
        root = config.adf.root_folder.strip("/")
        source = open_source(snapshot.root, ref, root or None)  # links in the way are refused, in both views
        loaded = parse_factory(source, factory_name=config.adf.factory_name)
        if loaded.errors:
            raise FindingsError(loaded.errors)
        return cls(snapshot, config, loaded.factory)

    # --- reading -------------------------------------------------------------------------------------------------

    @cached_property
    def export(self) -> ArmExport:
        return export_factory(self.factory)

    @cached_property
    def source_errors(self) -> tuple[Finding, ...]:
        """What `portal validate` calls errors in this factory (names the service refuses, dangling references,
        cycles, self-calls, malformed activities …): a promotion writes nothing while there is one."""
        from portal.adf.validation import check_structure, sort_findings

        return tuple(f for f in sort_findings(check_structure(self.factory)) if f.severity is Severity.ERROR)

    @property
    def parameters(self) -> list[TemplateParameter]:
        return list(self.export.parameters)

    def parameter(self, name: str) -> TemplateParameter:
        for parameter in self.export.parameters:
            if parameter.name == name:
                return parameter
        raise PortalError(
            f"parameter {name!r}",
            "is not a parameter of the template",
            hint="`portal params show ENV` lists them",
            code=ErrorCode.UNKNOWN_PARAMETER,
        )

    def environment(self, name: str) -> Environment:
        return self.config.environment(name)

    def values(self, env: str | Environment) -> ParameterFile:
        environment = self.environment(env) if isinstance(env, str) else env
        path = environment.parameter_file_path
        data = self.snapshot.read(path)
        return empty_parameter_file(path) if data is None else parse_parameter_file(data, path)

    def catalogue(self) -> list[CatalogueEntry]:
        files = {env.name: self.values(env) for env in self.config.environments}
        entries = []
        for parameter in self.export.parameters:
            values = {
                env.name: display_value(
                    parameter,
                    files[env.name].get(parameter.name),
                    env.secrets_from_environment.get(parameter.name),
                    env.data_factory.factory_name,
                )
                for env in self.config.environments
            }
            entries.append(catalogue_entry(parameter, values))
        return entries

    def check(self, env: str | None = None) -> list[Finding]:
        """The findings of one environment (or all), parameter files that cannot be read included."""
        chosen = [self.environment(env)] if env else list(self.config.environments)
        findings: list[Finding] = []
        for environment in chosen:
            try:
                values = self.values(environment)
            except FindingsError as exc:
                findings.extend(exc.findings)
                continue
            findings.extend(check_environment(environment, self.export.parameters, values))
        return sort_findings(findings)

    def stale(self, env: str) -> list[str]:
        names = {p.name for p in self.export.parameters}
        return [name for name in self.values(env).entries if name not in names]

    # --- edits ---------------------------------------------------------------------------------------------------

    def set_values(self, env: str, inputs: Iterable[tuple[str, str | SecretSource]]) -> list[Edit]:
        """Edits that give parameters of `env` new values: text typed by a person (the CLI's form, with
        `keyvault:`/`env:` for a secret's source), or a secret's source as a value (the portal's picker).
        Nothing is written yet; a secret in plain text, a wrong type or an expression is refused here."""
        environment = self.environment(env)
        values = self.values(environment)
        config_text = self._config_text()
        changes: list[str] = []
        config_changes: list[str] = []
        for name, text in inputs:
            parameter = self.parameter(name)
            if name == "factoryName":
                raise PortalError(
                    Place(environment=env, object="factoryName"),
                    "comes from the environment's target",
                    hint="change data_factory.factory_name in portal.yaml",
                    code=ErrorCode.FACTORY_NAME,
                )
            parsed = parse_input(parameter, text, environment)
            if isinstance(parsed, EnvironmentVariable):
                config_text = with_secret_variable(config_text, env, name, parsed.name)
                config_changes.append(f"{env}: {name} from {parsed.describe()}")
                if values.get(name) is not None:
                    values = values.without({name})
                    changes.append(f"{env}: {name} no longer in the parameter file")
                continue
            if name in environment.secrets_from_environment:
                config_text = with_secret_variable(config_text, env, name, None)
            values = values.with_entry(parsed)
            shown = parsed.reference.describe() if parsed.reference else "new value"
            changes.append(f"{env}: set {name} ({shown})")
        edits = []
        if changes:
            edits.append(self._file_edit(values.path, values.to_json(), changes))
        if config_changes or config_text != self._config_text():
            edits.append(self._file_edit(CONFIG_FILE, config_text, config_changes or [f"{env}: secret sources"]))
        return [edit for edit in edits if edit.before != edit.after]

    def remove_stale(self, env: str) -> list[Edit]:
        stale = set(self.stale(env))
        if not stale:
            return []
        values = self.values(env)
        return [
            self._file_edit(
                values.path, values.without(stale).to_json(), [f"{env}: remove stale {name}" for name in sorted(stale)]
            )
        ]

    # --- parameterization rules ---------------------------------------------------------------------------------

    def rules(self) -> list[Rule]:
        """The rules in force: the factory's definition file, or ADF's default when it has none."""
        from portal.adf.rules_editor import current_definition, list_rules

        return list_rules(current_definition(self.factory))

    def change_rules(
        self, *, add: Rule | None = None, remove: RuleTarget | None = None
    ) -> tuple[list[Edit], RulePreview]:
        """An edit of `arm-template-parameters-definition.json` that adds a rule and/or removes one, with the
        preview of the parameters the new rules yield. Nothing is written yet."""
        from portal.adf.rules_editor import add_rule, current_definition, definition_text, preview, remove_rule

        definition = current_definition(self.factory)
        lines = []
        if remove is not None:
            definition = remove_rule(definition, remove)
            lines.append(f"rules: remove {remove.describe()}")
        if add is not None:
            definition = add_rule(definition, add)
            lines.append(f"rules: {add.target.describe()} = {add.text()}")
        root = self.config.adf.root_folder.strip("/")
        path = f"{root}/{PARAMETER_DEFINITION_FILE}" if root else PARAMETER_DEFINITION_FILE
        before = self.snapshot.read(path)
        indent = "    "
        if before is not None:
            found = re.search(rb"\n([ \t]+)\S", before)
            indent = found.group(1).decode() if found else indent
        edit = self._file_edit(path, definition_text(definition, indent), lines)
        return ([edit] if edit.before != edit.after else []), preview(self.factory, definition)

    def _config_text(self) -> str:
        data = self.snapshot.read(CONFIG_FILE)
        return "" if data is None else data.decode("utf-8")

    def _file_edit(self, path: str, after: str, changes: Sequence[str]) -> Edit:
        before = self.snapshot.read(path)
        return Edit(path, None if before is None else before.decode("utf-8"), after, tuple(changes))

    # --- saving --------------------------------------------------------------------------------------------------

    def save(
        self,
        edits: Sequence[Edit],
        *,
        author: Author,
        branch: str | None = None,
        message: str | None = None,
        push: bool | None = None,
    ) -> CommitResult:
        """Commit the edits on a new branch (or directly, where the configuration allows), based on the commit
        this workspace was read at; refused if the main branch moved since."""
        from portal.environments.git_store import FileChange, commit_changes

        if not edits:
            raise PortalError("edit", "changes nothing", code=ErrorCode.NOTHING_CHANGED)
        if self.snapshot.commit is None:
            raise PortalError(
                str(self.snapshot.root), "is not a Git repository with a commit to build on", code=ErrorCode.GIT
            )
        lines = [line for edit in edits for line in edit.changes]
        title = message or (lines[0] if len(lines) == 1 else f"Update parameters: {len(lines)} changes")
        body = "\n".join(f"- {line}" for line in lines)
        # Which branch is the main one, and whether direct commits to it are allowed, is the main branch's committed
        # word, never the working tree's (where anyone could switch direct commits on).
        from portal.environments.trusted import trusted_config, trusted_main

        main = trusted_main(self.snapshot.root)
        git = trusted_config(self.snapshot.root, main).git
        return commit_changes(
            self.snapshot.root,
            [FileChange(edit.path, None if edit.after is None else edit.after.encode("utf-8")) for edit in edits],
            base_branch=main.branch,
            expected_base=self.snapshot.commit,
            author=author,
            message=f"{title}\n\n{body}\n",
            branch=branch,
            allow_direct=git.allow_direct_commits,
            push=git.push if push is None else push,
            remote=git.remote,
        )


# --- the workspaces read at a commit, per process ------------------------------------------------------------------

_FULL_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256 repositories
AT_COMMIT_KEPT = 8  # workspaces kept: each holds a parsed factory and an open repository


class _CommitCache:
    """(resolved repository root, commit id) → the workspace read there; the least recently used go first beyond
    `size`. Thread-safe: a commit being opened is opened by one thread, the others asking for it wait for that."""

    def __init__(self, size: int):
        self.size = size
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[Path, str], MappingWorkspace] = OrderedDict()
        self._opening: dict[tuple[Path, str], threading.Lock] = {}

    def get(self, key: tuple[Path, str], read: Callable[[], MappingWorkspace]) -> MappingWorkspace:
        with self._lock:
            found = self._hit(key)
            if found is not None:
                return found
            opening = self._opening.setdefault(key, threading.Lock())
        with opening:  # outside the cache's lock: parsing one commit does not hold up reading the others
            try:
                with self._lock:
                    found = self._hit(key)
                if found is not None:
                    return found
                workspace = read()
                # A branch named like a commit id (when no such commit exists) moves: what it read is not kept.
                if workspace.snapshot.commit == key[1]:
                    with self._lock:
                        self._kept[key] = workspace
                        while len(self._kept) > self.size:
                            self._kept.popitem(last=False)
                return workspace
            finally:
                with self._lock:
                    if self._opening.get(key) is opening:
                        del self._opening[key]

    def _hit(self, key: tuple[Path, str]) -> MappingWorkspace | None:
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
        return found

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


_AT_COMMIT = _CommitCache(AT_COMMIT_KEPT)
