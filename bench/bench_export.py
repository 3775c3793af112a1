"""Benchmark of the ARM export against a json-only baseline.

    PYTHONPATH=src python3 bench/bench_export.py            # full run, updates bench/RESULTS.md
    PYTHONPATH=src python3 bench/bench_export.py --no-write # print only

Inputs: the real factory `../shared/adf-corpus/bilatam__BPBI/source` (factory DFPRPBI-dev) and a generated
10,000-resource factory (bench/generate_factory.py, in a temporary folder).

Measurements, each in a fresh subprocess (`--one portal|baseline`) so that peak memory is its own:
- portal: `export_to_folder(...)` = read + parse + export + write the files to a new temporary folder.
- baseline: read the bytes of every source JSON file and `json.loads` it, then `json.dumps(doc, indent="\t",
  ensure_ascii=False)` every output document of the export and write it. The output documents are loaded from
  a reference export (`json.loads` of each file, before timing), so the baseline does the minimum any exporter
  must do: parse the input, serialize the same output.
Timings are the median of `--repeat` runs (interleaved; `--repeat-small` runs for the sub-second real factory);
peak RSS (`ru_maxrss`) is the maximum over the runs.
A tracemalloc peak (Python allocations only) is taken in the untimed warm-up run, since tracemalloc slows the run
it traces; by default only for the real factory (`--tracemalloc-on all` for the generated one too, ~70 s more).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import (  # bench/ is the script's folder, so on sys.path
    publish,
    run_header,
)

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR.parent
SRC = PROJECT / "src"
REAL_FACTORY = PROJECT / ".." / "shared" / "adf-corpus" / "bilatam__BPBI" / "source"
REAL_FACTORY_NAME = "DFPRPBI-dev"
GENERATED_RESOURCES = 10_000
RATIO_TARGET = 2.0
MEMORY_TARGET_MB = 500.0


# ---------------------------------------------------------------------------------------------------------------
# One measurement (runs in its own process)
# ---------------------------------------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    # Linux reports kilobytes; macOS bytes.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _source_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath, f) for f in sorted(filenames) if f.lower().endswith(".json"))
    return files


def _output_files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in _source_files(root)}


def run_portal(source: Path, out_dir: Path, factory_name: str | None) -> dict:
    sys.path.insert(0, str(SRC))
    from portal.adf import export_to_folder  # imported before timing

    start = time.perf_counter()
    result = export_to_folder(source, out_dir, factory_name=factory_name)
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "files": len(result.files),
        "resources": len(result.export.resources),
        "parameters": len(result.export.parameters),
    }


def run_baseline(source: Path, out_dir: Path, reference: Path) -> dict:
    # Untimed: the output documents, as the export produced them.
    outputs = [(rel, json.loads(path.read_bytes().decode("utf-8"))) for rel, path in _output_files(reference).items()]

    start = time.perf_counter()
    parsed = []
    for path in _source_files(source):
        parsed.append(json.loads(path.read_bytes().decode("utf-8-sig")))
    made: set[Path] = set()
    for rel, document in outputs:
        target = out_dir / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_bytes(json.dumps(document, indent="\t", ensure_ascii=False).encode("utf-8"))
    wall = time.perf_counter() - start
    return {"wall": wall, "files": len(outputs), "sources": len(parsed)}


def one(args: argparse.Namespace) -> int:
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    out_dir = Path(args.out)
    if args.one == "portal":
        info = run_portal(Path(args.input), out_dir, args.factory_name)
    else:
        info = run_baseline(Path(args.input), out_dir, Path(args.reference))
    info["rss_mb"] = _peak_rss_mb()
    if args.tracemalloc:
        info["tracemalloc_mb"] = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
        tracemalloc.stop()
    if args.one == "baseline" and args.check:
        # After the measurement: the baseline must have written exactly the export's bytes.
        ref = _output_files(Path(args.reference))
        mine = _output_files(out_dir)
        info["identical"] = ref.keys() == mine.keys() and all(ref[k].read_bytes() == mine[k].read_bytes() for k in ref)
    print(json.dumps(info))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------------------------


def _measure(
    mode: str,
    source: Path,
    work: Path,
    factory_name: str | None,
    reference: Path | None = None,
    tracemalloc: bool = False,
    check: bool = False,
    keep: bool = False,
) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=work)) / "out"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", mode, "--input", str(source), "--out", str(out)]
    if factory_name:
        cmd += ["--factory-name", factory_name]
    if reference is not None:
        cmd += ["--reference", str(reference)]
    if tracemalloc:
        cmd.append("--tracemalloc")
    if check:
        cmd.append("--check")
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measurement failed: {' '.join(cmd)}\n{done.stderr}")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    if keep:
        info["out"] = str(out)  # kept as the reference export
    else:
        shutil.rmtree(out.parent, ignore_errors=True)
    return info


def _size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in _source_files(root)) / (1024 * 1024)


def bench(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="adf-bench-"))
    try:
        generated = work / "generated"
        started = time.perf_counter()
        sys.path.insert(0, str(BENCH_DIR))
        from generate_factory import FACTORY_NAME, generate_factory

        counts = generate_factory(generated, args.resources, seed=args.seed)
        print(f"generated {sum(counts.values())} objects in {time.perf_counter() - started:.1f} s", flush=True)

        inputs = []
        real = REAL_FACTORY.resolve()
        if real.is_dir():
            inputs.append(
                {"label": f"bilatam__BPBI ({REAL_FACTORY_NAME})", "source": real, "factory_name": REAL_FACTORY_NAME}
            )
        else:
            print(f"skipping the real factory: {real} does not exist", file=sys.stderr)
        inputs.append(
            {
                "label": f"generated ({args.resources:,} resources, seed {args.seed})",
                "source": generated,
                "factory_name": FACTORY_NAME,
            }
        )

        for item in inputs:
            item["portal"], item["baseline"] = [], []
            item["input_files"] = len(_source_files(item["source"]))
            item["input_mb"] = _size_mb(item["source"])
            # Warm-up runs, not timed: the reference export (the baseline's output documents), the check that
            # the baseline writes the same bytes, and the tracemalloc peaks (tracemalloc slows what it traces).
            # They also warm the page cache for the timed runs.
            tm = args.tracemalloc_on == "all" or (args.tracemalloc_on == "real" and item["source"] != generated)
            ref = _measure("portal", item["source"], work, item["factory_name"], keep=True, tracemalloc=tm)
            item["reference"] = Path(ref["out"])
            item["resources"], item["files"], item["parameters"] = ref["resources"], ref["files"], ref["parameters"]
            item["output_mb"] = _size_mb(item["reference"])
            check = _measure("baseline", item["source"], work, None, item["reference"], check=True, tracemalloc=tm)
            item["identical"] = check["identical"]
            if tm:
                item["portal_tracemalloc"] = ref["tracemalloc_mb"]
                item["baseline_tracemalloc"] = check["tracemalloc_mb"]

        # Sub-second runs are noisier: the real factory gets more of them (they cost about a second each).
        for item in inputs:
            item["runs"] = args.repeat if item["source"] == generated else max(args.repeat, args.repeat_small)
        for rep in range(max(item["runs"] for item in inputs)):
            for item in inputs:
                if rep >= item["runs"]:
                    continue
                for mode in ("portal", "baseline"):
                    ref = item["reference"] if mode == "baseline" else None
                    info = _measure(mode, item["source"], work, item["factory_name"], ref)
                    item[mode].append(info)
                    print(
                        f"  run {rep + 1}/{item['runs']} {item['label']:<45} {mode:<8} {info['wall']:7.2f} s "
                        f"{info['rss_mb']:7.1f} MB",
                        flush=True,
                    )

        for item in inputs:
            for mode in ("portal", "baseline"):
                item[f"{mode}_wall"] = statistics.median(r["wall"] for r in item[mode])
                item[f"{mode}_walls"] = [r["wall"] for r in item[mode]]
                item[f"{mode}_rss"] = max(r["rss_mb"] for r in item[mode])
            item["ratio"] = item["portal_wall"] / item["baseline_wall"]
        return {"inputs": inputs, "counts": counts, "total": time.perf_counter() - started}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fmt_runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def report(result: dict, args: argparse.Namespace) -> str:
    inputs = result["inputs"]
    lines = [
        *run_header(),
        f"Runs: median of {args.repeat} timings per measurement ({max(args.repeat, args.repeat_small)} for the "
        f"sub-second real factory), each in a fresh subprocess; peak RSS is the "
        f"maximum over the runs; the benchmark took {result['total']:.0f} s in all. The baseline's peak RSS "
        "includes the output documents it loads before timing.",
        "",
    ]
    generated = inputs[-1]
    ratio_ok = all(i["ratio"] <= RATIO_TARGET for i in inputs)
    memory_ok = generated["portal_rss"] < MEMORY_TARGET_MB
    for item in inputs:
        lines += [
            f"### {item['label']}",
            "",
            f"{item['resources']:,} ARM resources from {item['input_files']:,} source files "
            f"({item['input_mb']:.1f} MB) → {item['files']} output files ({item['output_mb']:.1f} MB), "
            f"{item['parameters']:,} template parameters. "
            f"Baseline output byte-identical to the export: {'yes' if item['identical'] else 'NO'}.",
            "",
            "| measurement | resources | median time (s) | runs (s) | peak RSS (MB) | tracemalloc peak (MB) |",
            "|---|---:|---:|---|---:|---:|",
        ]
        for mode, what in (
            ("portal", "portal `export_to_folder` (load + export + write)"),
            ("baseline", "baseline (json.loads sources + json.dumps outputs + write)"),
        ):
            tm = item.get(f"{mode}_tracemalloc")
            lines.append(
                f"| {what} | {item['resources']:,} | {item[f'{mode}_wall']:.2f} | {_fmt_runs(item[f'{mode}_walls'])} "
                f"| {item[f'{mode}_rss']:.0f} | {f'{tm:.0f}' if tm is not None else 'not measured'} |"
            )
        lines += [
            f"| **ratio portal / baseline** | | **{item['ratio']:.2f}** | | "
            f"{item['portal_rss'] / item['baseline_rss']:.2f}× | |",
            "",
        ]
    lines += [
        "### Targets",
        "",
        f"- ratio ≤ {RATIO_TARGET:g} on every input: **{'met' if ratio_ok else 'NOT met'}** ("
        + ", ".join(f"{i['label'].split(' (')[0]} {i['ratio']:.2f}" for i in inputs)
        + ")",
        f"- {args.resources:,} resources under {MEMORY_TARGET_MB:g} MB peak: **{'met' if memory_ok else 'NOT met'}** "
        f"({generated['portal_rss']:.0f} MB peak RSS)",
        "",
        "Rerun: `PYTHONPATH=src python3 bench/bench_export.py` (about 1.5 minutes on 2 cores; `--no-write` prints "
        "without updating this file; also `--repeat N`, `--resources N`, `--seed N`, `--tracemalloc-on all`). "
        "Generate a factory on its own with `python3 bench/generate_factory.py OUT_DIR --resources N`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--one", choices=("portal", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--factory-name", help=argparse.SUPPRESS)
    parser.add_argument("--reference", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--resources", type=int, default=GENERATED_RESOURCES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (default 3)")
    parser.add_argument(
        "--repeat-small",
        type=int,
        default=9,
        help="timed runs per measurement for the real (sub-second) factory (default 9)",
    )
    parser.add_argument(
        "--tracemalloc-on",
        choices=("none", "real", "all"),
        default="real",
        help="inputs whose warm-up run measures the tracemalloc peak (default: the real factory "
        "only; tracemalloc makes the 10,000-resource export about 5x slower)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args(argv)
    if args.one:
        return one(args)
    result = bench(args)
    text = report(result, args)
    publish("bench_export", text, "# ARM export benchmark", write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
