"""Benchmark of an incremental promotion (plan + apply) against a full redeploy, on the embedded sandbox.

    PYTHONPATH=src python3 bench/bench_deploy.py            # full run, updates bench/RESULTS.md
    PYTHONPATH=src python3 bench/bench_deploy.py --no-write # print only
    PYTHONPATH=src python3 bench/bench_deploy.py --profile  # also cProfile one incremental run (printed)

Set-up (untimed), in a temporary folder: a Git data repository (branch main) with a generated factory
(bench/generate_factory.py, `--resources` objects, `--seed`) under `adf/`, a portal.yaml with one environment
`test` on the sandbox (deploy.parallelism `--parallelism`), and `environments/test.parameters.json` giving every
parameter that `MappingWorkspace.check("test")` reports as MISSING_VALUE a Key Vault reference. The factory is
created in the sandbox and promoted once without latency, so the live factory matches the source. Then
`--changed` objects (half pipelines, half datasets, a deterministic sample) get a new description, committed.

Timed, with `Faults(latency_ms=--latency-ms)` on every call and the sandbox's counters reset before each:
- portal: `plan_environment` + `apply_environment` (apply re-reads the live factory to check the plan is still
  current, then writes only what changed and stops/starts the triggers whose pipelines changed). Opening the
  workspace (`MappingWorkspace.open`: read Git, parse, export) is timed apart and reported beside it.
- full redeploy (what an ARM incremental deployment of the whole template with Microsoft's pre/post-deployment
  script v1 does): pre-script lists the triggers and stops every started trigger of the template (one at a time);
  then every desired object is PUT (the same `plan_environment(...).desired`, the same bodies, `FactoryTarget.put`)
  level by level in dependency order, `--baseline-parallelism` at a time (ARM deploys independent resources in
  parallel); post-script lists pipelines, datasets, data flows, linked services, integration runtimes and triggers
  (to find objects to delete; none here) and starts every trigger the template says is Started (one at a time).
Each repetition changes the same objects again (a new description) and commits, then runs portal and full
redeploy in that order (the other order would leave the portal nothing to do). Medians over `--repeat` runs.
The sandbox runs in this process over HTTPS (real SDK, real TLS), so its own CPU work shares the GIL with the
client's; the latency is slept on the server's handler threads, so parallel calls overlap their latency.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR.parent
SRC = PROJECT / "src"
WRITES_TARGET = 50.0
TIME_TARGET = 10.0
SUBSCRIPTION = "44444444-4444-4444-4444-444444444444"
RESOURCE_GROUP = "rg-bench"
FACTORY = "adf-bench-test"
KEY_VAULT = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.KeyVault/vaults/kv-bench"
)
SECTION_HEADING = "# Deploy benchmark: incremental plan + apply vs full redeploy"

for _path in (str(SRC), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import git  # noqa: E402
from generate_factory import generate_factory  # noqa: E402
from results_file import publish, run_header  # noqa: E402

from portal.deploy.apply import _levels, _put, sandbox_secret  # noqa: E402  (the same bodies as apply)
from portal.deploy.plan import deploy_order  # noqa: E402
from portal.deploy.service import apply_environment, plan_environment  # noqa: E402
from portal.deploy.target import FactoryTarget  # noqa: E402
from portal.environments.workspace import MappingWorkspace  # noqa: E402
from portal.errors import ErrorCode  # noqa: E402
from portal.events import STEP_FINISHED, STEP_STARTED, Event  # noqa: E402
from portal.sandbox import Faults, sandbox_for  # noqa: E402


def _config(parallelism: int) -> str:
    return f"""\
version: 1
adf:
  root_folder: adf
environments:
  - name: test
    data_factory:
      subscription_id: {SUBSCRIPTION}
      resource_group: {RESOURCE_GROUP}
      factory_name: {FACTORY}
      location: westeurope
      auth: sandbox
      sandbox: .sandbox
    deploy:
      parallelism: {parallelism}
"""


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent="\t", ensure_ascii=False), encoding="utf-8")


def _commit(repo: git.Repo, message: str) -> None:
    repo.git.add(A=True)
    repo.index.commit(message)


# ---------------------------------------------------------------------------------------------------------------
# Set-up (untimed)
# ---------------------------------------------------------------------------------------------------------------


def set_up(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Bench")
        config.set_value("user", "email", "bench@example.invalid")
    counts = generate_factory(root / "adf", args.resources, seed=args.seed)
    (root / "portal.yaml").write_text(_config(args.parallelism), encoding="utf-8")
    (root / ".gitignore").write_text(".sandbox/\n", encoding="utf-8")
    _write_json(root / "environments" / "test.parameters.json", {"parameters": {}})
    _commit(repo, "data repository")

    # Every value the environment lacks: the generated factory's are all secure (linked-service secrets).
    workspace = MappingWorkspace.open(root)
    by_name = {p.name: p for p in workspace.export.parameters}
    values: dict[str, Any] = {}
    other = []
    for finding in workspace.check("test"):
        if finding.code != ErrorCode.MISSING_VALUE:
            other.append(str(finding))
            continue
        name = finding.where.rsplit(" → ", 1)[-1]
        parameter = by_name[name]
        if parameter.secure:
            values[name] = {"reference": {"keyVault": {"id": KEY_VAULT}, "secretName": "s"}}
        else:
            values[name] = {"value": "bench"}
    _write_json(root / "environments" / "test.parameters.json", {"parameters": values})
    _commit(repo, "values of test")
    left = MappingWorkspace.open(root).check("test")
    if left:
        raise SystemExit("the environment still has findings:\n" + "\n".join(str(f) for f in left))

    server = sandbox_for(root / ".sandbox")
    server.client(SUBSCRIPTION).factories.create_or_update(RESOURCE_GROUP, FACTORY, {"location": "westeurope"})
    started = time.perf_counter()
    workspace = MappingWorkspace.open(root)
    planned = plan_environment(workspace, "test")
    report = apply_environment(workspace, "test", planned.plan, planned=planned)
    first = time.perf_counter() - started
    if not report.ok or plan_environment(MappingWorkspace.open(root), "test").plan.has_changes:
        raise SystemExit("the first promotion did not converge")

    # The objects the benchmark changes: a deterministic sample, half pipelines, half datasets.
    rng = random.Random(args.seed)
    pipelines = sorted(p.stem for p in (root / "adf" / "pipeline").glob("*.json"))
    datasets = sorted(p.stem for p in (root / "adf" / "dataset").glob("*.json"))
    half = args.changed // 2
    chosen = [("pipeline", n) for n in rng.sample(pipelines, half)] + [
        ("dataset", n) for n in rng.sample(datasets, args.changed - half)
    ]
    return {
        "repo": repo,
        "server": server,
        "counts": counts,
        "objects": len(planned.desired),
        "parameters": len(by_name),
        "secure_filled": len(values),
        "other_findings": other,
        "first_promotion_s": first,
        "first_writes": len(report.deployed),
        "chosen": chosen,
        "page_size": server.page_size,
        "started_triggers": sum(
            1
            for (kind, _), obj in planned.desired.items()
            if kind == "trigger" and obj.properties.get("runtimeState") == "Started"
        ),
    }


def change_objects(root: Path, repo: git.Repo, chosen: list[tuple[str, str]], revision: int) -> None:
    for kind, name in chosen:
        path = root / "adf" / kind / f"{name}.json"
        document = json.loads(path.read_text(encoding="utf-8"))
        document["properties"]["description"] = f"benchmark change {revision}"
        _write_json(path, document)
    _commit(repo, f"benchmark change {revision}")


# ---------------------------------------------------------------------------------------------------------------
# The two timed runs
# ---------------------------------------------------------------------------------------------------------------


class Phases:
    """An event sink that records when each step of apply started and finished, and the calls made in it."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.started: dict[str, tuple[float, int, int]] = {}
        self.phases: dict[str, dict[str, float]] = {}

    def mark(self, step: str, kind: str) -> None:
        now, stats = time.perf_counter(), self.server.stats
        if kind == STEP_STARTED:
            self.started[step] = (now, stats.reads, stats.writes)
        elif kind == STEP_FINISHED and step in self.started:
            t0, r0, w0 = self.started.pop(step)
            self.phases[step] = {"s": now - t0, "reads": stats.reads - r0, "writes": stats.writes - w0}

    def __call__(self, event: Event) -> None:
        self.mark(event.step, event.kind)


def _stats(server: Any) -> dict[str, Any]:
    s = server.stats
    return {"reads": s.reads, "writes": s.writes, "by_method": dict(s.by_method), "faults": s.faults_injected}


def run_portal(root: Path, server: Any, latency_ms: int, profile: cProfile.Profile | None = None) -> dict[str, Any]:
    server.faults = Faults()
    started = time.perf_counter()
    workspace = MappingWorkspace.open(root)
    workspace.export  # noqa: B018 - the export is computed on first use; part of opening
    opened = time.perf_counter() - started

    server.faults = Faults(latency_ms=latency_ms)
    server.stats.reset()
    phases = Phases(server)
    if profile is not None:
        profile.enable()
    t0 = time.perf_counter()
    phases.mark("plan", STEP_STARTED)
    planned = plan_environment(workspace, "test", sink=phases)
    phases.mark("plan", STEP_FINISHED)
    t1 = time.perf_counter()
    phases.mark("apply", STEP_STARTED)
    report = apply_environment(workspace, "test", planned.plan, sink=phases, planned=planned)
    phases.mark("apply", STEP_FINISHED)
    t2 = time.perf_counter()
    if profile is not None:
        profile.disable()
    stats = _stats(server)
    server.faults = Faults()
    if not report.ok:
        raise SystemExit(f"apply failed: {report.error}")
    counts = planned.plan.counts()
    return {
        "wall": t2 - t0,
        "plan_s": t1 - t0,
        "apply_s": t2 - t1,
        "open_s": opened,
        **stats,
        "phases": phases.phases,
        "counts": counts,
        "deployed": len(report.deployed),
        "stopped": len(report.triggers_stopped),
        "started": len(report.triggers_started),
        "desired": planned.desired,
    }


_POST_SCRIPT_LISTS = ("pipelines", "datasets", "data_flows", "linked_services", "integration_runtimes", "triggers")


def run_full(server: Any, target: FactoryTarget, desired: dict, latency_ms: int, parallelism: int) -> dict[str, Any]:
    """A full redeploy the way ARM + Microsoft's pre/post-deployment script (v1) does it."""
    client, rg, factory = target.client, target.resource_group, target.factory_name
    template_triggers = {name: obj for (kind, name), obj in desired.items() if kind == "trigger"}
    order = deploy_order(desired)
    levels = _levels(order, desired)
    server.faults = Faults(latency_ms=latency_ms)
    server.stats.reset()
    phases = Phases(server)
    t0 = time.perf_counter()

    # Pre-deployment script: stop every started trigger of the template (those with pipelines), one by one.
    phases.mark("pre-script (list + stop triggers)", STEP_STARTED)
    live_state = {
        item["name"]: (item["properties"] or {}).get("runtimeState")
        for item in client.triggers.list_by_factory(rg, factory)
    }
    to_stop = [name for name in template_triggers if live_state.get(name) == "Started"]
    for name in to_stop:
        target.stop_trigger(name)
    phases.mark("pre-script (list + stop triggers)", STEP_FINISHED)

    # The deployment: every object, level by level in dependency order, `parallelism` at a time.
    phases.mark("deploy (PUT every object)", STEP_STARTED)
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        for level in levels:
            for future in [pool.submit(_put, target, desired[key], sandbox_secret) for key in level]:
                future.result()
    phases.mark("deploy (PUT every object)", STEP_FINISHED)

    # Post-deployment script: list every kind to find deletions, then start the template's started triggers.
    phases.mark("post-script (list all + start triggers)", STEP_STARTED)
    listed = 0
    for operations in _POST_SCRIPT_LISTS:
        listed += sum(1 for _ in getattr(client, operations).list_by_factory(rg, factory))
    to_start = [
        name
        for name, obj in template_triggers.items()
        if obj.properties.get("runtimeState") == "Started"
        and (obj.properties.get("pipelines") or (obj.properties.get("pipeline") or {}).get("pipelineReference"))
    ]
    for name in to_start:
        target.start_trigger(name)
    phases.mark("post-script (list all + start triggers)", STEP_FINISHED)
    wall = time.perf_counter() - t0
    stats = _stats(server)
    server.faults = Faults()
    return {
        "wall": wall,
        **stats,
        "phases": phases.phases,
        "puts": len(order),
        "levels": len(levels),
        "stopped": len(to_stop),
        "started": len(to_start),
        "listed": listed,
    }


# ---------------------------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------------------------


def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="adf-deploy-bench-"))
    server = None
    try:
        begun = time.perf_counter()
        root = work / "data"
        setup = set_up(root, args)
        server = setup["server"]
        print(
            f"set-up: {setup['objects']} objects, first promotion ({setup['first_writes']} writes, no latency) "
            f"{setup['first_promotion_s']:.1f} s; changing {len(setup['chosen'])} objects per run",
            flush=True,
        )
        portal_runs, full_runs = [], []
        profile = cProfile.Profile() if args.profile else None
        for rep in range(args.repeat):
            change_objects(root, setup["repo"], setup["chosen"], rep + 1)
            portal = run_portal(root, server, args.latency_ms, profile if rep == 0 else None)
            desired = portal.pop("desired")
            target = FactoryTarget(server.client(SUBSCRIPTION), SUBSCRIPTION, RESOURCE_GROUP, FACTORY)
            full = run_full(server, target, desired, args.latency_ms, args.baseline_parallelism)
            portal_runs.append(portal)
            full_runs.append(full)
            print(
                f"  run {rep + 1}/{args.repeat}: portal {portal['wall']:6.2f} s {portal['reads']:4d} reads "
                f"{portal['writes']:4d} writes | full redeploy {full['wall']:6.2f} s {full['reads']:4d} reads "
                f"{full['writes']:5d} writes",
                flush=True,
            )
        # Afterwards the source and the live factory still agree.
        converged = not plan_environment(MappingWorkspace.open(root), "test").plan.has_changes
        profile_text = None
        if profile is not None:
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(35)
            profile_text = out.getvalue()
        return {
            "setup": setup,
            "portal": portal_runs,
            "full": full_runs,
            "converged": converged,
            "total": time.perf_counter() - begun,
            "profile": profile_text,
        }
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _median_phase(runs: list[dict[str, Any]], phase: str, key: str) -> float:
    return statistics.median(r["phases"].get(phase, {}).get(key, 0) for r in runs)


def _same(runs: list[dict[str, Any]], key: str) -> str:
    values = sorted({r[key] for r in runs})
    return f"{values[0]:,}" if len(values) == 1 else "–".join(f"{v:,}" for v in (values[0], values[-1]))


def _walls(runs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['wall']:.2f}" for r in runs)


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    setup, portal, full = result["setup"], result["portal"], result["full"]
    p_wall, f_wall = _median(portal, "wall"), _median(full, "wall")
    p_writes, f_writes = _median(portal, "writes"), _median(full, "writes")
    p_open = _median(portal, "open_s")
    writes_ratio = f_writes / p_writes if p_writes else float("inf")
    time_ratio = f_wall / p_wall
    time_ratio_open = f_wall / (p_wall + p_open)
    counts = portal[0]["counts"]
    methods_p = portal[0]["by_method"]
    methods_f = full[0]["by_method"]
    plan_reads = _median_phase(portal, "plan", "reads")
    check_reads = _median_phase(portal, "check live state", "reads")

    def methods(by_method: dict[str, int]) -> str:
        return ", ".join(f"{k} {v:,}" for k, v in sorted(by_method.items()))

    lines = [
        *run_header(),
        f"Runs: median of {args.repeat}; sandbox latency {args.latency_ms} ms on every call, list page size "
        f"{setup['page_size']}; the benchmark took {result['total']:.0f} s in all.",
        "",
        f"Factory: generated, {args.resources:,} resources (seed {args.seed}) → {setup['objects']:,} deployable "
        f"objects "
        f"(" + ", ".join(f"{k} {v}" for k, v in setup["counts"].items()) + f"), {setup['parameters']} template "
        f"parameters ({setup['secure_filled']} secure, given Key Vault references), {setup['started_triggers']} "
        f"triggers Started in the source. Untimed first promotion: {setup['first_writes']:,} writes in "
        f"{setup['first_promotion_s']:.1f} s without latency. Changed per run: {len(setup['chosen'])} objects "
        f"(description of {sum(1 for k, _ in setup['chosen'] if k == 'pipeline')} pipelines and "
        f"{sum(1 for k, _ in setup['chosen'] if k == 'dataset')} datasets). Plan: "
        f"{counts['update']} updates, {counts['create']} creates, {counts['delete']} deletes, "
        f"{counts['unchanged']:,} unchanged, {counts['triggers']} triggers to stop and start. "
        f"Source and live factory agree after the runs: {'yes' if result['converged'] else 'NO'}.",
        "",
        "| run | reads | writes | wall time (s) | runs (s) | calls by method (first run) |",
        "|---|---:|---:|---:|---|---|",
        f"| portal plan + apply (incremental, parallelism {args.parallelism}) | {_same(portal, 'reads')} | "
        f"{_same(portal, 'writes')} | {p_wall:.2f} | {_walls(portal)} | "
        f"{methods(methods_p)} |",
        f"| full redeploy (every object, parallelism {args.baseline_parallelism} per dependency level, "
        f"+ trigger stop/start) | {_same(full, 'reads')} | {_same(full, 'writes')} | {f_wall:.2f} | "
        f"{_walls(full)} | {methods(methods_f)} |",
        f"| **full / portal** | {_median(full, 'reads') / _median(portal, 'reads'):.1f}× | "
        f"**{writes_ratio:.1f}×** | **{time_ratio:.1f}×** | | |",
        "",
        "Where the time goes (medians):",
        "",
        "| step | wall (s) | reads | writes |",
        "|---|---:|---:|---:|",
        f"| portal: open workspace (Git, parse, export; no API calls; not in the portal time above) "
        f"| {p_open:.2f} | 0 | 0 |",
        f"| portal: plan (render, read live factory, compare) | {_median(portal, 'plan_s'):.2f} | {plan_reads:.0f} | "
        f"{_median_phase(portal, 'plan', 'writes'):.0f} |",
        f"| portal: plan → read live factory (list calls as REST JSON; the render runs meanwhile) | "
        f"{_median_phase(portal, 'read live factory', 's'):.2f} "
        f"| {_median_phase(portal, 'read live factory', 'reads'):.0f} "
        f"| {_median_phase(portal, 'read live factory', 'writes'):.0f} |",
    ]
    for step in ("check live state", "stop triggers", "deploy", "start triggers"):  # apply's own steps
        if any(step in r["phases"] for r in portal):
            lines.append(
                f"| portal: apply → {step} | {_median_phase(portal, step, 's'):.2f} | "
                f"{_median_phase(portal, step, 'reads'):.0f} | {_median_phase(portal, step, 'writes'):.0f} |"
            )
    lines.append(
        f"| portal: apply in all | {_median(portal, 'apply_s'):.2f} | "
        f"{_median_phase(portal, 'apply', 'reads'):.0f} | {_median_phase(portal, 'apply', 'writes'):.0f} |"
    )
    for step in full[0]["phases"]:
        lines.append(
            f"| full: {step} | {_median_phase(full, step, 's'):.2f} "
            f"| {_median_phase(full, step, 'reads'):.0f} | {_median_phase(full, step, 'writes'):.0f} |"
        )
    lines += [
        "",
        f"The plan reads the live factory with {plan_reads:.0f} calls (one factory GET and one GET per list page of "
        f"{setup['page_size']} objects per kind, empty kinds included); apply reads again only the objects the plan "
        f"changes ({check_reads:.0f} GETs: `deploy.stale_check: changed-objects`, the default) to refuse a plan that "
        "went stale, and writes them with If-Match. The full redeploy stops "
        f"{full[0]['stopped']} and starts {full[0]['started']} triggers and PUTs {full[0]['puts']:,} objects in "
        f"{full[0]['levels']} dependency levels; the portal stops {portal[0]['stopped']} and starts "
        f"{portal[0]['started']}.",
        "",
        "### Targets",
        "",
        f"- ≥ {WRITES_TARGET:g}× fewer writes: **{'met' if writes_ratio >= WRITES_TARGET else 'NOT met'}** "
        f"({f_writes:,.0f} / {p_writes:,.0f} = {writes_ratio:.1f}×)",
        f"- ≥ {TIME_TARGET:g}× less wall time: **{'met' if time_ratio >= TIME_TARGET else 'NOT met'}** "
        f"({f_wall:.2f} s / {p_wall:.2f} s = {time_ratio:.1f}×; {time_ratio_open:.1f}× if opening the workspace "
        "is counted too)",
        "",
        "Rerun: `PYTHONPATH=src python3 bench/bench_deploy.py` (about 80 s on 2 cores; `--no-write` prints "
        "without updating this file; "
        "also `--repeat N`, `--resources N`, `--changed N`, `--latency-ms N`, `--baseline-parallelism N`, "
        "`--profile`).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--changed", type=int, default=10, help="objects changed per run (default 10)")
    parser.add_argument("--latency-ms", type=int, default=20, help="sandbox latency per call (default 20)")
    parser.add_argument("--parallelism", type=int, default=4, help="deploy.parallelism of the environment")
    parser.add_argument(
        "--baseline-parallelism",
        type=int,
        default=4,
        help="PUTs at a time in the full redeploy (default 4, as the portal)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--profile", action="store_true", help="cProfile the first portal run and print it")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args(argv)
    result = bench(args)
    text = report(result, args)
    if result["profile"]:
        print("\ncProfile of the first portal plan + apply (cumulative):\n" + result["profile"])
    publish("bench_deploy", text, SECTION_HEADING, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
