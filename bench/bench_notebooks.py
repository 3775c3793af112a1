"""Benchmark of an incremental notebook promotion (plan + apply) against an upload of every notebook, on the sandbox.

    PYTHONPATH=src python3 bench/bench_notebooks.py              # full run, updates bench/RESULTS.md
    PYTHONPATH=src python3 bench/bench_notebooks.py --no-write   # print only
    PYTHONPATH=src python3 bench/bench_notebooks.py --notebooks 300 --repeat 1 --no-write   # a quick look

Set-up (untimed), in a temporary folder: a Git data repository (branch main) with the tests' tiny factory
(tests/mapping_repo.write_factory) under `adf/`, a portal.yaml whose environment `test` has a Data Factory and a
Databricks target on the sandbox (`/Shared/sales`), and `--notebooks` generated notebooks (seed `--seed`) under
`notebooks/`: spread over the top folder and `--folders` sub-folders; mostly Python source notebooks, some SQL
and Scala, a few plain files (YAML, JSON, Markdown, a helper module), 1-20 kB with several cells. The factory is
created in the sandbox and everything is promoted once (no latency, no rate limits; the portal still paces its
imports at 30/s), then a plan must show no changes.

Timed, with `Faults(latency_ms=--latency-ms)` on every call and the workspace's documented rate limits on
(`WorkspaceLimits()`: import 30/s, export 60/s, list 50/s, delete 2/s; a request beyond answers 429 with
Retry-After), counters reset before each run:
- portal, per repetition (`--repeat`, median): `--changed` notebooks are edited in Git and committed, the
  workspace is opened (timed apart, no calls), then `plan_environment` + `apply_environment`. Workspace calls and
  Data Factory calls are counted apart (the target is about the workspace).
- upload of every notebook, once, after the portal's runs (it would otherwise leave the next portal run a folder
  whose every file is newer than its manifest): what azure.databricks.cicd.tools' Import-DatabricksFolder and
  `databricks workspace import-dir --overwrite` do: a new WorkspaceClient, `mkdirs` for every folder, then
  `workspace.import_(..., overwrite=True)` of every file, `--baseline-parallelism` at a time and paced on the
  client side at `--baseline-rate` per second (0: unpaced, the SDK then waits out the 429s it provokes).
Afterwards: a plan with nothing to do (convergence, and what a no-op plan costs), then a plan after the upload
(which rewrote every notebook and file with the same content: every file is newer than the portal's manifest now).

Every plan exports each deployed notebook once (in parallel, paced at the documented 60 exports/s): the Workspace
API documents `modified_at` for files only, so nothing but a notebook's content tells whether it was edited by
hand. A file is exported only when its `modified_at` is after the manifest's. Exports are counted apart by kind
(manifest, notebook, file).
The sandbox runs in this process (the workspace listener is plain HTTP); its latency is slept on the server's
handler threads, so parallel calls overlap their latency.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR.parent
SRC = PROJECT / "src"
CALLS_TARGET = 15
HOST = "https://adb-4444444444444444.4.azuredatabricks.net"
TARGET = "/Shared/sales"
RESOURCE_GROUP = "rg-test"
FACTORY = "adf-sales-test"
WORKSPACE_PREFIX = "/api/2.0/workspace/"
SECTION_HEADING = "# Notebook deploy benchmark: incremental plan + apply vs upload of every notebook"

for _path in (str(SRC), str(BENCH_DIR), str(PROJECT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import git  # noqa: E402
from databricks.sdk.service.workspace import ImportFormat, Language  # noqa: E402
from results_file import publish, run_header  # noqa: E402

import portal.databricks.workspace as workspace_module  # noqa: E402
import portal.deploy.service as service_module  # noqa: E402
from portal.deploy.service import apply_environment, plan_environment  # noqa: E402
from portal.environments.workspace import MappingWorkspace  # noqa: E402
from portal.events import STEP_FINISHED, STEP_STARTED, Event  # noqa: E402
from portal.sandbox import (  # noqa: E402
    Faults,
    WorkspaceLimits,
    sandbox_for,  # noqa: E402
)
from tests.mapping_repo import KV_TEST, SUB_TEST, write_factory, write_json  # noqa: E402


def _config() -> str:
    return f"""\
version: 1
adf:
  root_folder: adf
databricks:
  source_folder: notebooks
environments:
  - name: test
    data_factory:
      subscription_id: {SUB_TEST}
      resource_group: {RESOURCE_GROUP}
      factory_name: {FACTORY}
      location: westeurope
      auth: sandbox
      sandbox: .sandbox
    databricks:
      host: {HOST}
      target_folder: {TARGET}
      auth: sandbox
      sandbox: .sandbox
"""


def _commit(repo: git.Repo, message: str) -> None:
    repo.git.add(A=True)
    repo.index.commit(message)


# ---------------------------------------------------------------------------------------------------------------
# Generated notebooks
# ---------------------------------------------------------------------------------------------------------------

_HEADER = {
    "PYTHON": "# Databricks notebook source",
    "SQL": "-- Databricks notebook source",
    "SCALA": "// Databricks notebook source",
}
_SEPARATOR = {"PYTHON": "# COMMAND ----------", "SQL": "-- COMMAND ----------", "SCALA": "// COMMAND ----------"}
_EXTENSION = {"PYTHON": ".py", "SQL": ".sql", "SCALA": ".scala"}
_DISPLAY = {"PYTHON": "Python", "SQL": "SQL", "SCALA": "Scala"}
_MAGIC_MD = {"PYTHON": "# MAGIC", "SQL": "-- MAGIC", "SCALA": "// MAGIC"}
_FOLDER_NAMES = ("ingest", "transform", "reporting", "quality", "ml", "shared", "exports", "maintenance")
_VERBS = ("load", "transform", "clean", "aggregate", "enrich", "validate", "publish", "merge", "score", "export")
_ENTITIES = (
    "orders",
    "customers",
    "products",
    "invoices",
    "shipments",
    "returns",
    "stores",
    "payments",
    "campaigns",
    "inventory",
    "suppliers",
    "sessions",
)
_COLUMNS = (
    "order_id",
    "customer_id",
    "product_id",
    "amount",
    "quantity",
    "currency",
    "country",
    "created_at",
    "updated_at",
    "status",
    "channel",
    "store_id",
    "discount",
    "net_amount",
    "region",
)


def _python_cell(rng: random.Random, entity: str) -> str:
    cols = rng.sample(_COLUMNS, rng.randint(3, 7))
    kind = rng.randrange(6)
    if kind == 0:
        return "\n".join(
            [
                "from pyspark.sql import functions as F",
                "from pyspark.sql.window import Window",
                "",
                'dbutils.widgets.text("run_date", "")',
                f'dbutils.widgets.text("source_path", "abfss://raw@lake.dfs.core.windows.net/{entity}")',
                'run_date = dbutils.widgets.get("run_date")',
                'source_path = dbutils.widgets.get("source_path")',
            ]
        )
    if kind == 1:
        lines = [f"{entity} = (", '    spark.read.format("parquet")', '    .load(f"{source_path}/{run_date}")']
        lines += [
            f'    .withColumn("{c}", F.col("{c}").cast("{rng.choice(["string", "double", "timestamp"])}"))'
            for c in cols
        ]
        lines += [f'    .filter(F.col("{cols[0]}").isNotNull())', ")", f"display({entity}.limit(10))"]
        return "\n".join(lines)
    if kind == 2:
        key = cols[0]
        return "\n".join(
            [
                f'window = Window.partitionBy("{key}").orderBy(F.col("{cols[-1]}").desc())',
                f"latest_{entity} = (",
                f'    {entity}.withColumn("rank", F.row_number().over(window))',
                '    .filter(F.col("rank") == 1)',
                '    .drop("rank")',
                ")",
                f'print(f"{{latest_{entity}.count()}} {entity} after de-duplication on {key}")',
            ]
        )
    if kind == 3:
        aggs = ",\n".join(f'    F.sum("{c}").alias("total_{c}")' for c in cols[1:])
        return (
            f'summary = {entity}.groupBy("{cols[0]}").agg(\n{aggs}\n)\n'
            f'summary.write.mode("overwrite").saveAsTable("analytics.{entity}_summary")'
        )
    if kind == 4:
        name = f"normalise_{rng.choice(cols)}"
        return "\n".join(
            [
                f'def {name}(df, column="{cols[0]}"):',
                f'    """Trims, lower-cases and null-fills {{column}} for the {entity} feed."""',
                "    return (",
                "        df.withColumn(column, F.lower(F.trim(F.col(column))))",
                '        .fillna({column: "unknown"})',
                "    )",
                "",
                f"{entity} = {name}({entity})",
                f'assert {entity}.filter(F.col("{cols[0]}").isNull()).count() == 0, "nulls left in {cols[0]}"',
            ]
        )
    lines = [
        f"{_MAGIC_MD['PYTHON']} %md",
        f"{_MAGIC_MD['PYTHON']} ## {entity.title()}: step {rng.randint(1, 9)}",
        f"{_MAGIC_MD['PYTHON']}",
    ]
    lines += [
        f"{_MAGIC_MD['PYTHON']} - `{c}`: {rng.choice(['cast', 'checked', 'renamed', 'derived'])} "
        f"from the {rng.choice(['raw', 'bronze', 'silver'])} layer"
        for c in cols
    ]
    return "\n".join(lines)


def _sql_cell(rng: random.Random, entity: str) -> str:
    cols = rng.sample(_COLUMNS, rng.randint(3, 7))
    kind = rng.randrange(4)
    if kind == 0:
        return (
            f"CREATE OR REPLACE TABLE analytics.{entity}_daily AS\nSELECT\n  "
            + ",\n  ".join(cols)
            + f",\n  COUNT(*) AS rows\nFROM silver.{entity}\n"
            f"WHERE {cols[0]} IS NOT NULL\nGROUP BY " + ", ".join(cols) + ";"
        )
    if kind == 1:
        sets = ",\n  ".join(f"t.{c} = s.{c}" for c in cols[1:])
        return (
            f"MERGE INTO silver.{entity} AS t\nUSING bronze.{entity}_updates AS s\n"
            f"ON t.{cols[0]} = s.{cols[0]}\nWHEN MATCHED THEN UPDATE SET\n  {sets}\n"
            "WHEN NOT MATCHED THEN INSERT *;"
        )
    if kind == 2:
        return (
            f"SELECT {cols[0]}, SUM({cols[1]}) AS total\nFROM silver.{entity}\n"
            f"WHERE created_at >= date_sub(current_date(), {rng.randint(1, 90)})\n"
            f"GROUP BY {cols[0]}\nORDER BY total DESC\nLIMIT {rng.choice([10, 50, 100])};"
        )
    return "\n".join(
        [f"{_MAGIC_MD['SQL']} %md", f"{_MAGIC_MD['SQL']} ### {entity.title()} checks"]
        + [f"{_MAGIC_MD['SQL']} * {c} must not be null" for c in cols]
    )


def _scala_cell(rng: random.Random, entity: str) -> str:
    cols = rng.sample(_COLUMNS, rng.randint(3, 7))
    kind = rng.randrange(3)
    if kind == 0:
        return (
            "import org.apache.spark.sql.functions._\nimport io.delta.tables._\n\n"
            f'val path = "abfss://silver@lake.dfs.core.windows.net/{entity}"'
        )
    if kind == 1:
        selects = ", ".join(f'col("{c}")' for c in cols)
        return (
            f'val {entity} = spark.read.format("delta").load(path)\n  .select({selects})\n'
            f'  .where(col("{cols[0]}").isNotNull)\n{entity}.cache()\n'
            f'println(s"${{{entity}.count}} rows in {entity}")'
        )
    return (
        f'DeltaTable.forPath(spark, path).optimize().executeZOrderBy("{cols[0]}")\n'
        f'spark.sql("VACUUM delta.`" + path + "` RETAIN {rng.choice([168, 240, 720])} HOURS")'
    )


_CELLS = {"PYTHON": _python_cell, "SQL": _sql_cell, "SCALA": _scala_cell}


def _notebook_text(rng: random.Random, language: str, entity: str, size: int) -> str:
    cells: list[str] = []
    length = 0
    while length < size or len(cells) < 3:
        cell = _CELLS[language](rng, entity)
        cells.append(cell)
        length += len(cell) + 30
    between = f"\n\n{_SEPARATOR[language]}\n\n"
    return f"{_HEADER[language]}\n{between.join(cells)}\n"


def _plain_file(rng: random.Random, entity: str, size: int) -> tuple[str, str]:
    """(extension, text) of a workspace file that is not a notebook."""
    kind = rng.randrange(4)
    if kind == 0:
        lines = [
            f"# settings of the {entity} jobs",
            f"source: abfss://raw@lake.dfs.core.windows.net/{entity}",
            "tables:",
        ]
        while sum(len(line) + 1 for line in lines) < size:
            lines += [
                f"  - name: {entity}_{rng.randint(1, 999)}",
                f"    key: {rng.choice(_COLUMNS)}",
                f"    retention_days: {rng.choice([7, 30, 90, 365])}",
            ]
        return ".yml", "\n".join(lines) + "\n"
    if kind == 1:
        fields = []
        while sum(len(f) for f in fields) < size:
            fields.append(
                f'    {{"name": "{rng.choice(_COLUMNS)}_{len(fields)}", "type": '
                f'"{rng.choice(["string", "double", "timestamp", "long"])}", "nullable": '
                f"{rng.choice(['true', 'false'])}}}"
            )
        return ".json", '{\n  "type": "struct",\n  "fields": [\n' + ",\n".join(fields) + "\n  ]\n}\n"
    if kind == 2:
        lines = [f"# {entity.title()}", "", f"Notebooks of the {entity} feed, in the order the pipeline runs them.", ""]
        while sum(len(line) + 1 for line in lines) < size:
            lines.append(
                f"- `{rng.choice(_VERBS)}_{entity}`: {rng.choice(_VERBS)}s the {rng.choice(_ENTITIES)} "
                f"data by {rng.choice(_COLUMNS)} ({rng.randint(1, 60)} min on a small cluster)"
            )
        return ".md", "\n".join(lines) + "\n"
    # A Python helper module (no notebook header): deployed as a workspace file.
    body = [f'"""Helpers for the {entity} notebooks."""', "", "from pyspark.sql import functions as F", ""]
    while sum(len(line) + 1 for line in body) < size:
        column = rng.choice(_COLUMNS)
        body += [
            f"def clean_{column}_{len(body)}(df):",
            f'    return df.withColumn("{column}", F.trim(F.col("{column}")))',
            "",
        ]
    return ".py", "\n".join(body) + "\n"


def generate_notebooks(folder: Path, count: int, sub_folders: int, seed: int) -> dict[str, Any]:
    """`count` files below `folder` (the top and `sub_folders` sub-folders); returns what was made."""
    rng = random.Random(seed)
    names = [
        _FOLDER_NAMES[i % len(_FOLDER_NAMES)] + (f"_{i // len(_FOLDER_NAMES) + 1}" if i >= len(_FOLDER_NAMES) else "")
        for i in range(sub_folders)
    ]
    places = [folder] + [folder / name for name in names]
    kinds: dict[str, int] = defaultdict(int)
    sizes: list[int] = []
    notebooks: list[tuple[Path, str]] = []  # (file, language) of the source notebooks
    for index in range(count):
        place = places[index % len(places)]
        entity = rng.choice(_ENTITIES)
        size = int(rng.triangular(1024, 20 * 1024, 4 * 1024))
        draw = rng.random()
        stem = f"{rng.choice(_VERBS)}_{entity}_{index:04d}"
        if draw < 0.05:
            ext, text = _plain_file(rng, entity, size)
            path, kind = place / f"{stem}{ext}", f"file {ext}"
        else:
            language = "PYTHON" if draw < 0.82 else "SQL" if draw < 0.93 else "SCALA"
            text = _notebook_text(rng, language, entity, size)
            path, kind = place / f"{stem}{_EXTENSION[language]}", _DISPLAY[language]
            notebooks.append((path, language))
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        path.write_bytes(data)
        kinds[kind] += 1
        sizes.append(len(data))
    return {"kinds": dict(kinds), "sizes": sizes, "notebooks": notebooks, "folders": len(places), "folder_names": names}


def change_notebooks(chosen: list[tuple[Path, str]], originals: dict[Path, bytes], revision: int) -> None:
    """An edit inside the last cell of each chosen notebook (a different one each revision)."""
    line = {
        "PYTHON": f'print("benchmark change {revision}")',
        "SQL": f"SELECT 'benchmark change {revision}';",
        "SCALA": f'println("benchmark change {revision}")',
    }
    for path, language in chosen:
        path.write_bytes(originals[path] + f"{line[language]}\n".encode())


# ---------------------------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------------------------


class Counter:
    """Calls made so far: the workspace's (by endpoint) and the Data Factory's (everything else)."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def now(self) -> dict[str, Any]:
        stats = self.server.stats
        ws = stats.workspace(HOST)
        api = sum(n for endpoint, n in ws.by_endpoint.items() if endpoint.split(" ", 1)[1].startswith(WORKSPACE_PREFIX))
        return {
            "ws_total": ws.total,
            "ws_api": api,
            "ws_reads": ws.reads,
            "ws_writes": ws.writes,
            "by_endpoint": dict(ws.by_endpoint),
            "rate_limited": ws.rate_limited,
            "faults": ws.faults_injected,
            "adf_total": stats.total - ws.total,
            "adf_reads": stats.reads - ws.reads,
            "adf_writes": stats.writes - ws.writes,
        }


class Timeline:
    """An event sink recording each step's time and calls, and timing wrappers around the portal's own functions
    (the portal's events do not split the workspace read into manifest and listings)."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.open_steps: dict[str, tuple[float, dict[str, Any]]] = {}
        self.steps: dict[str, dict[str, Any]] = {}
        self.spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self._lock = threading.Lock()

    def mark(self, step: str, kind: str) -> None:
        now, calls = time.perf_counter(), self.counter.now()
        if kind == STEP_STARTED:
            self.open_steps[step] = (now, calls)
        elif kind == STEP_FINISHED and step in self.open_steps:
            t0, before = self.open_steps.pop(step)
            self.steps[step] = {
                "s": now - t0,
                "ws": calls["ws_total"] - before["ws_total"],
                "adf": calls["adf_total"] - before["adf_total"],
            }

    def __call__(self, event: Event) -> None:
        self.mark(event.step, event.kind)

    @contextmanager
    def wrapped(self, owner: Any, name: str, label: Any) -> Iterator[None]:
        """Time every call of `owner.name`; `label` is a string or a function of the call's arguments."""
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                t1 = time.perf_counter()
                with self._lock:
                    self.spans[label(*args, **kwargs) if callable(label) else label].append((t0, t1))

        setattr(owner, name, timed)
        try:
            yield
        finally:
            setattr(owner, name, original)

    def span(self, *labels: str) -> float:
        """From the first call's start to the last call's end, over the calls of every label given (calls in
        parallel overlap)."""
        spans = [one for label in labels for one in self.spans.get(label, ())]
        return max(t1 for _, t1 in spans) - min(t0 for t0, _ in spans) if spans else 0.0

    def count(self, label: str) -> int:
        return len(self.spans.get(label, ()))


@contextmanager
def instrumented(timeline: Timeline) -> Iterator[None]:
    target = workspace_module.WorkspaceTarget
    manifest = f"{TARGET}/{workspace_module.MANIFEST_NAME}"
    with (
        timeline.wrapped(service_module, "load_notebooks", "load notebooks"),
        timeline.wrapped(service_module, "workspace_target_for", "workspace client"),
        timeline.wrapped(target, "read_manifest", "read manifest"),
        timeline.wrapped(target, "list_folder", "list folder"),
        timeline.wrapped(target, "export", lambda _self, path, _fmt: _export_label(path, manifest)),
        timeline.wrapped(
            target,
            "import_object",
            lambda _self, path, *_a, **_k: "import manifest" if path == manifest else "import notebook",
        ),
    ):
        yield


def _export_label(path: str, manifest: str) -> str:
    """Which kind of object an export reads: the manifest, a file (files keep their extension in the workspace;
    the generated names have no other dot) or a notebook (which loses it)."""
    if path == manifest:
        return "export manifest"
    return "export file" if "." in path.rsplit("/", 1)[-1] else "export notebook"


def _on(server: Any, latency_ms: int) -> None:
    server.workspace_limits = WorkspaceLimits()  # a new object: full token buckets, as after an idle second
    server.faults = Faults(latency_ms=latency_ms)
    server.stats.reset()


def _off(server: Any) -> None:
    server.faults = Faults()
    server.workspace_limits = None


def _open(root: Path) -> tuple[MappingWorkspace, float]:
    started = time.perf_counter()
    workspace = MappingWorkspace.open(root)
    workspace.export  # noqa: B018 - computed on first use; part of opening
    return workspace, time.perf_counter() - started


def run_portal(root: Path, server: Any, latency_ms: int) -> dict[str, Any]:
    workspace, opened = _open(root)
    counter = Counter(server)
    timeline = Timeline(counter)
    _on(server, latency_ms)
    with instrumented(timeline):
        t0 = time.perf_counter()
        timeline.mark("plan", STEP_STARTED)
        planned = plan_environment(workspace, "test", sink=timeline)
        timeline.mark("plan", STEP_FINISHED)
        t1 = time.perf_counter()
        timeline.mark("apply", STEP_STARTED)
        report = apply_environment(workspace, "test", planned.plan, sink=timeline, planned=planned)
        timeline.mark("apply", STEP_FINISHED)
        t2 = time.perf_counter()
    calls = counter.now()
    _off(server)
    if not report.ok:
        raise SystemExit(f"apply failed: {report.error}")
    notebooks = planned.plan.notebooks
    return {
        "wall": t2 - t0,
        "plan_s": t1 - t0,
        "apply_s": t2 - t1,
        "open_s": opened,
        **calls,
        "steps": timeline.steps,
        "spans": {
            **{k: timeline.span(k) for k in timeline.spans},
            "exports": timeline.span("export notebook", "export file"),
        },
        "span_counts": {k: timeline.count(k) for k in timeline.spans},
        "counts": notebooks.counts(),
        "imported": sorted(report.notebooks.imported if report.notebooks else []),
        "manifest_written": bool(report.notebooks and report.notebooks.manifest_written),
        "adf_changes": planned.plan.factory_has_changes,
        "listed_folders": timeline.count("list folder"),
    }


def refresh_manifest(root: Path) -> bool:
    """Promote what a plan shows (after the upload: only the manifest's rewrite); untimed, no latency."""
    workspace, _ = _open(root)
    planned = plan_environment(workspace, "test")
    if planned.plan.has_changes:
        apply_environment(workspace, "test", planned.plan, planned=planned)
    return bool(planned.plan.notebooks.changes)


def run_plan_only(root: Path, server: Any, latency_ms: int | None) -> dict[str, Any]:
    """One plan, counted; latency and limits on unless `latency_ms` is None."""
    workspace, _ = _open(root)
    counter = Counter(server)
    timeline = Timeline(counter)
    if latency_ms is None:
        server.stats.reset()
    else:
        _on(server, latency_ms)
    with instrumented(timeline):
        t0 = time.perf_counter()
        planned = plan_environment(workspace, "test", sink=timeline)
        wall = time.perf_counter() - t0
    calls = counter.now()
    _off(server)
    return {
        "wall": wall,
        **calls,
        "has_changes": planned.plan.factory_has_changes,
        "nb_has_changes": planned.plan.notebooks.has_changes,
        "counts": planned.plan.notebooks.counts(),
        "write_manifest": planned.plan.notebooks.write_manifest,
        "exports": timeline.count("export notebook") + timeline.count("export file"),
        "notebook_exports": timeline.count("export notebook"),
        "file_exports": timeline.count("export file"),
        "export_s": timeline.span("export notebook", "export file"),
    }


class ClientPacer:
    """The baseline's own client-side pacing: calls start at most `rate` a second across its threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next)
            self.next = at + self.interval
        if at > now:
            time.sleep(at - now)


_LANGUAGE_OF = {".py": Language.PYTHON, ".sql": Language.SQL, ".scala": Language.SCALA, ".r": Language.R}
_HEADER_OF = {
    ".py": b"# Databricks notebook source",
    ".sql": b"-- Databricks notebook source",
    ".scala": b"// Databricks notebook source",
    ".r": b"# Databricks notebook source",
}


def upload_plan(source: Path, target: str) -> tuple[list[str], list[tuple[str, bytes, ImportFormat, Language | None]]]:
    """What an import-dir does with a checkout's folder: every folder, and every file with its import format
    (a source notebook by extension and header line without its extension, any other file as it is)."""
    folders, files = [target], []
    for directory, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(directory)
        relative = here.relative_to(source).as_posix()
        folder = target if relative == "." else f"{target}/{relative}"
        if folder != target:
            folders.append(folder)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            data = (here / name).read_bytes()
            stem, ext = os.path.splitext(name)
            if ext.lower() in _LANGUAGE_OF and data.split(b"\n", 1)[0].rstrip(b"\r") == _HEADER_OF[ext.lower()]:
                files.append((f"{folder}/{stem}", data, ImportFormat.SOURCE, _LANGUAGE_OF[ext.lower()]))
            else:
                files.append((f"{folder}/{name}", data, ImportFormat.RAW, None))
    return folders, files


def run_upload(root: Path, server: Any, latency_ms: int, parallelism: int, rate: float) -> dict[str, Any]:
    folders, files = upload_plan(root / "notebooks", TARGET)  # read from the checkout before timing
    counter = Counter(server)
    _on(server, latency_ms)
    t0 = time.perf_counter()
    client = server.workspace_client(HOST, retry_timeout_seconds=300)  # the SDK's default retry budget
    t_client = time.perf_counter()
    for folder in folders:
        client.workspace.mkdirs(folder)
    t_mkdirs = time.perf_counter()
    pacer = ClientPacer(rate)

    def upload(item: tuple[str, bytes, ImportFormat, Language | None]) -> None:
        path, data, fmt, language = item
        pacer.wait()
        client.workspace.import_(
            path, content=base64.b64encode(data).decode("ascii"), format=fmt, language=language, overwrite=True
        )

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        for future in [pool.submit(upload, item) for item in files]:
            future.result()
    t_end = time.perf_counter()
    calls = counter.now()
    _off(server)
    return {
        "wall": t_end - t0,
        "client_s": t_client - t0,
        "mkdirs_s": t_mkdirs - t_client,
        "imports_s": t_end - t_mkdirs,
        "folders": len(folders),
        "files": len(files),
        **calls,
    }


# ---------------------------------------------------------------------------------------------------------------
# Set-up and driver
# ---------------------------------------------------------------------------------------------------------------


def set_up(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Bench")
        config.set_value("user", "email", "bench@example.invalid")
    write_factory(root / "adf")
    (root / "portal.yaml").write_text(_config(), encoding="utf-8")
    (root / ".gitignore").write_text(".sandbox/\n", encoding="utf-8")
    write_json(
        root / "environments" / "test.parameters.json",
        {
            "parameters": {
                "LS_Lake_accountKey": {"reference": {"keyVault": {"id": KV_TEST}, "secretName": "lake-key"}},
                "LS_Sql_connectionString": {"reference": {"keyVault": {"id": KV_TEST}, "secretName": "sql-conn"}},
            }
        },
    )
    generated = generate_notebooks(root / "notebooks", args.notebooks, args.folders, args.seed)
    _commit(repo, "factory and notebooks")

    server = sandbox_for(root / ".sandbox")
    _off(server)
    server.client(SUB_TEST).factories.create_or_update(RESOURCE_GROUP, FACTORY, {"location": "westeurope"})
    started = time.perf_counter()
    workspace = MappingWorkspace.open(root)
    planned = plan_environment(workspace, "test")
    report = apply_environment(workspace, "test", planned.plan, planned=planned)
    first = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"the first promotion failed: {report.error}")
    again = plan_environment(MappingWorkspace.open(root), "test").plan
    if again.has_changes:
        raise SystemExit("the first promotion did not converge")

    rng = random.Random(args.seed + 1)
    chosen = rng.sample(generated["notebooks"], min(args.changed, len(generated["notebooks"])))
    return {
        "repo": repo,
        "server": server,
        **generated,
        "first_s": first,
        "first_imports": len(report.notebooks.imported) if report.notebooks else 0,
        "first_folders": len(report.notebooks.folders_created) if report.notebooks else 0,
        "first_adf": len(report.deployed),
        "chosen": chosen,
        "originals": {path: path.read_bytes() for path, _ in chosen},
        "parallelism": workspace.environment("test").deploy.parallelism,
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="nb-deploy-bench-"))
    server = None
    try:
        begun = time.perf_counter()
        root = work / "data"
        setup = set_up(root, args)
        server = setup["server"]
        print(
            f"set-up: {args.notebooks} notebooks in {setup['folders']} folders; first promotion "
            f"({setup['first_imports']} imports, no latency) {setup['first_s']:.1f} s",
            flush=True,
        )
        runs = []
        for rep in range(args.repeat):
            change_notebooks(setup["chosen"], setup["originals"], rep + 1)
            _commit(setup["repo"], f"benchmark change {rep + 1}")
            run = run_portal(root, server, args.latency_ms)
            expected = sorted(
                f"{TARGET}/{p.relative_to(root / 'notebooks').with_suffix('').as_posix()}" for p, _ in setup["chosen"]
            )
            if run["adf_changes"]:
                raise SystemExit("the factory had changes; the benchmark expects none")
            if run["imported"] != expected:
                raise SystemExit(f"the portal imported {run['imported']}, expected {expected}")
            runs.append(run)
            print(
                f"  run {rep + 1}/{args.repeat}: portal {run['wall']:5.2f} s, {run['ws_api']} workspace API calls "
                f"({run['ws_total']} requests to the host), {run['adf_total']} Data Factory calls",
                flush=True,
            )
        noop = run_plan_only(root, server, args.latency_ms)  # convergence, and the cost of a plan with nothing to do
        print(
            f"  plan after the runs: changes {noop['has_changes']}, {noop['ws_api']} workspace API calls, "
            f"{noop['wall']:.2f} s",
            flush=True,
        )
        upload = run_upload(root, server, args.latency_ms, args.baseline_parallelism, args.baseline_rate)
        print(
            f"  upload of every notebook: {upload['wall']:.1f} s, {upload['ws_api']} workspace API calls, "
            f"{upload['rate_limited']} answered 429",
            flush=True,
        )
        after = None
        if not args.skip_after_upload:
            first = run_plan_only(root, server, args.latency_ms)
            imported = refresh_manifest(root)
            after = [first, run_plan_only(root, server, None), imported]
            print(
                f"  plans after the upload: {after[0]['ws_api']} workspace API calls in {after[0]['wall']:.1f} s, "
                f"then {after[1]['ws_api']} (no latency); changes {after[0]['has_changes']}",
                flush=True,
            )
        return {
            "setup": setup,
            "portal": runs,
            "noop": noop,
            "upload": upload,
            "after": after,
            "total": time.perf_counter() - begun,
        }
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------------


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _median_in(runs: list[dict[str, Any]], group: str, key: str, field: str | None = None) -> float:
    values = []
    for run in runs:
        value = run[group].get(key, {} if field else 0.0)
        values.append(value.get(field, 0) if field else value)
    return statistics.median(values)


def _same(runs: list[dict[str, Any]], key: str) -> str:
    values = sorted({r[key] for r in runs})
    return f"{values[0]:,}" if len(values) == 1 else "–".join(f"{v:,}" for v in (values[0], values[-1]))


def _ratio(value: float) -> str:
    """A ratio as the table shows it: whole numbers from 10 on, one decimal below."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _endpoints(by_endpoint: dict[str, int]) -> str:
    short = {endpoint: n for endpoint, n in by_endpoint.items()}
    return ", ".join(f"{k.replace('/api/2.0/workspace/', '…/')} {v:,}" for k, v in sorted(short.items()))


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    setup, runs, noop = result["setup"], result["portal"], result["noop"]
    upload, after = result["upload"], result["after"]
    folders = setup["folders"]
    formula = 2 + folders + args.changed  # the calls besides the exports of deployed objects
    p_wall, u_wall = _median(runs, "wall"), upload["wall"]
    p_api, u_api = _median(runs, "ws_api"), upload["ws_api"]
    p_open = _median(runs, "open_s")
    sizes = setup["sizes"]
    kinds = ", ".join(f"{n:,} {k}" for k, n in sorted(setup["kinds"].items(), key=lambda kv: -kv[1]))
    first = runs[0]
    worst_api = max(r["ws_api"] for r in runs)
    met = worst_api <= CALLS_TARGET
    nb_exports = first["span_counts"].get("export notebook", 0)
    file_exports = first["span_counts"].get("export file", 0)
    worst_rest = max(
        r["ws_api"] - r["span_counts"].get("export notebook", 0) - r["span_counts"].get("export file", 0) for r in runs
    )
    probe = first["ws_total"] - first["ws_api"]
    mode = (
        f"paced on the client at {args.baseline_rate:g}/s"
        if args.baseline_rate > 0
        else "unpaced (the SDK waits out each 429's Retry-After)"
    )

    walls = ", ".join(f"{r['wall']:.2f}" for r in runs)

    def step(name: str, key: str = "s") -> float:
        return _median_in(runs, "steps", name, key)

    def span(name: str) -> float:
        return _median_in(runs, "spans", name)

    lines = [
        *run_header(),
        f"Settings: {args.notebooks:,} notebooks (seed {args.seed}) in {folders} folders (the target folder and "
        f"{args.folders} sub-folders), {args.changed} changed per run; sandbox latency {args.latency_ms} ms on every "
        f"call; workspace rate limits on (import 30/s, export 60/s, list 50/s, delete 2/s); portal "
        f"deploy.parallelism {setup['parallelism']}; median of {args.repeat} portal runs; the upload of every "
        f"notebook ran once ({args.baseline_parallelism} at a time, {mode}); the benchmark took "
        f"{result['total']:.0f} s in all.",
        "",
        f"Notebooks: {kinds}; {sum(sizes) / 1e6:.1f} MB, {min(sizes) / 1024:.1f}–{max(sizes) / 1024:.1f} kB "
        f"(median {statistics.median(sizes) / 1024:.1f} kB). Untimed first promotion (no latency, no limits; "
        f"the portal paces its imports at 30/s anyway): {setup['first_imports']:,} imports, "
        f"{setup['first_folders']} folders made, {setup['first_adf']} factory objects, {setup['first_s']:.1f} s; "
        f"a plan then showed no changes. Each run: {args.changed} notebooks "
        f"({', '.join(f'{n} {_DISPLAY[lang]}' for lang, n in sorted(_languages(setup['chosen']).items()))}) get a "
        f"new line in their last cell, committed. Plan (first run): {first['counts']['update']} updates, "
        f"{first['counts']['create']} creates, {first['counts']['delete']} deletes, "
        f"{first['counts']['unchanged']:,} unchanged; the factory has no changes.",
        "",
        "| run | workspace API calls | requests to the host by endpoint (first run) | 429s | wall time (s) | runs (s) "
        "| Data Factory calls |",
        "|---|---:|---|---:|---:|---|---:|",
        f"| portal plan + apply (incremental) | {_same(runs, 'ws_api')} | {_endpoints(first['by_endpoint'])} | "
        f"{_same(runs, 'rate_limited')} | {p_wall:.2f} | {walls} | "
        f"{_same(runs, 'adf_total')} (not in the target) |",
        f"| upload of every notebook (mkdirs + import_ overwrite) | {u_api:,} | {_endpoints(upload['by_endpoint'])} | "
        f"{upload['rate_limited']:,} | {u_wall:.2f} | once | 0 |",
        f"| **upload / portal** | **{_ratio(u_api / p_api)}×** | | | **{_ratio(u_wall / p_wall)}×** | | |",
        "",
        f"Requests to the workspace host include the SDK's unauthenticated discovery probe "
        f"(`GET /.well-known/databricks-config`, once per new WorkspaceClient): {probe} in each portal run "
        f"(the plan makes a client), {upload['ws_total'] - upload['ws_api']} in the upload. "
        f"Opening the workspace (Git, parse, export; no calls) took {p_open:.2f} s on top of the portal's time "
        f"({_ratio(u_wall / (p_wall + p_open))}× with it).",
        "",
        "Where the portal's time goes (medians):",
        "",
        "| step | wall (s) | workspace requests | Data Factory calls |",
        "|---|---:|---:|---:|",
        f"| open workspace (not in the portal time above) | {p_open:.2f} | 0 | 0 |",
        f"| plan in all | {step('plan'):.2f} | {step('plan', 'ws'):.0f} | {step('plan', 'adf'):.0f} |",
        f"| plan → read live factory (the environment renders meanwhile) | {step('read live factory'):.2f} | "
        f"{step('read live factory', 'ws'):.0f} | {step('read live factory', 'adf'):.0f} |",
        f"| plan → load {args.notebooks:,} notebooks (read the checkout, hash each) | "
        f"{span('load notebooks'):.2f} | 0 | 0 |",
        f"| plan → new WorkspaceClient (discovery probe) | {span('workspace client'):.2f} | {probe} | 0 |",
        f"| plan → read workspace folder in all | {step('read workspace folder'):.2f} | "
        f"{step('read workspace folder', 'ws'):.0f} | 0 |",
        f"| plan → read workspace folder → read the manifest (1 export) | {span('read manifest'):.2f} | 1 | 0 |",
        f"| plan → read workspace folder → list {folders} folders ({setup['parallelism']} at a time) | "
        f"{span('list folder'):.2f} | {folders} | 0 |",
        f"| plan → read workspace folder → export {nb_exports:,} notebooks and {file_exports:,} files to hash them "
        f"({setup['parallelism']} at a time, paced ≤ 60/s) | {span('exports'):.2f} | {nb_exports + file_exports:,} "
        f"| 0 |",
        f"| plan → read workspace folder → compare by hash (rest) | "
        f"{max(0.0, step('read workspace folder') - span('read manifest') - span('list folder') - span('exports')):.2f}"
        f" | 0 | 0 |",
        f"| apply in all | {step('apply'):.2f} | {step('apply', 'ws'):.0f} | {step('apply', 'adf'):.0f} |",
    ]
    for name in first["steps"]:  # apply's own steps, in the order they finished
        if name not in ("plan", "apply", "read live factory", "read workspace folder"):
            extra = (
                f" ({args.changed} imports, paced ≤ 30/s, {setup['parallelism']} at a time)"
                if name == "import notebooks"
                else ""
            )
            lines.append(
                f"| apply → {name}{extra} | {step(name):.2f} | {step(name, 'ws'):.0f} | {step(name, 'adf'):.0f} |"
            )
    lines += [
        "",
        f"Upload of every notebook: new client {upload['client_s']:.2f} s, {upload['folders']} mkdirs "
        f"{upload['mkdirs_s']:.2f} s, {upload['files']:,} imports {upload['imports_s']:.1f} s "
        f"({upload['files'] / upload['imports_s']:.1f}/s).",
        "",
        "### Targets",
        "",
        f"- ≤ {CALLS_TARGET} workspace API calls: **{'met' if met else 'NOT met'}** ({worst_api:,} in the worst run; "
        f"formula 2 + folders + changed + deployed notebooks = 2 + {folders} + {args.changed} + {nb_exports:,} = "
        f"{formula + nb_exports:,}: 1 export of the manifest + 1 list per folder + 1 export per deployed notebook "
        f"+ 1 import per changed notebook + 1 import of the manifest (files: no export while their modified_at "
        f"is not after the manifest's; {file_exports} exported here); {probe} more "
        f"request{'s' if probe != 1 else ''} to the host for the SDK's discovery probe). Without the notebook "
        f"exports the calls are {worst_rest} ({formula} by the formula): the exports are the price of seeing hand "
        f"edits of notebooks, which carry no documented modified_at to skip them by.",
        "",
        "### Convergence and plans without changes",
        "",
        f"- Plan after the portal's runs (same latency and limits): notebook changes "
        f"**{'none' if not noop['nb_has_changes'] else 'SOME'}** ({noop['counts']['unchanged']:,} unchanged), "
        f"factory changes {'none' if not noop['has_changes'] else 'some'}, manifest rewrite planned: "
        f"{'yes' if noop['write_manifest'] else 'no'}; {noop['ws_api']:,} workspace API calls "
        f"({_endpoints(noop['by_endpoint'])}: {noop['notebook_exports']:,} notebooks and {noop['file_exports']} "
        f"files exported), {noop['adf_total']} Data Factory calls, {noop['wall']:.2f} s.",
    ]
    if after is not None:
        a1, a2, imported = after
        to_import = a1["counts"]["create"] + a1["counts"]["update"] + a1["counts"]["delete"]
        lines.append(
            f"- Plan after the upload (which rewrote every notebook and file with Git's content, so each file is "
            f"newer than the portal's manifest): **{to_import}** notebooks to import or prune "
            f"({a1['counts']['unchanged']:,} unchanged, drift {a1['counts']['drift']}; manifest rewrite planned: "
            f"{'yes' if a1['write_manifest'] else 'no'}); {a1['ws_api']:,} workspace API calls "
            f"({_endpoints(a1['by_endpoint'])}; {a1['rate_limited']} answered 429), {a1['wall']:.1f} s: "
            f"{a1['notebook_exports']:,} notebooks and {a1['file_exports']} files exported "
            f"({setup['parallelism']} at a time (deploy.parallelism), paced at 60/s, {a1['export_s']:.1f} s) to tell "
            f"a save without a change from drift. Promoting that plan "
            f"{'imported notebooks too' if imported else 'only rewrote the manifest'}; the next plan (no latency) "
            f"made {a2['ws_api']:,} workspace API calls ({a2['notebook_exports']:,} notebook and "
            f"{a2['file_exports']} file exports)"
            + (
                ": the files are vouched for by their modified_at again, the notebooks are exported as on every plan."
                if a2["file_exports"] == 0
                else ": the saved files were checked again."
            )
        )
    lines += [
        "",
        "Rerun: `PYTHONPATH=src python3 bench/bench_notebooks.py` (about "
        f"{max(1, round(result['total'] / 60))} min on this machine, mostly the untimed first promotion and the "
        "upload, both held to 30 imports/s, and the plans' notebook exports, held to 60/s; `--no-write` prints "
        "without updating this file; also `--repeat N`, "
        "`--notebooks N`, `--changed N`, `--folders N`, `--latency-ms N`, `--seed N`, "
        "`--baseline-parallelism N`, `--baseline-rate R` (0: unpaced), `--skip-after-upload`).",
    ]
    return "\n".join(lines)


def _languages(chosen: list[tuple[Path, str]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for _, language in chosen:
        counts[language] += 1
    return dict(counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=int, default=2000, help="notebooks and files in Git (default 2000)")
    parser.add_argument("--changed", type=int, default=10, help="notebooks changed per run (default 10)")
    parser.add_argument(
        "--folders",
        type=int,
        default=2,
        help="sub-folders below the target folder (default 2; the target folder is one more)",
    )
    parser.add_argument("--latency-ms", type=int, default=20, help="sandbox latency per call (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="timed portal runs (default 3)")
    parser.add_argument("--baseline-parallelism", type=int, default=4, help="imports at a time in the upload (4)")
    parser.add_argument(
        "--baseline-rate",
        type=float,
        default=30.0,
        help="client-side pacing of the upload's imports per second (default 30; 0: unpaced)",
    )
    parser.add_argument(
        "--skip-after-upload",
        action="store_true",
        help="skip the two plans after the upload (they export every notebook)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args(argv)
    if args.changed < 1 or args.notebooks < args.changed or args.folders < 0 or args.repeat < 1:
        parser.error("need 1 <= --changed <= --notebooks, --folders >= 0, --repeat >= 1")
    result = bench(args)
    text = report(result, args)
    publish("bench_notebooks", text, SECTION_HEADING, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
