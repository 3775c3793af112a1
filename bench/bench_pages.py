"""Benchmark of the portal's pages: time to first render of each page on the demo with 100,000 audit events and a
1,000-object factory (target: at most 1 s each).

    .venv/bin/python bench/bench_pages.py               # full run, updates bench/RESULTS.md
    .venv/bin/python bench/bench_pages.py --no-write    # print only
    .venv/bin/python bench/bench_pages.py --no-browser  # AppTest only (no Streamlit server, no Chromium)

Set-up (untimed), in a temporary folder: the demo repository (`portal.demo.create_demo`: retail factory, notebooks,
dev / test / prod on the embedded sandbox), extended to `--objects` objects with bench/generate_factory.py (its
objects copied into the demo's `adf/`, beside the demo's own; the generated factory file and its LS_KeyVault are
left out, the demo has its own); every value an environment then lacks (the generated linked services' secrets)
given a Key Vault reference; committed on main. Then, through the core as a user would: dev and test promoted (1,000
objects each into the sandbox), and prod requested (it waits for an approval). Last, `--events` audit events
appended with `store.append_many` in batches of 1,000: synthetic promotions (requested; approved by Rita for prod;
started; one step event per changed object and per phase; finished, 5 % failed), parameter edits and refused
actions, by Dana, Rita, Omar and a CI service principal, over dev / test / prod.

Timed, with Streamlit's AppTest (the whole app: app.py with its navigation, then the page; no browser), each in
its own subprocess so that nothing of the set-up is imported or cached:
- warm: the realistic case. The process has imported everything and the pages' caches (`st.cache_resource`: the
  opened Promotions, the MappingWorkspace per main commit, the ARM export, the rendered environments) are filled by
  an earlier session, as in a Streamlit server that is up. A new session (a new AppTest) runs the app once (landing
  on Environments); then `at.switch_page(page).run()` is timed.
- caches empty: the same, with `st.cache_resource` and `st.cache_data` cleared just before the timed run: the first
  visit of a page after the server started, or after the main branch moved (the workspace caches are per commit).
- cold process: a fresh Python process: import Streamlit, `AppTest.from_file("app.py")`, `switch_page(page)`, run;
  timed from before the Streamlit import to the rendered page (the portal's imports happen in the run). A Streamlit
  server pays the Streamlit import once at its start, not per page; the import alone is reported apart.
- browser (unless `--no-browser`, and only where Chromium is found): the real server (`streamlit run app.py`) on the
  same repository, already warm (each page visited once); a new browser context per measurement (a new session)
  opens the page's URL; timed until the page's last element is in the page and the script run has finished.
Every timing is the median of `--repeat` runs (default 3). Each timed run must render without exception and without
an error message, or the benchmark stops.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR.parent
SRC = PROJECT / "src"
APP = PROJECT / "app.py"
TARGET_S = 1.0
SECTION_HEADING = "# Portal pages benchmark: first render on the demo with 100k audit events and a 1,000-object factory"
# page file → (title, the last element the page's script draws: (role, name) for the browser timing)
PAGES = {
    "pages/environments.py": ("Environments", ("link", "Review, approve or reject on the Promote page")),
    "pages/parameters.py": (
        "Parameters",
        ("text", "Give a property path (or pick a rule to remove) to see which parameters it yields."),
    ),
    "pages/templates.py": ("Templates", ("button", "Download the export as a zip")),
    "pages/promote.py": ("Promote", ("button", "Reject")),
    "pages/audit.py": ("Audit trail", ("button", "Prepare export")),
}
PEOPLE = [
    ("dana@retail.example", False),
    ("omar@retail.example", False),
    ("rita@retail.example", False),
    ("svc-release-pipeline@retail.example", True),
]

for _path in (str(SRC), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)


# ---------------------------------------------------------------------------------------------------------------
# Set-up (untimed)
# ---------------------------------------------------------------------------------------------------------------


def set_up(root: Path, objects: int, events: int, seed: int) -> dict[str, Any]:
    import git
    from generate_factory import generate_factory

    from portal.environments.workspace import MappingWorkspace
    from portal.errors import ErrorCode
    from portal.promotion.identity import Identity
    from portal.promotion.service import AWAITING_APPROVAL, SUCCEEDED, Promotions
    from portal.usecases.demo import create_demo
    from portal.usecases.promotions import promote

    began = time.perf_counter()
    create_demo(root)
    adf = root / "adf"
    demo_objects = sum(1 for p in adf.rglob("*.json") if p.parent != adf and p.parent.name != "factory")
    generated = root.parent / "generated"
    # The generated LS_KeyVault is left out (the demo has one): one more generated object makes up for it.
    generate_factory(generated, objects - demo_objects + 1, seed=seed)
    for path in sorted(generated.rglob("*.json")):
        relative = path.relative_to(generated)
        if relative.parts[0] == "factory" or (adf / relative).exists():
            continue
        (adf / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, adf / relative)
    shutil.rmtree(generated)
    total_objects = sum(1 for p in adf.rglob("*.json") if p.parent != adf and p.parent.name != "factory")

    # The values the environments now lack: the generated linked services' secrets, from each one's Key Vault.
    workspace = MappingWorkspace.open(root)
    by_name = {p.name: p for p in workspace.export.parameters}
    for environment in workspace.config.environments:
        target = environment.data_factory
        vault = (
            f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}/providers/"
            f"Microsoft.KeyVault/vaults/kv-retail-{environment.name}"
        )
        path = root / environment.parameter_file_path
        document = json.loads(path.read_text(encoding="utf-8"))
        for finding in workspace.check(environment.name):
            if finding.code != ErrorCode.MISSING_VALUE:
                raise SystemExit(f"unexpected finding: {finding}")
            name = finding.where.rsplit(" → ", 1)[-1]
            document["parameters"][name] = (
                {"reference": {"keyVault": {"id": vault}, "secretName": name.replace("_", "-")}}
                if by_name[name].secure
                else {"value": "bench"}
            )
        path.write_text(json.dumps(document, indent=4) + "\n", encoding="utf-8")
    repo = git.Repo(root)
    repo.git.add(A=True)
    author = git.Actor("Dana", "dana@retail.example")
    repo.index.commit(f"{total_objects - demo_objects} more factory objects", author=author, committer=author)
    repo.close()
    workspace = MappingWorkspace.open(root)
    left = [str(f) for env in workspace.config.names for f in workspace.check(env)]
    if left:
        raise SystemExit("the environments still have findings:\n" + "\n".join(left))
    resources, parameters = len(workspace.export.resources), len(workspace.export.parameters)

    promotions = Promotions.open(root)
    try:
        promoted_at = time.perf_counter()
        dana = Identity("dana@retail.example", (), False, "demo picker")
        for environment in ("dev", "test"):
            done = promote(promotions, environment, dana)
            if done.status != SUCCEEDED:
                raise SystemExit(f"the promotion to {environment} {done.status}: {done.error}")
        waiting, _ = promotions.request("prod", dana)
        if waiting.status != AWAITING_APPROVAL:
            raise SystemExit(f"the promotion to prod is {waiting.status}, not waiting for approval")
        promoting = time.perf_counter() - promoted_at
        appending = time.perf_counter()
        own_events = promotions.store.count_events()
        _append_events(promotions.store, events, seed)
        appended = time.perf_counter() - appending
        total_events = promotions.store.count_events()
    finally:
        promotions.close()
    return {
        "objects": total_objects,
        "demo_objects": demo_objects,
        "resources": resources,
        "parameters": parameters,
        "events": total_events,
        "own_events": own_events,
        "promote_s": promoting,
        "append_s": appended,
        "setup_s": time.perf_counter() - began,
    }


def _synthetic_events(count: int, seed: int):
    """Events as the portal writes them, `count` of them: mostly whole promotions, a few edits and refusals."""
    from portal.audit import NewEvent

    rng = random.Random(seed)
    kinds = ("pipeline", "dataset", "linkedService", "trigger", "dataflow")
    made = 0
    while made < count:
        roll = rng.random()
        actor, verified = rng.choice(PEOPLE)
        environment = rng.choices(("dev", "test", "prod"), weights=(5, 3, 2))[0]
        if roll < 0.05:
            batch = [
                NewEvent(
                    "parameters edited",
                    actor,
                    verified,
                    environment,
                    summary=f"{rng.randint(1, 4)} values of {environment} on branch "
                    f"params/{environment}-{rng.randint(10**7, 10**8)}",
                    data={"branch": f"params/{environment}", "commit": f"{rng.getrandbits(160):040x}"},
                )
            ]
        elif roll < 0.07:
            batch = [
                NewEvent(
                    "action refused",
                    actor,
                    verified,
                    environment,
                    summary=f"{actor} may not approve in {environment}",
                    data={"action": "approve", "reason": "needs the role approver or admin"},
                )
            ]
        else:
            promotion, snapshot = f"{rng.getrandbits(48):012x}", f"{rng.getrandbits(64):016x}"
            requester, requester_verified = rng.choice([p for p in PEOPLE if p[0] != "rita@retail.example"])
            changed = rng.randint(1, 60)
            batch = [
                NewEvent(
                    "promotion requested",
                    requester,
                    requester_verified,
                    environment,
                    promotion,
                    snapshot,
                    f"snapshot {snapshot} (commit {rng.getrandbits(40):010x})",
                    {
                        "approvalsRequired": 1 if environment == "prod" else 0,
                        "plan": {"create": 0, "update": changed, "delete": 0},
                    },
                )
            ]
            runner, runner_verified = requester, requester_verified
            if environment == "prod":
                runner, runner_verified = "rita@retail.example", False
                batch.append(
                    NewEvent(
                        "promotion approved",
                        runner,
                        False,
                        environment,
                        promotion,
                        snapshot,
                        "approved (1 of 1)",
                        {"comment": "looks fine"},
                    )
                )
            batch.append(
                NewEvent(
                    "promotion started",
                    runner,
                    runner_verified,
                    environment,
                    promotion,
                    snapshot,
                    f"running snapshot {snapshot}",
                    {},
                )
            )
            for done in range(1, changed + 1):
                name = f"{rng.choice(kinds)} OBJ_{rng.randint(0, 999):05d}"
                batch.append(
                    NewEvent(
                        "promotion step",
                        runner,
                        runner_verified,
                        environment,
                        promotion,
                        snapshot,
                        f"[{done}/{changed}] deploy: {name}: deployed",
                        {
                            "done": done,
                            "kind": "object-done",
                            "message": "deployed",
                            "object": name,
                            "step": "deploy",
                            "total": changed,
                        },
                    )
                )
            failed = rng.random() < 0.05
            batch.append(
                NewEvent(
                    "promotion failed" if failed else "promotion finished",
                    runner,
                    runner_verified,
                    environment,
                    promotion,
                    snapshot,
                    "HttpResponseError: (throttled) retry later"
                    if failed
                    else f"{changed} deployed, 0 deleted, 0 triggers started, 0 notebooks imported, 0 pruned",
                    {"planHash": f"{rng.getrandbits(256):064x}"},
                )
            )
        for event in batch[: count - made]:
            made += 1
            yield event


def _append_events(store: Any, count: int, seed: int, batch_size: int = 1000) -> None:
    batch = []
    for event in _synthetic_events(count, seed):
        batch.append(event)
        if len(batch) == batch_size:
            store.append_many(batch)
            batch = []
    if batch:
        store.append_many(batch)


# ---------------------------------------------------------------------------------------------------------------
# The timed runs (in subprocesses: `--worker warm|cold`)
# ---------------------------------------------------------------------------------------------------------------


def _navigation_only() -> None:
    """AppTest 1.67 resets PagesManager.uses_pages_directory before every run, so with a pages/ folder beside
    app.py a run after the first would execute the page file alone (skipping app.py). A served app sets it to False
    for good at its first st.navigation call; so do we (as tests/test_pages_promotion.py does)."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init


def _checked(at: Any, page: str, shown: dict[str, list[str]] | None = None) -> None:
    """The page rendered (its title, no exception); the error messages it shows are kept for the report (the
    Templates page rightly reports ARM's resource limit for a 1,000-object factory)."""
    title = PAGES[page][0]
    problems = [e.value for e in at.exception]
    if problems or [t.value for t in at.title] != [title]:
        raise SystemExit(f"{page} did not render: titles {[t.value for t in at.title]}, {problems}")
    if shown is not None:
        shown[page] = [e.value for e in at.error]


def worker_warm(repeat: int) -> dict[str, Any]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    _navigation_only()

    def session() -> Any:
        at = AppTest.from_file(str(APP), default_timeout=300)
        at.run()  # a new session: the app ran once, landing on Environments
        _checked(at, "pages/environments.py")
        return at

    shown: dict[str, list[str]] = {}
    for page in PAGES:  # the server has been up: every page's caches are filled
        _checked(session().switch_page(page).run(), page, shown)
    warm: dict[str, list[float]] = {page: [] for page in PAGES}
    empty: dict[str, list[float]] = {page: [] for page in PAGES}
    for _ in range(repeat):
        for page in PAGES:
            at = session()
            started = time.perf_counter()
            at.switch_page(page).run()
            warm[page].append(time.perf_counter() - started)
            _checked(at, page)
    for _ in range(repeat):  # after the warm runs: clearing leaves the caches partly empty
        for page in PAGES:
            at = session()
            st.cache_resource.clear()
            st.cache_data.clear()
            started = time.perf_counter()
            at.switch_page(page).run()
            empty[page].append(time.perf_counter() - started)
            _checked(at, page)
    return {"warm": warm, "empty": empty, "shown": shown}


def worker_cold(page: str) -> dict[str, Any]:
    started = time.perf_counter()
    from streamlit.testing.v1 import AppTest

    imported = time.perf_counter()
    _navigation_only()
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.switch_page(page).run()
    done = time.perf_counter()
    _checked(at, page)
    return {"total": done - started, "import": imported - started, "run": done - imported}


def _worker(root: Path, *args: str) -> dict[str, Any]:
    env = dict(os.environ, PORTAL_DEMO_DIR=str(root), PYTHONPATH=os.pathsep.join([str(SRC), str(BENCH_DIR)]))
    for name in ("PORTAL_REPO", "PORTAL_AUDIT_URL"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"worker {args} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------------
# The real server in Chromium (optional)
# ---------------------------------------------------------------------------------------------------------------


def _chromium() -> str | None:
    path = os.environ.get("PORTAL_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).exists() else None


def measure_browser(root: Path, repeat: int, chromium: str) -> dict[str, dict[str, list[float]]]:
    from playwright.sync_api import expect, sync_playwright

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PORTAL_DEMO_DIR=str(root))
    for name in ("PORTAL_REPO", "PORTAL_AUDIT_URL"):
        env.pop(name, None)
    with open(root.parent / "server.log", "wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(APP),
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                        if answer.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the Streamlit server did not start: see " + str(root.parent / "server.log"))
                time.sleep(0.2)
            opened: dict[str, list[float]] = {page: [] for page in PAGES}
            navigated: dict[str, list[float]] = {page: [] for page in PAGES}
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--headless=new"])

                def rendered(tab: Any, page_file: str, started: float) -> float:
                    """Seconds from `started` until the page's last element is there and its script run finished."""
                    title, (role, name) = PAGES[page_file]
                    main = tab.locator('[data-testid="stMain"]')
                    last = (
                        main.get_by_text(name, exact=True)
                        if role == "text"
                        else main.get_by_role(role, name=name, include_hidden=True)
                    )  # hidden: in a tab not shown
                    expect(last.first).to_be_attached(timeout=120_000)
                    expect(tab.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=120_000)
                    elapsed = time.perf_counter() - started
                    expect(main.get_by_role("heading", name=title, exact=True)).to_be_visible()
                    if main.locator('[data-testid="stException"]').count():
                        raise SystemExit(f"{page_file} shows an exception in the browser")
                    return elapsed

                def open_url(page_file: str) -> float:
                    """A new session: a new browser context (no cached assets) opens the page's URL."""
                    path = "" if page_file == "pages/environments.py" else Path(page_file).stem
                    context = browser.new_context(viewport={"width": 1400, "height": 900})
                    try:
                        tab = context.new_page()
                        started = time.perf_counter()
                        tab.goto(f"{url}/{path}")
                        return rendered(tab, page_file, started)
                    finally:
                        context.close()

                for page_file in PAGES:  # warm the server: every page once
                    open_url(page_file)
                for _ in range(repeat):
                    for page_file in PAGES:
                        opened[page_file].append(open_url(page_file))
                # An open session moving between pages with the sidebar, each page from the one before it.
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                tab = context.new_page()
                tab.goto(url)
                rendered(tab, "pages/environments.py", time.perf_counter())
                order = [*list(PAGES)[1:], "pages/environments.py"]
                sidebar = tab.locator('[data-testid="stSidebar"]')
                for _ in range(repeat):
                    for page_file in order:
                        link = "Audit" if page_file == "pages/audit.py" else PAGES[page_file][0]
                        started = time.perf_counter()
                        sidebar.get_by_role("link", name=link, exact=True).click()
                        navigated[page_file].append(rendered(tab, page_file, started))
                context.close()
                browser.close()
            return {"open": opened, "navigate": navigated}
        finally:
            try:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=15)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------------------------
# Run and report
# ---------------------------------------------------------------------------------------------------------------


def bench(args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    try:
        root = work / "demo"
        print(f"set-up in {root} …", flush=True)
        setup = set_up(root, args.objects, args.events, args.seed)
        print(
            f"  {setup['objects']} objects ({setup['resources']} ARM resources, {setup['parameters']} parameters), "
            f"{setup['events']:,} audit events; {setup['setup_s']:.0f} s",
            flush=True,
        )
        print("warm and caches-empty runs (AppTest) …", flush=True)
        warm = _worker(root, "warm", str(args.repeat))
        cold: dict[str, list[dict[str, float]]] = {page: [] for page in PAGES}
        print("cold processes (AppTest) …", flush=True)
        for _ in range(args.repeat):
            for page in PAGES:
                cold[page].append(_worker(root, "cold", page))
        browser = None
        chromium = None if args.no_browser else _chromium()
        if chromium:
            print("the real server in Chromium …", flush=True)
            browser = measure_browser(root, args.repeat, chromium)
        elif not args.no_browser:
            print("no Chromium found: the browser timing is left out", flush=True)
        return {
            "setup": setup,
            "warm": warm["warm"],
            "empty": warm["empty"],
            "shown": warm["shown"],
            "cold": cold,
            "browser": browser,
            "total_s": time.perf_counter() - began,
        }
    finally:
        if args.keep:
            print(f"kept {work} (the repository is {work / 'demo'})", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    setup, browser = result["setup"], result["browser"]
    median = statistics.median
    from results_file import run_header

    lines = [
        *run_header(),
        f"Runs: median of {args.repeat} per page and measurement; the benchmark took {result['total_s']:.0f} s in all "
        f"(set-up {setup['setup_s']:.0f} s).",
        "",
        f"Data: the demo repository with {setup['objects']:,} factory objects ({setup['demo_objects']} of the demo, "
        f"the rest from bench/generate_factory.py seed {args.seed}; {setup['resources']:,} ARM resources, "
        f"{setup['parameters']} template parameters); dev and test promoted ({setup['objects']:,} objects each into "
        f"the sandbox, {setup['promote_s']:.0f} s), prod waiting for approval; {setup['events']:,} audit events "
        f"({setup['events'] - setup['own_events']:,} appended with `append_many` in batches of 1,000 in "
        f"{setup['append_s']:.1f} s).",
        "",
        "| page | warm (s) | caches empty (s) | cold process (s) | browser: open URL (s) | browser: sidebar link (s) "
        f"| warm ≤ {TARGET_S:g} s |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for page, (title, _) in PAGES.items():
        warm, empty = median(result["warm"][page]), median(result["empty"][page])
        cold = median(r["total"] for r in result["cold"][page])
        opened = f"{median(browser['open'][page]):.2f}" if browser else "—"
        navigated = f"{median(browser['navigate'][page]):.2f}" if browser else "—"
        lines.append(
            f"| {title} | {warm:.2f} | {empty:.2f} | {cold:.2f} | {opened} | {navigated} | "
            f"{'met' if warm <= TARGET_S else '**NOT met**'} |"
        )
    met = [title for page, (title, _) in PAGES.items() if median(result["warm"][page]) <= TARGET_S]
    missed = [title for title, _ in PAGES.values() if title not in met]
    imports = [r["import"] for runs in result["cold"].values() for r in runs]
    lines += [
        "",
        "### Target",
        "",
        f"- first render ≤ {TARGET_S:g} s in a warm server process (the *warm* column): "
        f"**{len(met)} of {len(PAGES)} pages met**" + (f"; not met: {', '.join(missed)}" if missed else ""),
        "",
        "### What is timed",
        "",
        "- *warm*: AppTest, a new session in a process whose caches an earlier session filled (as a server that is "
        "up); the app ran once, landing on Environments, then `switch_page(page).run()` is timed.",
        "- *caches empty*: the same after `st.cache_resource.clear()` and `st.cache_data.clear()`: the first visit "
        "after the server started, or after the main branch moved (the workspace caches are per commit).",
        "- *cold process*: AppTest in a fresh interpreter, from importing Streamlit to the rendered page (the "
        f"portal's imports happen in the run; importing Streamlit's AppTest alone: median {median(imports):.2f} s, "
        "which a server pays once at its start).",
        "- *browser*: `streamlit run app.py` on the same repository, each page visited once before; Chromium "
        "(headless, on the same machine) until the page's last element is in the page and its script run finished. "
        "*open URL*: a new browser context (a new session, nothing cached: the page's assets load too) opens the "
        "page's address. *sidebar link*: an open session clicks the page in the sidebar (from the page before it).",
        "",
        "Runs (s):",
        "",
    ]
    for page, (title, _) in PAGES.items():
        lines.append(
            f"- {title}: warm {_runs(result['warm'][page])}; caches empty {_runs(result['empty'][page])}; "
            f"cold {_runs([r['total'] for r in result['cold'][page]])}"
            + (
                f"; open URL {_runs(browser['open'][page])}; sidebar link {_runs(browser['navigate'][page])}"
                if browser
                else ""
            )
        )
    shown = [f"{PAGES[page][0]}: " + "; ".join(texts) for page, texts in result["shown"].items() if texts]
    if shown:
        lines += [
            "",
            "Error messages the pages show on this data (expected, not failures of the benchmark): "
            + " ".join(text if text.endswith(".") else text + "." for text in shown),
        ]
    lines += [
        "",
        "Rerun: `.venv/bin/python bench/bench_pages.py` (about 5 minutes on 2 cores; `--no-write` prints without "
        "updating this file; also `--repeat N`, `--objects N`, `--events N`, `--seed N`, `--no-browser`, `--keep`).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1000, help="factory objects in all (default 1000)")
    parser.add_argument("--events", type=int, default=100_000, help="audit events to append (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per page (default 3)")
    parser.add_argument("--no-browser", action="store_true", help="leave out the timing in Chromium")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (the repository) afterwards")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, *rest = args.worker
        result = worker_warm(int(rest[0])) if kind == "warm" else worker_cold(rest[0])
        print(json.dumps(result))
        return 0
    result = bench(args)
    text = report(result, args)
    from results_file import publish

    publish("bench_pages", text, SECTION_HEADING, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
