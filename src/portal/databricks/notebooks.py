"""Notebook sources from Git, ready to deploy to a Databricks workspace folder.

`load_notebooks(snapshot, source_folder, target_folder)` reads every file below `source_folder` (at the snapshot's
commit, or in the working tree) and says, for each, where it goes in the workspace, as what, and with which
`/api/2.0/workspace/import` format. Bad input is one `FindingsError` that lists every problem, each naming the
repository file (`path@ref` when read from a commit); nothing is returned then.

Rules (and why):

* **Source notebook**: a `.py`, `.r`, `.sql` or `.scala` file (extension matched case-insensitively, as the
  Databricks CLI does) whose first line (without its line ending) is exactly the header of the extension's
  language: `# Databricks notebook source` (Python, R), `-- Databricks notebook source` (SQL),
  `// Databricks notebook source` (Scala). Imported with format `SOURCE` and that language; it must be UTF-8.
  This is the CLI's own test (`libs/notebook/detect.go`) and what Databricks writes when it saves a notebook.
* **Jupyter notebook**: every `.ipynb` file. It must be UTF-8 JSON with a `cells` list, a `metadata` object and
  `nbformat` >= 4 (otherwise the import fails anyway); imported with format `JUPYTER`. Its language comes from
  `metadata["application/vnd.databricks.v1+notebook"].language`, else `metadata.language_info.name`, else
  `metadata.kernelspec.language`, else Python; any other language (e.g. Julia) is an error.
* **Plain workspace file**: every other file, including a `.py`/`.sql`/`.scala`/`.r` file without the header,
  text or binary. Deployed byte for byte with format `RAW`, which Databricks imports as a FILE without looking at
  the content (Terraform's `databricks_workspace_file` does the same). `AUTO` would sniff extension and header
  again and imports a `.zip` as a folder, so the portal, not the server, decides.
* **Errors instead of guesses**: a file whose first line is a notebook header that does not belong to its
  extension (the SQL header in a `.py`, any header in a `.txt`) is an error, not silently a plain file; so is a
  header preceded by a UTF-8 byte order mark (Databricks would not see the header).
* **Skipped**: files and folders whose name starts with "." (`.gitkeep`, `.DS_Store`, `.env`); they are listed in
  `NotebookSet.skipped`, never deployed.
* **Workspace paths**: `<target_folder>/<path below base_folder>`, where `base_folder` is the repository's top
  unless given; notebooks lose their extension as Databricks
  does on import (`notebooks/transform_sales.py` -> `<target>/notebooks/transform_sales`), plain files keep their
  name. Two sources on one workspace path, a notebook where another source needs a folder, and a notebook `x`
  next to a plain file named `x` + the notebook language's extension (Databricks refuses both in one folder) are
  errors naming both files. Names may not be empty, `.`/`..`, contain a backslash or control characters, or be
  longer than 255 UTF-8 bytes (a conservative limit; Databricks documents none).
* **Symbolic links** are followed inside the repository, in both views alike (at a commit Git holds the link's
  target text); a link to an absolute path, out of the repository, to a hidden file or folder (`.git`, `.env`),
  to a folder, or dangling is an error.
* **Target folder**: absolute, POSIX, without `.`, `..`, empty components or control characters, and strictly
  below one of `allowed_roots` (default `/Shared`, `/Users`, `/Workspace/Shared`, `/Workspace/Users`): the
  portal owns a folder of its own and never deploys into a root itself, nor into `/Repos` (Git folders are
  updated by the Repos API, not by import). It is kept without the `/Workspace` prefix
  (`workspace.canonical_workspace_path`: `/Workspace` is the workspace file system's root, so
  `/Workspace/Shared/etl` is `/Shared/etl`), and so is every workspace path derived from it; the allowed roots are
  compared in that form too (`/Workspace/Repos/x` is in `/Repos`).
* **Size**: content over `max_bytes` (default 10 MB, the import API's limit) is an error.

Hashing (drift detection compares Git with what `workspace.export` returns): `content_hash` is the SHA-256 of a
normalised form, so that formatting Databricks does not keep hashes the same.

* Source notebooks: line endings -> `\\n`; the header line is dropped when present (the export always starts with
  exactly one); cells are split at the `COMMAND ----------` lines and each loses its leading and trailing blank
  lines and trailing whitespace; the cells are joined again in Databricks' own layout. So the Git file, the same
  file with CRLF, and `export(format=SOURCE)` (header plus cells) hash the same; any change inside a cell does not.
* Jupyter notebooks: the cells' types and sources (line endings normalised, trailing whitespace dropped); outputs,
  execution counts and metadata are ignored. Compare with `export(format=JUPYTER)`.
* Plain files: UTF-8 text with line endings -> `\\n` and the whitespace at the end of the file reduced to one
  newline; anything else byte for byte. `export(format=SOURCE)` of a FILE returns its bytes.

`content_hash_of_export(exported, source)` hashes an export the way `source.content_hash` was made;
`NotebookSource.export_format` says which export format to ask for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

from portal import safe_json
from portal.databricks.workspace import canonical_workspace_path
from portal.environments.repository import RepoSnapshot
from portal.errors import ErrorCode, Finding, FindingsError, PortalError

LANGUAGES = ("PYTHON", "SQL", "SCALA", "R")
MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_NAME_BYTES = 255
DEFAULT_ALLOWED_ROOTS: tuple[str, ...] = ("/Shared", "/Users", "/Workspace/Shared", "/Workspace/Users")

NOTEBOOK = "notebook"
FILE = "file"

_COMMENT = {"PYTHON": "#", "R": "#", "SQL": "--", "SCALA": "//"}
_EXTENSION_LANGUAGE = {".py": "PYTHON", ".r": "R", ".sql": "SQL", ".scala": "SCALA"}
_LANGUAGE_EXTENSIONS = {"PYTHON": (".py",), "R": (".r", ".R"), "SQL": (".sql",), "SCALA": (".scala",)}
_JUPYTER_LANGUAGE = {"python": "PYTHON", "python3": "PYTHON", "sql": "SQL", "scala": "SCALA", "r": "R"}
_DISPLAY = {"PYTHON": "Python", "SQL": "SQL", "SCALA": "Scala", "R": "R"}
_BOM = b"\xef\xbb\xbf"
_MAX_LINK_HOPS = 8


def _language(language: str) -> str:
    upper = str(language).upper()
    if upper not in _COMMENT:
        raise ValueError(f"unknown notebook language {language!r}; expected one of {', '.join(LANGUAGES)}")
    return upper


def source_header(language: str) -> str:
    """The first line of a notebook in source format, e.g. `-- Databricks notebook source` for SQL."""
    return f"{_COMMENT[_language(language)]} Databricks notebook source"


def cell_separator(language: str) -> str:
    """The line between two cells, e.g. `# COMMAND ----------` for Python and R."""
    return f"{_COMMENT[_language(language)]} COMMAND ----------"


def _text_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def split_cells(text: str, language: str) -> list[str]:
    """The cells of a source notebook (the header line, if any, is not a cell).

    Each cell loses its leading and trailing blank lines and trailing whitespace; `MAGIC` lines stay as they are.
    A notebook without separators is one cell.
    """
    header, separator = source_header(language), cell_separator(language)
    lines = _text_lines(text)
    if lines and lines[0].rstrip() == header:
        lines = lines[1:]
    cells: list[list[str]] = [[]]
    for line in lines:
        if line.rstrip() == separator:
            cells.append([])
        else:
            cells[-1].append(line)
    return [_trim_cell(cell) for cell in cells]


def _trim_cell(lines: list[str]) -> str:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end]).rstrip()


def _normalised_source(text: str, language: str) -> str:
    cells = split_cells(text, language)
    between = f"\n\n{cell_separator(language)}\n\n"
    return f"{source_header(language)}\n{between.join(cells)}".rstrip() + "\n"


def _normalised_text(text: str) -> str:
    body = "\n".join(_text_lines(text)).rstrip()
    return body + "\n" if body else ""


def _jupyter_cells(document: Any) -> list[dict[str, str]] | None:
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        return None
    cells = []
    for cell in document["cells"]:
        if not isinstance(cell, dict):
            return None
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(part) for part in source)
        cells.append({"cell_type": str(cell.get("cell_type", "")), "source": _normalised_text(str(source))})
    return cells


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalised_hash(content: bytes, *, kind: str, import_format: str, language: str | None = None) -> str:
    """SHA-256 (hex) of `content` normalised as the module docstring describes.

    Use it for Git content (`import_format` = the source's import format) and for a workspace export (the format
    exported: `SOURCE` for source notebooks and files, `JUPYTER` for Jupyter notebooks). Never fails: content
    that is not what the format promises (bytes that are not UTF-8, an export that is not JSON) is hashed as
    text or bytes, so it differs from a well-formed source.
    """
    if kind == NOTEBOOK and import_format == "SOURCE":
        if language is None:
            raise ValueError("a source notebook's hash needs its language")
        text = content.decode("utf-8", "surrogateescape")
        return _sha256(_normalised_source(text, language).encode("utf-8", "surrogateescape"))
    if kind == NOTEBOOK and import_format == "JUPYTER":
        try:
            cells = _jupyter_cells(safe_json.loads(content.decode("utf-8")))
        except (UnicodeDecodeError, ValueError):
            cells = None
        if cells is not None:
            canonical = json.dumps({"cells": cells}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            return _sha256(canonical.encode("utf-8"))
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return _sha256(content)
    return _sha256(_normalised_text(text).encode("utf-8"))


@dataclass(frozen=True)
class NotebookSource:
    """One file of the source folder and how it is deployed."""

    repo_path: str  # repository-relative POSIX path (the link's own path for a symbolic link)
    workspace_path: str  # absolute, below the target folder
    kind: str  # "notebook" | "file"
    language: str | None  # "PYTHON" | "SQL" | "SCALA" | "R" for notebooks, None for files
    import_format: str  # "SOURCE" | "JUPYTER" | "RAW": the format to send to /api/2.0/workspace/import
    content: bytes = field(repr=False)  # exactly what to upload
    content_hash: str  # normalised_hash(content, ...)
    size: int  # len(content)

    @property
    def is_notebook(self) -> bool:
        return self.kind == NOTEBOOK

    @property
    def export_format(self) -> str:
        """The format to ask `workspace.export` for, to compare with `content_hash_of_export`."""
        return "JUPYTER" if self.import_format == "JUPYTER" else "SOURCE"

    def cell_count(self) -> int | None:
        """How many cells the notebook has (for previews); None for a plain file."""
        if self.import_format == "SOURCE" and self.language:
            return len(split_cells(self.content.decode("utf-8", "replace"), self.language))
        if self.import_format == "JUPYTER":
            cells = _jupyter_cells(safe_json.loads(self.content.decode("utf-8")))
            return len(cells) if cells is not None else None
        return None

    def import_body(self, *, overwrite: bool = True) -> dict[str, Any]:
        """The JSON body of `POST /api/2.0/workspace/import` (what `WorkspaceClient.workspace.import_` sends)."""
        body: dict[str, Any] = {
            "path": self.workspace_path,
            "format": self.import_format,
            "content": base64.b64encode(self.content).decode("ascii"),
            "overwrite": overwrite,
        }
        if self.import_format == "SOURCE" and self.language:
            body["language"] = self.language
        return body


def content_hash_of_export(exported: bytes, source: NotebookSource) -> str:
    """The hash of what `workspace.export(source.workspace_path, format=source.export_format)` returned, made so
    that it equals `source.content_hash` when the workspace holds what Git holds."""
    return normalised_hash(exported, kind=source.kind, import_format=source.export_format, language=source.language)


def compute_manifest_hash(sources: Iterable[NotebookSource], target_folder: str) -> str:
    """A stable hash over (path below the target folder, kind, format, language, content hash) of `sources`,
    independent of their order and of the target folder, so one content promoted to two environments hashes
    the same."""
    prefix = target_folder.rstrip("/") + "/"
    rows = sorted(
        [
            s.workspace_path[len(prefix) :] if s.workspace_path.startswith(prefix) else s.workspace_path,
            s.kind,
            s.import_format,
            s.language or "",
            s.content_hash,
        ]
        for s in sources
    )
    return _sha256(json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


@dataclass(frozen=True)
class NotebookSet:
    """The sources of one folder at one commit (or of the working tree), mapped to one workspace folder."""

    source_folder: str
    base_folder: str  # the repository folder that maps onto the target folder
    target_folder: str
    ref: str | None
    commit: str | None
    sources: tuple[NotebookSource, ...]  # sorted by workspace path
    folders: tuple[str, ...]  # every workspace folder that must exist (the target folder first), parents first
    skipped: tuple[str, ...] = ()  # repository paths left out (hidden names)

    @cached_property
    def by_path(self) -> Mapping[str, NotebookSource]:
        return MappingProxyType({s.workspace_path: s for s in self.sources})

    @cached_property
    def manifest_hash(self) -> str:
        return compute_manifest_hash(self.sources, self.target_folder)

    def manifest(self) -> dict[str, str]:
        """Workspace path -> content hash."""
        return {s.workspace_path: s.content_hash for s in self.sources}


# --- loading ---------------------------------------------------------------------------------------------------


def load_notebooks(
    snapshot: RepoSnapshot,
    source_folder: str,
    target_folder: str,
    *,
    max_bytes: int = MAX_IMPORT_BYTES,
    allowed_roots: Sequence[str] = DEFAULT_ALLOWED_ROOTS,
    base_folder: str = "",
    target_where: str | None = None,
) -> NotebookSet:
    """Every file below `source_folder` (repository-relative; "" for the top) as deployed below `target_folder`.

    `base_folder` is the repository folder that maps onto `target_folder`: by default the repository's top, so
    paths keep the source folder's name (`notebooks/x.py` -> `<target>/notebooks/x`, as the demo repository
    expects); pass `base_folder=source_folder` to deploy the folder's contents straight into the target folder.
    It must be the source folder or one of its parents. `target_where` names where the target folder was
    configured (e.g. `portal.yml: environments[prod].databricks.target_folder`), for its findings.
    Raises FindingsError listing every problem (see the module docstring).
    """
    findings: list[Finding] = []
    target = _check_target(target_folder, allowed_roots, target_where or f"target folder {target_folder!r}", findings)
    folder = _check_source_folder(snapshot, source_folder, findings, "notebook source folder")
    base_rel = _check_source_folder(snapshot, base_folder, findings, "base folder")
    if folder is None or base_rel is None:
        raise FindingsError(findings)
    base_prefix = f"{base_rel}/" if base_rel else ""
    if base_rel and folder != base_rel and not folder.startswith(base_prefix):
        findings.append(
            Finding(
                code=ErrorCode.NB_SOURCE_FOLDER,
                where=snapshot.describe(folder or "."),
                what=f"the base folder {base_rel!r} is neither the source folder nor one of its parents",
            )
        )
        raise FindingsError(findings)
    between = folder[len(base_prefix) :].split("/") if folder != base_rel else []
    problem = _path_problem(between)
    if problem:
        findings.append(Finding(code=ErrorCode.NB_SOURCE_FOLDER, where=snapshot.describe(folder), what=problem))
    try:
        paths = snapshot.files(folder)
    except PortalError as exc:
        findings.append(
            Finding(
                code=ErrorCode.NB_SOURCE_FOLDER,
                where=snapshot.describe(source_folder or "."),
                what="the notebook source folder " + exc.what.removeprefix("folder "),
                hint="check the environment's notebook folder and the ref",
            )
        )
        raise FindingsError(findings) from exc

    prefix = f"{folder}/" if folder else ""
    base = target if target is not None else "<target folder>"  # a placeholder for messages; never returned
    sources: list[NotebookSource] = []
    skipped: list[str] = []
    for path in paths:
        below = path[len(prefix) :].split("/")
        problem = _path_problem(below)
        if problem:
            findings.append(
                Finding(
                    code=ErrorCode.NB_PATH,
                    where=snapshot.describe(path),
                    what=problem,
                    hint="rename the file so that its path stays inside the notebook folder",
                )
            )
            continue
        if any(part.startswith(".") for part in below):
            skipped.append(path)
            continue
        source = _load_one(snapshot, path, path[len(base_prefix) :].split("/"), base, max_bytes, findings)
        if source is not None:
            sources.append(source)

    sources.sort(key=lambda s: s.workspace_path)
    _check_collisions(snapshot, sources, findings)
    if findings:
        raise FindingsError(findings)
    return NotebookSet(
        source_folder=folder,
        base_folder=base_rel,
        target_folder=base,
        ref=snapshot.ref,
        commit=snapshot.commit,
        sources=tuple(sources),
        folders=_folders(base, sources),
        skipped=tuple(skipped),
    )


def _bad_name(name: str) -> str | None:
    if name == "":
        return "has an empty path component"
    if name in (".", ".."):
        return f"has the path component {name!r}"
    if "\\" in name:
        return f"has a backslash in {name!r}"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return f"has a control character in {name!r}"
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        return f"has a name longer than {MAX_NAME_BYTES} bytes ({name[:40]}...)"
    return None


def _path_problem(parts: list[str]) -> str | None:
    for part in parts:
        bad = _bad_name(part)
        if bad:
            return f"cannot be deployed: its path {bad}"
    return None


def _check_target(target_folder: str, allowed_roots: Sequence[str], where: str, findings: list[Finding]) -> str | None:
    """The normalised target folder (no trailing slash, no `/Workspace` prefix), or None after adding findings."""
    hint = "the target folder is an absolute workspace path such as /Shared/<project>"
    if not isinstance(target_folder, str) or not target_folder.startswith("/"):
        findings.append(
            Finding(
                code=ErrorCode.NB_TARGET,
                where=where,
                what=f"the target folder must be an absolute workspace path (starting with /), not {target_folder!r}",
                hint=hint,
            )
        )
        return None
    target = target_folder[:-1] if len(target_folder) > 1 and target_folder.endswith("/") else target_folder
    parts = target.split("/")[1:] if target != "/" else []
    for part in parts:
        bad = _bad_name(part)
        if bad:
            findings.append(Finding(code=ErrorCode.NB_TARGET, where=where, what=f"the target folder {bad}", hint=hint))
            return None
    roots = [r.rstrip("/") or "/" for r in allowed_roots]
    canonical = canonical_workspace_path(target)

    def strictly_below(root: str) -> bool:
        base = canonical_workspace_path(root)
        return canonical != "/" if base == "/" else canonical.startswith(base + "/")

    if not any(strictly_below(root) for root in roots):
        findings.append(
            Finding(
                code=ErrorCode.NB_TARGET,
                where=where,
                what=f"the target folder {target} is not below an allowed root ({', '.join(roots) or 'none'})",
                hint="deploy into a folder of its own below one of the allowed roots",
            )
        )
        return None
    return canonical


def _check_source_folder(snapshot: RepoSnapshot, source_folder: str, findings: list[Finding], label: str) -> str | None:
    raw = (source_folder or "").replace("\\", "/")
    pure = PurePosixPath(raw) if raw else PurePosixPath(".")
    if pure.is_absolute() or ".." in pure.parts or "\\" in (source_folder or ""):
        findings.append(
            Finding(
                code=ErrorCode.NB_SOURCE_FOLDER,
                where=snapshot.describe(source_folder),
                what=f"the {label} must be a relative path inside the repository",
            )
        )
        return None
    folder = pure.as_posix()
    return "" if folder == "." else folder


def _resolve_links(snapshot: RepoSnapshot, path: str) -> tuple[str | None, str | None]:
    """(the repository path holding `path`'s content, None) following links, or (None, problem)."""
    current = path
    for _ in range(_MAX_LINK_HOPS):
        target = snapshot.link_target(current)
        if target is None:
            break
        drive = len(target) > 1 and target[0].isalpha() and target[1] == ":" and target[2:3] in ("", "/", "\\")
        if target.startswith("/") or "\\" in target or drive:
            return None, f"is a symbolic link to {target!r}, outside the repository"
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
        if joined == ".." or joined.startswith("../"):
            return None, f"is a symbolic link to {target!r}, outside the repository"
        if any(part.startswith(".") for part in joined.split("/")):
            return None, f"is a symbolic link to {target!r}, a hidden file or folder (those are never deployed)"
        current = joined
    else:
        return None, f"is a symbolic link chain longer than {_MAX_LINK_HOPS} links (or a cycle)"
    if snapshot.ref is None and current != path:
        root = Path(snapshot.root).resolve()
        real = Path(os.path.realpath(Path(snapshot.root) / path))
        if real != root and root not in real.parents:
            return None, f"is a symbolic link that resolves to {real}, outside the repository"
    return current, None


def _load_one(
    snapshot: RepoSnapshot, path: str, parts: list[str], target: str, max_bytes: int, findings: list[Finding]
) -> NotebookSource | None:
    where = snapshot.describe(path)

    def fail(code: ErrorCode, what: str, hint: str | None = None) -> None:
        findings.append(Finding(code=code, where=where, what=what, hint=hint))

    real, problem = _resolve_links(snapshot, path)
    if problem:
        fail(ErrorCode.NB_LINK, problem, "commit the file itself, or link to a file inside the repository")
        return None
    data = snapshot.read(real, follow_links=True) if real is not None else None  # links checked above
    if data is None:
        if real == path:
            fail(ErrorCode.NB_READ, "could not be read (it vanished while the folder was read)")
        else:
            fail(
                ErrorCode.NB_LINK,
                f"is a symbolic link to {real!r}, which is no file in the repository",
                "link to a file (folders are not followed)",
            )
        return None
    if len(data) > max_bytes:
        fail(
            ErrorCode.NB_SIZE,
            f"is {len(data)} bytes, over the import limit of {max_bytes} bytes",
            "Databricks refuses imports over 10 MB; split the notebook or keep the data out of Git",
        )
        return None

    name = parts[-1]
    suffix = PurePosixPath(name).suffix
    ext = suffix.lower()
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    header_language = _header_language(first)
    kind, language, fmt, ws_name = FILE, None, "RAW", name

    if ext == ".ipynb":
        language = _jupyter_language(data, fail)
        if language is None:
            return None
        kind, fmt, ws_name = NOTEBOOK, "JUPYTER", name[: -len(suffix)]
    elif data.startswith(_BOM) and _header_language(first[len(_BOM) :]):
        fail(
            ErrorCode.NB_ENCODING,
            "starts with a UTF-8 byte order mark before the notebook header, so Databricks would not see the header",
            "save the file as UTF-8 without BOM",
        )
        return None
    elif ext in _EXTENSION_LANGUAGE:
        expected = _EXTENSION_LANGUAGE[ext]
        if first == source_header(expected).encode():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                fail(
                    ErrorCode.NB_ENCODING,
                    f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                    "Databricks reads notebook source as UTF-8",
                    "save the notebook as UTF-8",
                )
                return None
            kind, language, fmt, ws_name = NOTEBOOK, expected, "SOURCE", name[: -len(suffix)]
        elif header_language and not _same_header(header_language, expected):
            fail(
                ErrorCode.NB_LANGUAGE,
                f"starts with the {_header_names(header_language)} notebook header "
                f"{source_header(header_language)!r}, but a {suffix} notebook is "
                f"{_DISPLAY[expected]} and starts with {source_header(expected)!r}",
                "fix the header line or the file extension",
            )
            return None
    elif header_language:
        fail(
            ErrorCode.NB_LANGUAGE,
            f"starts with a Databricks notebook header, but "
            f"{repr(suffix) + ' is no' if suffix else 'a name without extension has no'} notebook language's "
            "extension (.py, .sql, .scala, .r, .ipynb)",
            "give the file its language's extension, or remove the header line to deploy it as a plain file",
        )
        return None

    relative = "/".join([*parts[:-1], ws_name])
    workspace_path = f"{target.rstrip('/')}/{relative}"
    return NotebookSource(
        repo_path=path,
        workspace_path=workspace_path,
        kind=kind,
        language=language,
        import_format=fmt,
        content=data,
        content_hash=normalised_hash(data, kind=kind, import_format=fmt, language=language),
        size=len(data),
    )


def _header_language(first_line: bytes) -> str | None:
    for language in LANGUAGES:
        if first_line == source_header(language).encode():
            return language
    return None


def _header_names(language: str) -> str:
    """The languages that share `language`'s header, e.g. "Python or R"."""
    return " or ".join(_DISPLAY[other] for other in LANGUAGES if _same_header(other, language))


def _same_header(a: str, b: str) -> bool:
    return source_header(a) == source_header(b)


def _jupyter_language(data: bytes, fail: Any) -> str | None:
    hint = "save the notebook again from Jupyter or Databricks (File > Export > IPython Notebook)"
    try:
        document = safe_json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        fail(ErrorCode.NB_ENCODING, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", hint)
        return None
    except ValueError as exc:
        fail(ErrorCode.NB_IPYNB, f"is not valid JSON ({exc})", hint)
        return None
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("cells"), list)
        or not isinstance(document.get("metadata"), dict)
    ):
        fail(ErrorCode.NB_IPYNB, "is not a Jupyter notebook (it needs a 'cells' list and a 'metadata' object)", hint)
        return None
    nbformat = document.get("nbformat")
    if not isinstance(nbformat, int) or isinstance(nbformat, bool) or nbformat < 4:
        fail(
            ErrorCode.NB_IPYNB,
            f"has nbformat {nbformat!r}; Databricks imports Jupyter notebooks of nbformat 4 or newer",
            hint,
        )
        return None
    if _jupyter_cells(document) is None:
        fail(ErrorCode.NB_IPYNB, "has a cell that is not a JSON object", hint)
        return None
    metadata = document["metadata"]
    for holder, key in (
        ("application/vnd.databricks.v1+notebook", "language"),
        ("language_info", "name"),
        ("kernelspec", "language"),
    ):
        value = metadata.get(holder, {}).get(key) if isinstance(metadata.get(holder), dict) else None
        if value:
            language = _JUPYTER_LANGUAGE.get(str(value).lower())
            if language is None:
                fail(
                    ErrorCode.NB_LANGUAGE,
                    f"is a {value} notebook (metadata.{holder}.{key}); Databricks notebooks "
                    "are Python, SQL, Scala or R",
                )
            return language
    return "PYTHON"


def _check_collisions(snapshot: RepoSnapshot, sources: list[NotebookSource], findings: list[Finding]) -> None:
    by_path: dict[str, list[NotebookSource]] = {}
    for source in sources:
        by_path.setdefault(source.workspace_path, []).append(source)
    for workspace_path, same in by_path.items():
        if len(same) > 1:
            others = " and ".join(snapshot.describe(s.repo_path) for s in same[1:])
            findings.append(
                Finding(
                    code=ErrorCode.NB_COLLISION,
                    where=snapshot.describe(same[0].repo_path),
                    what=f"deploys to {workspace_path}, and so does {others}",
                    hint="rename one of them (notebooks lose their extension in the workspace)",
                )
            )
    folders: dict[str, NotebookSource] = {}
    for source in sources:
        parent = posixpath.dirname(source.workspace_path)
        while parent not in folders and parent not in ("", "/"):
            folders[parent] = source
            parent = posixpath.dirname(parent)
    for source in sources:
        inside = folders.get(source.workspace_path)
        if inside is not None:
            findings.append(
                Finding(
                    code=ErrorCode.NB_COLLISION,
                    where=snapshot.describe(source.repo_path),
                    what=f"deploys to {source.workspace_path}, which {snapshot.describe(inside.repo_path)} needs as "
                    "a folder",
                    hint="rename the file or the folder",
                )
            )
        if source.kind == NOTEBOOK and source.language:
            for ext in _LANGUAGE_EXTENSIONS[source.language]:
                other = by_path.get(source.workspace_path + ext)
                if other and other[0].kind == FILE:
                    findings.append(
                        Finding(
                            code=ErrorCode.NB_COLLISION,
                            where=snapshot.describe(source.repo_path),
                            what=f"is the notebook {source.workspace_path}, and Databricks refuses it next to the "
                            f"file {source.workspace_path + ext} from {snapshot.describe(other[0].repo_path)}",
                            hint="a notebook's name plus its language's extension must not name a file beside it",
                        )
                    )


def _folders(target: str, sources: Iterable[NotebookSource]) -> tuple[str, ...]:
    folders = {target}
    for source in sources:
        parent = posixpath.dirname(source.workspace_path)
        while parent != target and parent.startswith(target.rstrip("/") + "/"):
            folders.add(parent)
            parent = posixpath.dirname(parent)
    return tuple(sorted(folders, key=lambda f: [p for p in f.split("/") if p]))
