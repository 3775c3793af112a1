"""Writing a command's output folder (`portal export-arm --out`, `portal render --out`) without losing anything.

- **Refused targets.** Nothing is written, and the PortalError (code OUT_DIR) names the folder and why, when the
  folder is or contains a Git repository (a `.git` folder or file anywhere below it), lies inside a Git folder
  (`.git`, or a bare repository), is or contains what the command reads (the data repository, the ADF root) or
  an audit store (`.portal/audit.db`, `.git/portal/audit.db`), is a file or lies below one, or cannot be written.
- **Atomic.** The files are written to a temporary folder beside the target, which is then moved into place: the
  target never holds a half-written output, and a failure at any point leaves it as it was.
- **The user's files are kept.** Whatever the folder holds is carried over, except the files the command itself
  wrote before: those are replaced, or removed when this run no longer writes them (stale). Which files are the
  command's own comes from a manifest the command leaves in the folder (`portal render`) or from names only the
  command writes (the files ADF Publish names). A file of the user's where the command wants to write is never
  overwritten: the write is refused, naming it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TextIO

from portal.errors import ErrorCode, PortalError
from portal.safe_json import loads as load_json

__all__ = ["OutputFile", "Protected", "write_output_folder"]

AUDIT_STORES = (".portal/audit.db", ".git/portal/audit.db")


@dataclass(frozen=True)
class OutputFile:
    path: str  # relative to the output folder, forward slashes
    write: Callable[[TextIO], None]  # writes the file's text (UTF-8, newlines as given)


@dataclass(frozen=True)
class Protected:
    """A path the output folder must not be, nor contain: what the command reads, or the audit store."""

    path: Path
    what: str  # "the data repository", "the ADF root folder" …


def repository_protections(root: str | os.PathLike[str], what: str = "the data repository") -> list[Protected]:
    """The repository itself and its audit stores (SQLite), which no output may replace."""
    base = Path(root)
    return [Protected(base, what), *(Protected(base / store, "the audit store") for store in AUDIT_STORES)]


def write_output_folder(
    out_dir: str | os.PathLike[str],
    files: Iterable[OutputFile],
    *,
    command: str,
    protected: Sequence[Protected] = (),
    own_files: Callable[[Path], Iterable[str]] | None = None,
    manifest: str | None = None,
) -> Path:
    """Write `files` into `out_dir` as the module docstring says; the folder's resolved path.

    The command's own files from an earlier run are those `own_files(folder)` names, or, with `manifest`, those
    listed in that manifest file, which this run writes again (listing what it wrote).
    """
    target = checked_target(out_dir, protected, command)
    staging = _make_staging(target)
    try:
        if target.is_dir():
            previous = _previous_files(target, own_files, manifest, command)
            shutil.copytree(target, staging, symlinks=True, dirs_exist_ok=True)
            for relative in previous:
                _remove_own(staging, relative)
        written: list[str] = []
        seen: set[str] = set()
        for output in files:
            relative = _relative(output.path, target)
            if relative in seen or relative == manifest:
                raise PortalError(
                    f"{target}/{relative}", f"{command} would write this file twice", code=ErrorCode.OUT_DIR
                )
            seen.add(relative)
            path = _free_path(staging, relative, target, command)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as handle:
                output.write(handle)
            written.append(relative)
        if manifest is not None:
            path = _free_path(staging, manifest, target, command, own=True)
            path.write_text(
                json.dumps({"writtenBy": command, "files": sorted(written)}, indent=2) + "\n", encoding="utf-8"
            )
        _swap(staging, target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        place = error.filename if isinstance(error.filename, str) else str(target)
        if place.startswith(str(staging)):
            place = str(target) + place[len(str(staging)) :]
        raise PortalError(place, f"cannot be written: {error.strerror or error}", code=ErrorCode.OUT_DIR) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def checked_target(out_dir: str | os.PathLike[str], protected: Sequence[Protected], command: str) -> Path:
    """The output folder, resolved; a PortalError (OUT_DIR) naming it and why when it must not be written."""
    given = Path(out_dir)
    try:
        target = given.resolve()
    except (OSError, RuntimeError) as error:  # a symbolic link loop
        raise PortalError(str(given), f"cannot be used as the output folder: {error}", code=ErrorCode.OUT_DIR) from None

    def refuse(why: str, hint: str | None = None) -> PortalError:
        return PortalError(
            str(target),
            f"cannot be the output folder of {command}: {why}; nothing was written",
            hint=hint or "choose a folder of its own, e.g. ./out",
            code=ErrorCode.OUT_DIR,
        )

    if target.exists() and not target.is_dir():
        raise refuse("it exists and is not a folder")
    for parent in target.parents:
        if parent.exists() and not parent.is_dir():
            raise refuse(f"{parent} is a file, not a folder")
    for place in (target, *target.parents):
        if place.name == ".git":
            raise refuse(f"it is inside the Git folder {place}")
        if _is_git_folder(place):
            raise refuse(f"it is inside the Git repository folder {place}")
    for item in protected:
        path = Path(os.path.abspath(item.path))
        for candidate in {path, path.resolve()}:
            if candidate == target:
                raise refuse(f"it is {item.what} ({candidate})")
            if target in candidate.parents:
                raise refuse(f"it contains {item.what} ({candidate})")
    if target.is_dir():
        for dirpath, dirnames, filenames in os.walk(target):  # links are not followed
            here = Path(dirpath)
            dirnames.sort()  # the first one found, in name order
            if ".git" in dirnames or ".git" in filenames:
                raise refuse(f"it contains the Git repository {here} (with {here / '.git'})")
            if here.name == ".portal" and "audit.db" in filenames:
                raise refuse(f"it contains the audit store {here / 'audit.db'}")
    return target


def _is_git_folder(place: Path) -> bool:
    """A repository's Git folder (a bare repository, or a `.git` folder under another name)."""
    try:
        return (place / "HEAD").is_file() and (place / "objects").is_dir() and (place / "refs").is_dir()
    except OSError:
        return False


def _make_staging(target: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as error:
        raise PortalError(
            str(target),
            f"cannot be written: {error.strerror or error} ({error.filename or target})",
            hint="choose a folder you may write to",
            code=ErrorCode.OUT_DIR,
        ) from None


def _previous_files(
    target: Path, own_files: Callable[[Path], Iterable[str]] | None, manifest: str | None, command: str
) -> list[str]:
    """The files an earlier run of the command wrote into `target` (relative paths)."""
    found: list[str] = []
    if own_files is not None:
        found.extend(own_files(target))
    if manifest is not None:
        path = target / manifest
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise PortalError(
                str(path),
                f"is not the file list {command} writes; nothing was written",
                hint="remove it, or choose another folder",
                code=ErrorCode.OUT_DIR,
            )
        if path.is_file():
            where = str(path)
            try:
                document = load_json(path.read_bytes().decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as error:
                raise PortalError(
                    where,
                    f"is not the file list {command} writes ({error}); nothing was written",
                    hint="remove it, or choose another folder",
                    code=ErrorCode.OUT_DIR,
                ) from None
            listed = document.get("files") if isinstance(document, dict) else None
            if not isinstance(listed, list) or not all(isinstance(f, str) for f in listed):
                raise PortalError(
                    where,
                    f'is not the file list {command} writes (no "files" list); nothing was written',
                    hint="remove it, or choose another folder",
                    code=ErrorCode.OUT_DIR,
                )
            found.extend(_relative(f, target, where) for f in listed)
            found.append(manifest)
    return found


def _relative(path: str, target: Path, listed_in: str | None = None) -> str:
    pure = PurePosixPath(path)
    if not path or "\\" in path or pure.is_absolute() or any(p in ("", ".", "..") for p in path.split("/")):
        raise PortalError(
            listed_in or f"{target}/{path}",
            f"names {path!r}, which is no path inside the output folder; nothing was written",
            code=ErrorCode.OUT_DIR,
        )
    return pure.as_posix()


def _remove_own(staging: Path, relative: str) -> None:
    """Remove a file the command wrote before (it is written again, or it is stale), and folders it leaves empty."""
    path = staging / relative
    if _linked_parent(staging, relative) is not None:
        return  # under a link of the user's: never followed
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        return  # the user made a folder of it: theirs
    path.unlink()
    parent = path.parent
    while parent != staging:
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break
        parent = parent.parent


def _linked_parent(staging: Path, relative: str) -> Path | None:
    current = staging
    for part in relative.split("/")[:-1]:
        current = current / part
        if current.is_symlink():
            return current
    return None


def _free_path(staging: Path, relative: str, target: Path, command: str, *, own: bool = False) -> Path:
    """Where `relative` goes in the staging folder; refused where a file of the user's is (or a link would lead
    the write elsewhere)."""
    link = _linked_parent(staging, relative)
    if link is not None:
        raise PortalError(
            f"{target}/{link.relative_to(staging).as_posix()}",
            f"is a symbolic link where {command} writes {relative}; nothing was written",
            hint="remove the link, or choose another folder",
            code=ErrorCode.OUT_DIR,
        )
    path = staging / relative
    if os.path.lexists(path) and not own:
        raise PortalError(
            f"{target}/{relative}",
            f"is a file {command} did not write, where it would write one: it is kept, and nothing was written",
            hint="move the file away, or choose another folder",
            code=ErrorCode.OUT_DIR,
        )
    if own and os.path.lexists(path) and not path.is_file():
        raise PortalError(
            f"{target}/{relative}",
            f"is in the way of the file list {command} writes; nothing was written",
            hint="remove it, or choose another folder",
            code=ErrorCode.OUT_DIR,
        )
    return path


def _swap(staging: Path, target: Path) -> None:
    """Move the staging folder into place; the old folder goes only once the new one is there."""
    if not target.exists():
        os.replace(staging, target)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    backup.rmdir()  # a free name of our own: the old folder moves there
    os.replace(target, backup)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)
