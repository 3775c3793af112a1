"""Load a factory from a folder or from a Git commit.

Reading Git goes through the blobs of the commit, never the working tree, so what is exported is exactly what
was committed at that ref.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from portal.errors import Finding, FindingsError, PortalError, Severity
from portal.adf.model import (
    FACTORY_FOLDER,
    GLOBAL_PARAMETERS_FOLDER,
    OBJECT_FOLDERS,
    PARAMETER_DEFINITION_FILE,
    PUBLISH_CONFIG_FILE,
    AdfObject,
    Factory,
    Kind,
)


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the ADF root, with forward slashes
    data: bytes


@dataclass(frozen=True)
class FactorySource:
    """The JSON files below an ADF root folder, from a folder on disk or from one Git commit."""

    label: str
    files: tuple[SourceFile, ...]


@dataclass(frozen=True)
class LoadResult:
    factory: Factory
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]


def read_folder(root: str | os.PathLike[str]) -> FactorySource:
    base = Path(root)
    if not base.is_dir():
        raise PortalError(str(base), "ADF root folder does not exist or is not a folder", code="ADF_ROOT")
    files: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(base):
        # Hidden folders (.git, .vscode) are never part of the factory.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if not filename.lower().endswith(".json"):
                continue
            full = Path(dirpath, filename)
            rel = full.relative_to(base).as_posix()
            files.append(SourceFile(rel, full.read_bytes()))
    return FactorySource(label=str(base), files=tuple(files))


def open_repository(path: str | os.PathLike[str]) -> Any:
    """The Git repository (GitPython) that contains `path`; a clear error when there is none."""
    import git  # GitPython; imported here so folder exports work without Git installed

    start = Path(path).resolve()
    try:
        return git.Repo(start if start.is_dir() else start.parent, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise PortalError(str(path), "not inside a Git repository, so --ref cannot be read", code="GIT") from exc


def resolve_commit(repo: Any, ref: str) -> Any:
    """The commit `ref` names (branch, tag, id), or an error that quotes the ref."""
    import git

    try:
        return repo.commit(ref)
    except (git.BadName, ValueError, git.GitCommandError) as exc:
        top = repo.working_tree_dir or repo.git_dir
        raise PortalError(f"{top}@{ref}", f"Git ref {ref!r} does not name a commit", code="GIT_REF") from exc


def read_git(path: str | os.PathLike[str], ref: str, root_folder: str | None = None) -> FactorySource:
    """Read the ADF root at `ref` from the Git repository that contains `path`.

    `path` is the ADF root inside a working tree (or the repository itself when `root_folder` names the ADF
    root folder as ADF's Git configuration does, e.g. `/adf`).
    """
    start = Path(path).resolve()
    repo = open_repository(start)
    top = Path(repo.working_tree_dir or repo.git_dir).resolve()
    if root_folder is not None:
        rel_root = PurePosixPath(root_folder.strip("/"))
    else:
        rel_root = PurePosixPath(start.relative_to(top).as_posix()) if start != top else PurePosixPath("")
    commit = resolve_commit(repo, ref)
    tree = commit.tree
    if str(rel_root) not in ("", "."):
        try:
            tree = tree / str(rel_root)
        except KeyError as exc:
            raise PortalError(
                f"{top}@{ref}", f"folder {str(rel_root)!r} does not exist at commit {commit.hexsha[:10]}",
                code="GIT_PATH",
            ) from exc
        if tree.type != "tree":
            raise PortalError(f"{top}@{ref}:{rel_root}", "is not a folder", code="GIT_PATH")
    files = []
    for item in tree.traverse():
        if item.type != "blob" or not item.path.lower().endswith(".json"):
            continue
        rel = PurePosixPath(item.path).relative_to(PurePosixPath(tree.path)) if tree.path else PurePosixPath(item.path)
        if any(part.startswith(".") for part in rel.parts):
            continue
        files.append(SourceFile(rel.as_posix(), item.data_stream.read()))
    files.sort(key=lambda f: f.path)
    label = f"{top}@{ref}" + (f":{rel_root}" if str(rel_root) not in ("", ".") else "")
    return FactorySource(label=label, files=tuple(files))


def open_source(path: str | os.PathLike[str], ref: str | None = None, root_folder: str | None = None) -> FactorySource:
    if ref is not None:
        return read_git(path, ref, root_folder)
    base = Path(path)
    if root_folder:
        base = base / root_folder.strip("/")
    return read_folder(base)


def load_factory(
    path: str | os.PathLike[str],
    ref: str | None = None,
    *,
    root_folder: str | None = None,
    factory_name: str | None = None,
) -> Factory:
    """Load a factory, raising `FindingsError` when a file cannot be read as an ADF object."""
    result = parse_factory(open_source(path, ref, root_folder), factory_name=factory_name)
    if result.errors:
        raise FindingsError(result.errors)
    return result.factory


def parse_json(data: bytes, where: str) -> tuple[Any, Finding | None]:
    """Decode one file; a problem comes back as a finding naming the file, line and column."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, Finding("JSON_ENCODING", where, f"is not UTF-8 text (byte {exc.start})")
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, Finding("JSON_SYNTAX", f"{where}:{exc.lineno}:{exc.colno}", f"invalid JSON: {exc.msg}")


def parse_factory(source: FactorySource, *, factory_name: str | None = None) -> LoadResult:
    findings: list[Finding] = []
    objects: list[AdfObject] = []
    factory_files: list[tuple[str, dict[str, Any]]] = []
    publish_config: dict[str, Any] = {}
    definition: dict[str, Any] | None = None
    definition_path: str | None = None
    global_parameters: dict[str, Any] | None = None
    unknown_folders: set[str] = set()

    for file in source.files:
        parts = PurePosixPath(file.path).parts
        where = file.path
        if len(parts) == 1:
            if parts[0] == PUBLISH_CONFIG_FILE:
                value, problem = parse_json(file.data, where)
                if problem:
                    findings.append(problem)
                elif value is not None and not isinstance(value, dict):
                    findings.append(Finding("PUBLISH_CONFIG", where, "must hold a JSON object"))
                else:
                    publish_config = value or {}
            elif parts[0] == PARAMETER_DEFINITION_FILE:
                value, problem = parse_json(file.data, where)
                if problem:
                    findings.append(problem)
                elif not isinstance(value, dict):
                    findings.append(Finding("PARAM_DEFINITION", where, "must hold a JSON object"))
                else:
                    definition, definition_path = value, where
            continue

        folder = parts[0]
        if folder == FACTORY_FOLDER and len(parts) == 2:
            value, problem = parse_json(file.data, where)
            if problem:
                findings.append(problem)
            elif not isinstance(value, dict):
                findings.append(Finding("NOT_AN_OBJECT", where, "must hold a JSON object"))
            else:
                factory_files.append((where, value))
            continue
        if folder == GLOBAL_PARAMETERS_FOLDER and len(parts) == 2:
            value, problem = parse_json(file.data, where)
            if problem:
                findings.append(problem)
            elif not isinstance(value, dict):
                findings.append(Finding("NOT_AN_OBJECT", where, "must hold a JSON object"))
            else:
                global_parameters = value
            continue

        kind, parent = _kind_for(parts)
        if kind is None:
            if folder in OBJECT_FOLDERS or folder == FACTORY_FOLDER:
                findings.append(
                    Finding("UNEXPECTED_PATH", where, "is not where ADF Git integration puts this kind of object",
                            Severity.WARNING, "object files sit directly in their folder")
                )
            elif folder not in unknown_folders:
                unknown_folders.add(folder)
                findings.append(
                    Finding("UNKNOWN_FOLDER", f"{folder}/", "is not a folder ADF Git integration writes; ignored",
                            Severity.WARNING)
                )
            continue
        value, problem = parse_json(file.data, where)
        if problem:
            findings.append(problem)
            continue
        if not isinstance(value, dict):
            findings.append(Finding("NOT_AN_OBJECT", where, "must hold a JSON object"))
            continue
        name = value.get("name")
        if not isinstance(name, str) or not name:
            findings.append(Finding("MISSING_NAME", where, "has no \"name\" string"))
            continue
        if "properties" in value and not isinstance(value["properties"], dict):
            findings.append(Finding("BAD_PROPERTIES", f"{where} ({name})", "\"properties\" must be a JSON object"))
            continue
        objects.append(AdfObject(kind=kind, name=name, body=value, path=where, parent=parent))

    factory_path, factory_body, chosen_name = _choose_factory(factory_files, factory_name, findings)
    objects.sort(key=lambda o: (o.kind.value, o.qualified_name.encode("utf-8")))
    factory = Factory(
        name=chosen_name or "",
        source=source.label,
        objects=tuple(objects),
        factory_body=factory_body,
        factory_path=factory_path,
        publish_config=publish_config,
        parameter_definition=definition,
        parameter_definition_path=definition_path,
        global_parameters_body=global_parameters,
    )
    if not chosen_name:
        findings.append(
            Finding("FACTORY_NAME", f"{FACTORY_FOLDER}/", "no factory file, so the factory name is unknown",
                    hint="pass --factory-name NAME")
        )
    return LoadResult(factory=factory, findings=tuple(findings))


def _kind_for(parts: tuple[str, ...]) -> tuple[Kind | None, str | None]:
    folder = parts[0]
    if folder == Kind.MANAGED_VIRTUAL_NETWORK.value:
        if len(parts) == 2:
            return Kind.MANAGED_VIRTUAL_NETWORK, None
        if len(parts) == 4 and parts[2] == "managedPrivateEndpoint":
            return Kind.MANAGED_PRIVATE_ENDPOINT, parts[1]
        return None, None
    kind = OBJECT_FOLDERS.get(folder)
    if kind is not None and len(parts) == 2:
        return kind, None
    return None, None


def _choose_factory(
    files: list[tuple[str, dict[str, Any]]], wanted: str | None, findings: list[Finding]
) -> tuple[str | None, dict[str, Any] | None, str | None]:
    named = [(path, body, body.get("name") if isinstance(body.get("name"), str) else PurePosixPath(path).stem)
             for path, body in files]
    if wanted:
        for path, body, name in named:
            if name == wanted:
                return path, body, name
        if named:
            findings.append(
                Finding("FACTORY_NAME", f"{FACTORY_FOLDER}/",
                        f"no factory file is named {wanted!r}; exporting without factory settings",
                        Severity.WARNING, "factory files: " + ", ".join(n for _, _, n in named))
            )
        return None, None, wanted
    if not named:
        return None, None, None
    if len(named) == 1:
        return named[0]
    # Several factories share the repository (dev and prod files). Publish runs in the Git-linked factory, which
    # is the development one, so prefer a name that says so; tell the user either way.
    dev = [entry for entry in named if "dev" in entry[2].lower()]
    chosen = dev[0] if len(dev) == 1 else sorted(named, key=lambda e: e[2])[0]
    findings.append(
        Finding("FACTORY_CHOICE", f"{FACTORY_FOLDER}/",
                f"{len(named)} factory files; exporting for {chosen[2]!r}", Severity.WARNING,
                "pass --factory-name NAME to choose another")
    )
    return chosen
