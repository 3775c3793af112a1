"""The portal's main journey in a real browser: the real Streamlit server (`streamlit run app.py`) on a fresh demo
repository, driven with Playwright in Debian's Chromium.

Edit a mapping (Parameters: one value of test, the diff, saved as a commit on a new branch) → plan and promote to
test (runs at once, with its steps) → request prod (waits for approval) → approve as another person (Rita) → it
runs → the audit trail lists the prod promotion's events (approved by Rita, finished).

On the way it takes a full-page screenshot of every page into docs/screenshots/ (the README's screenshots,
overwritten by every run) and the same files into this test's temporary folder (a failure adds `failure.png`
there, and the server's log is printed). The browser is Debian's Chromium, launched by path (Playwright's own
browser downloads are not needed): `chromium` on PATH, or PORTAL_TEST_CHROMIUM.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import git
import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
START_TIMEOUT = 90  # seconds: the server answers at once; the first page builds the demo
TIMEOUT_MS = 60_000  # a step (a plan, a run) may take a while on a slow machine
VIEWPORT = {"width": 1400, "height": 900}
TEST_SAMPLE = re.compile(r"sample percent$")  # Trigger TR_Daily → … → sample percent (test: 50)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _chromium() -> str:
    path = os.environ.get("PORTAL_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("the browser test needs Debian's Chromium (apt-get install chromium), or PORTAL_TEST_CHROMIUM")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The portal as users get it: `streamlit run app.py`, on a demo repository of its own (built at first use)."""
    work = tmp_path_factory.mktemp("browser")
    demo = work / "demo"
    log_path = work / "server.log"
    port = _free_port()
    env = dict(os.environ, PORTAL_DEMO_DIR=str(demo))
    for name in ("PORTAL_REPO", "PORTAL_AUDIT_URL"):
        env.pop(name, None)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer in {START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield {"url": url, "demo": demo, "log": log_path, "work": work}
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--headless=new"])
        yield chromium
        chromium.close()


class Portal:
    """One browser tab on the portal, with the few Streamlit idioms the journey needs."""

    def __init__(self, page, url: str, artifacts: Path):
        self.page = page
        self.url = url
        self.artifacts = artifacts
        self.main = page.locator('[data-testid="stMain"]')
        self.sidebar = page.locator('[data-testid="stSidebar"]')

    def settled(self) -> None:
        """The script run that the last action started has finished (the "running" widget is gone)."""
        self.page.wait_for_timeout(250)  # let the rerun start
        expect(self.page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=TIMEOUT_MS)

    def open(self, link: str, heading: str) -> None:
        self.sidebar.get_by_role("link", name=link, exact=True).click()
        expect(self.main.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        self.settled()

    def choose(self, scope, label: str, option: str) -> None:
        box = scope.get_by_role("combobox", name=label, exact=True)
        # After a rerun that moves widgets, Streamlit keeps the old element until the new tree is drawn; the
        # select box is there twice for a moment.
        expect(box).to_have_count(1)
        box.click()
        self.page.get_by_role("option", name=option, exact=True).click()
        self.settled()

    def press(self, button) -> None:
        """Click a button once it is there once: as with select boxes, a rerun keeps the old element for a moment,
        and a locator that finds two refuses to click."""
        expect(button).to_have_count(1)
        button.click()

    def cell(self, text: str):
        """A cell of a table (st.dataframe): the grid draws on a canvas, and keeps its cells in a hidden table for
        screen readers."""
        return self.main.locator('[data-testid="stDataFrame"]').get_by_role(
            "gridcell", name=text, exact=True, include_hidden=True
        )

    def screenshot(self, name: str) -> None:
        """The whole page: Streamlit scrolls inside its main block, not the document, so the viewport grows to the
        main block's height for the picture."""
        self.page.mouse.move(VIEWPORT["width"] // 2, 5)  # no hover tooltip or toolbar in the picture
        height = self.page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
        self.page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], height)})
        try:
            self.page.wait_for_timeout(400)  # the data grids redraw at the new size
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
            shutil.copy(SCREENSHOTS / f"{name}.png", self.artifacts / f"{name}.png")
        finally:
            self.page.set_viewport_size(VIEWPORT)


def test_edit_preview_promote_approve_and_audit_in_the_browser(server, browser, tmp_path):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    portal = Portal(page, server["url"], tmp_path)
    try:
        _journey(portal, server["demo"])
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        print(f"screenshots in {tmp_path}; the server's log:\n{server['log'].read_text()[-5000:]}")
        raise
    finally:
        context.close()


def _journey(portal: Portal, demo: Path) -> None:
    page, main, sidebar = portal.page, portal.main, portal.sidebar

    # --- the portal opens on the demo (built now), as Dana ---------------------------------------------------------
    page.goto(portal.url)
    expect(main.get_by_role("heading", name="Environments", exact=True)).to_be_visible(timeout=START_TIMEOUT * 1000)
    portal.settled()
    expect(sidebar.get_by_text("Not authenticated: demo mode.")).to_be_visible()
    expect(sidebar.get_by_role("combobox", name="Act as")).to_have_value("Dana, data engineer")
    expect(portal.cell("dev")).to_be_attached()

    # --- Parameters: change test's sample percent, see the diff, save as a commit on a new branch ------------------
    portal.open("Parameters", "Parameters")
    portal.choose(main, "Environment", "test")
    sample = main.get_by_role("spinbutton", name=TEST_SAMPLE)
    expect(sample).to_have_value("50")
    sample.fill("75")
    sample.press("Enter")
    portal.settled()
    expect(main.get_by_role("heading", name="Pending change")).to_be_visible()
    diff = main.locator('[data-testid="stCode"]').filter(has_text="test.parameters.json")
    expect(diff).to_contain_text('-            "value": 50')
    expect(diff).to_contain_text('+            "value": 75')
    portal.screenshot("parameters")
    portal.press(main.get_by_role("button", name="Save as a commit"))
    saved = main.get_by_text(re.compile(r"^Committed \w{10} on branch params/test-\d{8}-\d{6} as Dana"))
    expect(saved).to_be_visible()
    branch = re.search(r"on branch (\S+)", saved.inner_text()).group(1)
    with git.Repo(demo) as repo:  # the commit is on the new branch; main is untouched
        assert repo.heads[branch].commit.parents[0] == repo.heads.main.commit
        assert (
            '"value": 75'
            in repo.heads[branch].commit.tree["environments/test.parameters.json"].data_stream.read().decode()
        )
    expect(main.get_by_role("spinbutton", name=TEST_SAMPLE)).to_have_value("50")  # the form starts again

    # --- Templates ---------------------------------------------------------------------------------------------------
    portal.open("Templates", "Templates")
    expect(main.get_by_text("Linked templates:", exact=True)).to_be_visible()
    expect(main.locator('[data-testid="stCode"]').first).to_contain_text("deploymentTemplate.json#")
    portal.screenshot("templates")

    # --- Promote: plan test, request: it runs at once ------------------------------------------------------------
    portal.open("Promote", "Promote")
    portal.choose(main, "Target environment", "test")
    portal.press(main.get_by_role("button", name="Plan"))
    expect(main.get_by_text(re.compile(r"^Plan \w{12} for test"))).to_be_visible()
    portal.settled()
    expect(main.get_by_role("button", name=re.compile("^Request promotion$"))).to_be_enabled()
    portal.press(main.get_by_role("button", name=re.compile("^Request promotion$")))
    done = main.get_by_text(re.compile(r"^promotion \w+ to test succeeded: 28 deployed"))
    expect(done).to_be_visible()
    portal.settled()
    main.get_by_text("Steps of the run").click()  # the progress the run showed, kept with the outcome
    expect(main.get_by_text(re.compile(r"deploy 28/28"))).to_be_visible()
    expect(main.get_by_text(re.compile(r"start triggers 2/2"))).to_be_visible()

    portal.press(main.get_by_role("button", name="Dismiss"))
    expect(done).to_have_count(0)
    portal.settled()

    # --- Promote: plan prod, request: it waits for an approval ----------------------------------------------------
    portal.choose(main, "Target environment", "prod")
    portal.press(main.get_by_role("button", name="Plan"))
    expect(main.get_by_text(re.compile(r"^Plan \w{12} for prod"))).to_be_visible()
    portal.settled()
    portal.screenshot("promote-plan")
    portal.press(main.get_by_role("button", name=re.compile("^Request promotion$")))
    waiting = main.get_by_text(re.compile(r"^Promotion \w+ of snapshot \w+ to prod waits for approval"))
    expect(waiting).to_be_visible()
    promotion_id = re.match(r"Promotion (\w+)", waiting.inner_text()).group(1)
    portal.settled()
    expect(
        main.get_by_text(re.compile(rf"^prod ← snapshot .* requested by dana@retail\.example .*· {promotion_id}$"))
    ).to_be_visible()  # in the list of what waits
    expect(main.get_by_text("You requested this promotion: another person must approve it.")).to_be_visible()

    # The Environments page lists what waits (and shows dev and test deployed).
    portal.open("Environments", "Environments")
    expect(
        main.get_by_text(re.compile(rf"prod ← snapshot .*requested by dana@retail\.example.*{promotion_id}"))
    ).to_be_visible()
    portal.screenshot("environments")

    # --- Rita approves; the approval runs it --------------------------------------------------------------------
    portal.open("Promote", "Promote")
    portal.choose(sidebar, "Act as", "Rita, release manager")
    expect(main.get_by_text("You requested this promotion")).to_have_count(0)
    portal.press(main.get_by_role("button", name=re.compile("^Approve$")))
    expect(main.get_by_text(re.compile(rf"^promotion {promotion_id} to prod succeeded: 28 deployed"))).to_be_visible()
    portal.settled()
    expect(main.get_by_text("No promotion waits for approval.")).to_be_visible()
    main.get_by_text("Steps of the run").click()
    expect(main.get_by_text(re.compile(r"deploy 28/28"))).to_be_visible()
    portal.screenshot("promote-approved")

    # --- Audit: the prod promotion's trail, through the link the outcome carries --------------------------------
    main.get_by_role("link", name=f"Audit trail of promotion {promotion_id}").click()
    expect(main.get_by_role("heading", name="Audit trail", exact=True)).to_be_visible()
    portal.settled()
    expect(main.get_by_role("textbox", name="Promotion", exact=True)).to_have_value(promotion_id)
    expect(main.get_by_text(re.compile(r"^\d+ matching events; 1–\d+ shown, newest first\.$"))).to_be_visible()
    expect(
        main.get_by_text(
            re.compile(
                rf"^promotion finished · .* · rita@retail\.example \(unverified\) · prod · "
                rf"promotion {promotion_id}$"
            )
        )
    ).to_be_visible()
    expect(portal.cell("promotion finished")).to_be_attached()
    portal.screenshot("audit")
    portal.choose(main, "Kind", "promotion approved")
    expect(main.get_by_text("1 matching events; 1–1 shown, newest first.")).to_be_visible()
    expect(portal.cell("promotion approved")).to_be_attached()
    expect(portal.cell("rita@retail.example (unverified)")).to_be_attached()
    expect(
        main.get_by_text(
            re.compile(
                rf"^promotion approved · .* · rita@retail\.example \(unverified\) · prod · "
                rf"promotion {promotion_id}$"
            )
        )
    ).to_be_visible()
    portal.choose(main, "Kind", "promotion requested")
    expect(portal.cell("dana@retail.example (unverified)")).to_be_attached()
