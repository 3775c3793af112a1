"""Access to the shared corpus of real factories: Git JSON and what ADF Publish made from it."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
CORPUS_ENV = "PORTAL_ADF_CORPUS"


def _local_origin(project: Path) -> Path | None:
    """The repository a clone was made from, when that is a folder on this machine (a clean clone of main)."""
    config = project / ".git" / "config"
    if not config.is_file():
        return None
    match = re.search(r'\[remote "origin"\][^\[]*?url\s*=\s*(\S+)', config.read_text(encoding="utf-8"))
    if not match:
        return None
    url = match.group(1).removeprefix("file://")
    origin = Path(url)
    return origin if origin.is_absolute() and origin.is_dir() else None


def find_corpus() -> Path:
    """The shared corpus: `$PORTAL_ADF_CORPUS`, else `../shared/adf-corpus` beside the project, else beside the
    repository a local clone was made from (a clean clone in a temporary folder still finds it). Where none is
    there, the path beside the project, so the tests that need the corpus say it is missing."""
    if os.environ.get(CORPUS_ENV):
        return Path(os.environ[CORPUS_ENV]).expanduser().resolve()
    beside = PROJECT.parent / "shared" / "adf-corpus"
    origin = _local_origin(PROJECT)
    for candidate in (beside, origin.resolve().parent / "shared" / "adf-corpus" if origin else None):
        if candidate is not None and candidate.is_dir():
            return candidate
    return beside


CORPUS = find_corpus()
AVAILABLE = CORPUS.is_dir()
MISSING = (
    f"the shared ADF corpus is not at {CORPUS}: place it at ../shared/adf-corpus beside the project or set "
    f"{CORPUS_ENV} (CI=true requires it)"
)
# The tests that read the corpus: skipped, saying why, where it is absent (a fresh clone elsewhere); in CI the run
# stops at the start instead (tests/conftest.py), so a missing corpus can never pass for a green run.
needs_corpus = pytest.mark.skipif(not AVAILABLE, reason=MISSING)
# The apiVersion of the linked-template deployments in ArmTemplate_master.json since September 2024.
CURRENT_DEPLOYMENTS_API_VERSION = "2024-03-01"


@dataclass(frozen=True)
class CorpusEntry:
    name: str
    path: Path

    @property
    def source(self) -> Path:
        return self.path / "source"

    @property
    def arm(self) -> Path:
        return self.path / "arm"

    @property
    def _info(self) -> str:
        return (self.path / "SOURCE.txt").read_text(encoding="utf-8")

    @property
    def published_year(self) -> int:
        section = self._info.split("generated ARM", 1)[1]
        return int(re.search(r"commit date: (\d{4})-", section).group(1))

    @property
    def publish_subject(self) -> str:
        section = self._info.split("generated ARM", 1)[1]
        return re.search(r"commit subject: (.*)", section).group(1)

    @property
    def factory_name(self) -> str:
        """The factory Publish ran in: the folder it wrote on the publish branch."""
        section = self._info.split("generated ARM", 1)[1]
        return re.search(r"path in repo: (\S+?)/", section).group(1)

    @property
    def locale(self) -> str:
        # Publish writes its commit message in the ADF Studio language, which also sets the template texts.
        return "ja" if re.search(r"[\u3040-\u30ff]", self.publish_subject) else "en"

    @property
    def current_format(self) -> bool:
        """Publish ran in the current ADF version: the one that deploys linked templates with apiVersion
        2024-03-01 (ADF moved from 2018-02-01 in September 2024, so the publish year does not tell)."""
        master = self.arm / "linkedTemplates" / "ArmTemplate_master.json"
        if not master.is_file():
            return False
        resources = json.loads(master.read_text(encoding="utf-8")).get("resources") or []
        return any(r.get("apiVersion") == CURRENT_DEPLOYMENTS_API_VERSION for r in resources)

    @property
    def key_order_kept(self) -> bool:
        """Publishes from 2024 on write properties in the order today's ADF Studio does; older Studio versions
        ordered some differently, so those are compared as JSON values."""
        return self.published_year >= 2024


def paired_entries() -> list[CorpusEntry]:
    if not CORPUS.is_dir():
        return []
    return [CorpusEntry(p.name, p) for p in sorted(CORPUS.iterdir()) if (p / "arm").is_dir()]


def source_only_entries() -> list[CorpusEntry]:
    base = CORPUS / "_source_only"
    if not base.is_dir():
        return []
    return [CorpusEntry(p.name, p) for p in sorted(base.iterdir()) if (p / "source").is_dir()]


def first_difference(ours: object, theirs: object, path: str = "$") -> str | None:
    """Where two JSON values first differ (keys in order), for readable golden-test failures."""
    if type(ours) is not type(theirs):
        return f"{path}: {type(ours).__name__} {str(ours)[:120]!r} vs {type(theirs).__name__} {str(theirs)[:120]!r}"
    if isinstance(ours, dict):
        assert isinstance(theirs, dict)
        if set(ours) != set(theirs):
            return f"{path}: extra keys {sorted(set(ours) - set(theirs))}, missing {sorted(set(theirs) - set(ours))}"
        for key in ours:
            found = first_difference(ours[key], theirs[key], f"{path}.{key}")
            if found:
                return found
        if list(ours) != list(theirs):
            return f"{path}: key order {list(ours)} vs {list(theirs)}"
        return None
    if isinstance(ours, list):
        assert isinstance(theirs, list)
        for index, (a, b) in enumerate(zip(ours, theirs, strict=False)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        if len(ours) != len(theirs):
            return f"{path}: {len(ours)} items vs {len(theirs)}"
        return None
    return None if ours == theirs else f"{path}: {ours!r} vs {theirs!r}"
