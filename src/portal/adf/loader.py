"""Load a factory from a folder or from a Git commit.

Reading Git goes through the blobs of the commit, never the working tree, so what is exported is exactly what
was committed at that ref.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from portal import git_repo, safe_json
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
from portal.errors import ErrorCode, Finding, FindingsError, PortalError, Severity


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the ADF root, with forward slashes
    data: bytes
    link: str | None = None  # a symbolic link's target (as stored, never followed); `data` is then empty


LINK_MODE = 0o120000  # how Git stores a symbolic link: a blob holding the target path
# What reading a ref says where the folder is in no Git repository (portal.git_repo.open_repo's error).
NOT_A_REPOSITORY_FOR_REF = "not inside a Git repository, so --ref cannot be read"


def is_source_path(path: str | PurePosixPath, *, link: bool = False) -> bool:
    """The one rule both readers (folder and commit) select files by: a path below the ADF root is part of the
    factory's source when no folder on its way is hidden (`.git`, `.vscode`) and its name ends in `.json`.
    Symbolic links are selected under any name that is not hidden, so that `parse_factory` can report them."""
    *folders, name = PurePosixPath(path).parts
    if any(folder.startswith(".") for folder in folders):
        return False
    return name.lower().endswith(".json") or (link and not name.startswith("."))


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
    """The source files below `root` on disk, selected by `is_source_path`. Symbolic links (to files or folders)
    are recorded with their target and never followed; folders holding a repository of their own (a `.git`),
    which a commit holds as a submodule, are not entered."""
    base = Path(root)
    if not base.is_dir():
        raise PortalError(str(base), "ADF root folder does not exist or is not a folder", code=ErrorCode.ADF_ROOT)
    files: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(base):
        here = Path(dirpath)
        kept = []
        for name in dirnames:
            full = here / name
            rel = full.relative_to(base).as_posix()
            if full.is_symlink():
                if is_source_path(rel, link=True):
                    files.append(SourceFile(rel, b"", link=os.readlink(full)))
            elif not name.startswith(".") and not (full / ".git").exists():
                kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            full = here / name
            rel = full.relative_to(base).as_posix()
            mode = full.lstat().st_mode
            if stat.S_ISLNK(mode):
                if is_source_path(rel, link=True):
                    files.append(SourceFile(rel, b"", link=os.readlink(full)))
            elif stat.S_ISREG(mode) and is_source_path(rel):
                files.append(SourceFile(rel, full.read_bytes()))
    files.sort(key=lambda f: f.path)
    return FactorySource(label=str(base), files=tuple(files))


def read_git(path: str | os.PathLike[str], ref: str, root_folder: str | None = None) -> FactorySource:
    """Read the ADF root at `ref` from the Git repository that contains `path`.

    `path` is the ADF root inside a working tree (or the repository itself when `root_folder` names the ADF
    root folder as ADF's Git configuration does, e.g. `/adf`).
    """
    start = Path(path).resolve()
    repo = git_repo.open_repo(start, what=NOT_A_REPOSITORY_FOR_REF)
    top = Path(repo.working_tree_dir or repo.git_dir).resolve()
    if root_folder is not None:
        rel_root = PurePosixPath(root_folder.strip("/"))
    else:
        rel_root = PurePosixPath(start.relative_to(top).as_posix()) if start != top else PurePosixPath("")
    commit = git_repo.resolve_commit(repo, ref)
    tree = commit.tree
    if str(rel_root) not in ("", "."):
        for part in rel_root.parts:
            try:
                tree = tree / part
            except KeyError as exc:
                raise PortalError(
                    f"{top}@{ref}",
                    f"folder {str(rel_root)!r} does not exist at commit {commit.hexsha[:10]}",
                    code=ErrorCode.GIT_PATH,
                ) from exc
            if tree.type == "blob" and tree.mode == LINK_MODE:
                raise PortalError(
                    f"{top}@{ref}:{tree.path}",
                    "is a symbolic link: the ADF root folder must be a "
                    "folder of the repository (links are not followed)",
                    code=ErrorCode.SYMLINK,
                )
            if tree.type != "tree":
                raise PortalError(f"{top}@{ref}:{rel_root}", "is not a folder", code=ErrorCode.GIT_PATH)
    files = []
    base = PurePosixPath(tree.path) if tree.path else None
    # Submodules (a repository of their own) are not entered, as the folder reader skips nested repositories.
    for item in git_repo.tree_blobs(tree):
        rel = PurePosixPath(item.path).relative_to(base) if base is not None else PurePosixPath(item.path)
        if item.mode == LINK_MODE:
            if is_source_path(rel, link=True):
                target = item.data_stream.read().decode("utf-8", "surrogateescape")
                files.append(SourceFile(rel.as_posix(), b"", link=target))
        elif is_source_path(rel):
            files.append(SourceFile(rel.as_posix(), item.data_stream.read()))
    files.sort(key=lambda f: f.path)
    label = f"{top}@{ref}" + (f":{rel_root}" if str(rel_root) not in ("", ".") else "")
    return FactorySource(label=label, files=tuple(files))


def open_source(path: str | os.PathLike[str], ref: str | None = None, root_folder: str | None = None) -> FactorySource:
    if ref is not None:
        return read_git(path, ref, root_folder)
    base = Path(path)
    if root_folder:
        for part in PurePosixPath(root_folder.strip("/")).parts:
            base = base / part
            if base.is_symlink():
                raise PortalError(
                    str(base),
                    "is a symbolic link: the ADF root folder must be a folder of the "
                    "repository (links are not followed)",
                    code=ErrorCode.SYMLINK,
                )
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
        return None, Finding(ErrorCode.JSON_ENCODING, where, f"is not UTF-8 text (byte {exc.start})")
    try:
        return safe_json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, Finding(ErrorCode.JSON_SYNTAX, f"{where}:{exc.lineno}:{exc.colno}", f"invalid JSON: {exc.msg}")
    except safe_json.NestingError as exc:
        return None, Finding(ErrorCode.JSON_NESTING, where, str(exc))


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
        problem = _file_problem(file, parts)
        if problem is not None:
            findings.append(problem)
            continue
        if len(parts) == 1:
            if parts[0] == PUBLISH_CONFIG_FILE:
                value, problem = parse_json(file.data, where)
                if problem:
                    findings.append(problem)
                elif value is not None and not isinstance(value, dict):
                    findings.append(Finding(ErrorCode.PUBLISH_CONFIG, where, "must hold a JSON object"))
                else:
                    publish_config = value or {}
            elif parts[0] == PARAMETER_DEFINITION_FILE:
                value, problem = parse_json(file.data, where)
                if problem:
                    findings.append(problem)
                elif not isinstance(value, dict):
                    findings.append(Finding(ErrorCode.PARAM_DEFINITION, where, "must hold a JSON object"))
                else:
                    definition, definition_path = value, where
            continue

        folder = parts[0]
        if folder == FACTORY_FOLDER and len(parts) == 2:
            value, problem = parse_json(file.data, where)
            if problem:
                findings.append(problem)
            elif not isinstance(value, dict):
                findings.append(Finding(ErrorCode.NOT_AN_OBJECT, where, "must hold a JSON object"))
            else:
                factory_files.append((where, value))
            continue
        if folder == GLOBAL_PARAMETERS_FOLDER and len(parts) == 2:
            value, problem = parse_json(file.data, where)
            if problem:
                findings.append(problem)
            elif not isinstance(value, dict):
                findings.append(Finding(ErrorCode.NOT_AN_OBJECT, where, "must hold a JSON object"))
            else:
                global_parameters = value
            continue

        kind, parent = _kind_for(parts)
        if kind is None:
            if folder in OBJECT_FOLDERS or folder == FACTORY_FOLDER:
                findings.append(
                    Finding(
                        ErrorCode.UNEXPECTED_PATH,
                        where,
                        "is not where ADF Git integration puts this kind of object",
                        Severity.WARNING,
                        "object files sit directly in their folder",
                    )
                )
            elif folder not in unknown_folders:
                unknown_folders.add(folder)
                findings.append(
                    Finding(
                        ErrorCode.UNKNOWN_FOLDER,
                        f"{folder}/",
                        "is not a folder ADF Git integration writes; ignored",
                        Severity.WARNING,
                    )
                )
            continue
        value, problem = parse_json(file.data, where)
        if problem:
            findings.append(problem)
            continue
        if not isinstance(value, dict):
            findings.append(Finding(ErrorCode.NOT_AN_OBJECT, where, "must hold a JSON object"))
            continue
        name = value.get("name")
        if not isinstance(name, str) or not name:
            findings.append(Finding(ErrorCode.MISSING_NAME, where, 'has no "name" string'))
            continue
        if "properties" in value and not isinstance(value["properties"], dict):
            findings.append(
                Finding(ErrorCode.BAD_PROPERTIES, f"{where} ({name})", '"properties" must be a JSON object')
            )
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
            Finding(
                ErrorCode.FACTORY_NAME,
                f"{FACTORY_FOLDER}/",
                "no factory file, so the factory name is unknown",
                hint="pass --factory-name NAME",
            )
        )
    return LoadResult(factory=factory, findings=tuple(findings))


def _file_problem(file: SourceFile, parts: tuple[str, ...]) -> Finding | None:
    """What stops a selected file from being read at all, the same for a folder and a commit: a symbolic link
    (never followed: it could lead out of the repository; at a commit Git holds only the target's path), or a
    name that gives no object name (ADF names an object's file `<name>.json`, and names are never empty, `.` or
    `..`). An error where ADF would read the file as an object, a warning where it reads nothing anyway."""
    name = parts[-1]
    read_by_adf = (
        (len(parts) == 1 and name in (PUBLISH_CONFIG_FILE, PARAMETER_DEFINITION_FILE))
        or (len(parts) == 2 and parts[0] in (FACTORY_FOLDER, GLOBAL_PARAMETERS_FOLDER))
        or _kind_for(parts)[0] is not None
    )
    if file.link is not None:
        if name.lower().endswith(".json"):
            return Finding(
                ErrorCode.SYMLINK,
                file.path,
                f"is a symbolic link (to {file.link!r}); links are never followed, "
                "since they can lead out of the repository",
                Severity.ERROR if read_by_adf else Severity.WARNING,
                "commit the file itself",
            )
        return Finding(
            ErrorCode.SYMLINK,
            file.path,
            f"is a symbolic link (to {file.link!r}); not followed, so nothing below it is part of the factory",
            Severity.WARNING,
            "commit the folder or file itself",
        )
    stem = name[: -len(".json")]
    if stem.strip(".") == "":
        if read_by_adf:
            return Finding(
                ErrorCode.OBJECT_FILE_NAME,
                file.path,
                f"gives the object name {stem!r}, which ADF refuses: "
                "object names are never empty, '.' or '..' (nor only dots)",
                hint="name the file after its object: <name>.json",
            )
        return Finding(
            ErrorCode.OBJECT_FILE_NAME,
            file.path,
            "has no object name before .json; ADF ignores it, and so does the portal",
            Severity.WARNING,
        )
    return None


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
    named: list[tuple[str, dict[str, Any], str]] = [
        (path, body, name if isinstance(name := body.get("name"), str) else PurePosixPath(path).stem)
        for path, body in files
    ]
    if wanted:
        for path, body, name in named:
            if name == wanted:
                return path, body, name
        if named:
            findings.append(
                Finding(
                    ErrorCode.FACTORY_NAME,
                    f"{FACTORY_FOLDER}/",
                    f"no factory file is named {wanted!r}; exporting without factory settings",
                    Severity.WARNING,
                    "factory files: " + ", ".join(n for _, _, n in named),
                )
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
        Finding(
            ErrorCode.FACTORY_CHOICE,
            f"{FACTORY_FOLDER}/",
            f"{len(named)} factory files; exporting for {chosen[2]!r}",
            Severity.WARNING,
            "pass --factory-name NAME to choose another",
        )
    )
    return chosen
