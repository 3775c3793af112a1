"""Audited promotions: order, roles, approvals, locks, interruption, rollback, audit trail — on SQLite and on the
PostgreSQL server at 127.0.0.1:5432, with the deploys going through the real SDK to the sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy

from portal.cli import main
from portal.errors import PortalError
from portal.promotion.identity import Identity
from portal.promotion.service import (
    AWAITING_APPROVAL,
    REJECTED,
    SUCCEEDED,
    Promotions,
)
from portal.promotion.summary import PlanSummary
from portal.sandbox import Faults, sandbox_for
from portal.usecases import promotions as flow
from portal.usecases.promotions import promote, rollback
from tests.mapping_repo import commit_all, sandbox_repo, write_json

SUBS = {
    "dev": "11111111-1111-1111-1111-111111111111",
    "test": "22222222-2222-2222-2222-222222222222",
    "prod": "33333333-3333-3333-3333-333333333333",
}
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parents[1]

ALICE = Identity("alice@retail.example", ("data-engineers",), True, "test")
BOB = Identity("bob@retail.example", ("release-managers",), True, "test")
CAROL = Identity("carol@retail.example", ("release-managers",), True, "test")
VIEWER = Identity("victor@retail.example", ("readers",), True, "test")
ADMIN = Identity("ada@retail.example", ("platform-admins",), True, "test")


def config(expiry_hours: float = 72, lease: float = 300) -> str:
    lines = [
        "version: 1",
        "adf:",
        "  root_folder: adf",
        "promotion:",
        f"  lock_lease_seconds: {lease}",
        "access:",
        "  roles:",
        "    '*':",
        "      viewer: ['*']",
        "      promoter: ['group:data-engineers']",
        "      admin: ['group:platform-admins']",
        "    prod:",
        "      approver: ['group:release-managers']",
        "environments:",
    ]
    for env in ("dev", "test", "prod"):
        lines += [
            f"  - name: {env}",
            "    data_factory:",
            f"      subscription_id: {SUBS[env]}",
            f"      resource_group: rg-{env}",
            f"      factory_name: adf-sales-{env}",
            "      location: westeurope",
            "      auth: sandbox",
            "      sandbox: .sandbox",
        ]
        if env == "prod":
            lines += ["    protection:", "      approvals_required: 1", f"      approval_expiry_hours: {expiry_hours}"]
    return "\n".join(lines) + "\n"


def describe_pipeline(root: Path, text: str) -> str:
    path = root / "adf" / "pipeline" / "PL_Load.json"
    document = json.loads(path.read_text())
    document["properties"]["description"] = text
    write_json(path, document)
    return commit_all(root, f"PL_Load: {text}")


def _postgres_schema() -> str:
    engine = sqlalchemy.create_engine(PG_URL)
    try:
        schema = f"promo_{uuid.uuid4().hex[:12]}"
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
        return schema
    except sqlalchemy.exc.OperationalError:
        if os.environ.get("CI"):
            raise
        pytest.skip("PostgreSQL is not running at 127.0.0.1:5432")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    parameters = {}
    for env, sub in SUBS.items():
        kv = {
            "reference": {
                "keyVault": {
                    "id": f"/subscriptions/{sub}/resourceGroups/rg-{env}/providers/Microsoft.KeyVault/vaults/kv-{env}"
                },
                "secretName": "lake-key",
            }
        }
        parameters[env] = {"LS_Lake_accountKey": kv, "LS_Sql_connectionString": kv}
    root = sandbox_repo(tmp_path / "data", config(), parameters)
    server = sandbox_for(root / ".sandbox")
    for env, sub in SUBS.items():
        server.client(sub).factories.create_or_update(f"rg-{env}", f"adf-sales-{env}", {"location": "westeurope"})
    schema = None
    if request.param == "postgresql":
        schema = _postgres_schema()
        monkeypatch.setenv("PORTAL_AUDIT_URL", f"{PG_URL}?options=-csearch_path%3D{schema}")
    else:
        monkeypatch.delenv("PORTAL_AUDIT_URL", raising=False)
    yield root
    server.faults = Faults()
    if schema is not None:
        engine = sqlalchemy.create_engine(PG_URL)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture()
def promotions(repo: Path):
    opened = Promotions.open(repo)
    yield opened
    opened.close()


def kinds(promotions: Promotions, **filters) -> list[str]:
    """The lifecycle's events, oldest first; the store's own `record written` events (one for every write of a
    promotion, approval, snapshot or artifact, tested in test_audit_integrity) are left out."""
    return [e.kind for e in reversed(promotions.store.events(limit=1000, **filters)) if e.kind != "record written"]


def test_a_snapshot_moves_up_the_environments_in_order(promotions: Promotions) -> None:
    with pytest.raises(PortalError) as refused:
        promote(promotions, "test", ALICE)
    assert refused.value.code == "ORDER" and "has not succeeded in dev" in refused.value.what
    assert kinds(promotions, environment="test") == ["action refused"]
    dev = promote(promotions, "dev", ALICE)
    assert dev.status == SUCCEEDED
    test = promote(promotions, "test", ALICE)
    assert test.status == SUCCEEDED and test.snapshot_id == dev.snapshot_id
    assert kinds(promotions, promotion_id=test.id)[:2] == ["promotion requested", "promotion started"]
    assert kinds(promotions, promotion_id=test.id)[-1] == "promotion finished"
    assert "promotion step" in kinds(promotions, promotion_id=test.id)
    assert promotions.store.verify().ok


def test_only_an_admin_skips_an_environment_and_the_reason_is_recorded(repo: Path, promotions: Promotions) -> None:
    with pytest.raises(PortalError) as refused:
        promote(promotions, "test", ALICE, skip_reason="hotfix for the broken load")
    assert refused.value.code == "FORBIDDEN"
    hotfix = promote(promotions, "test", ADMIN, skip_reason="hotfix for the broken load")
    assert hotfix.status == SUCCEEDED and hotfix.skip_reason == "hotfix for the broken load"
    requested = promotions.store.events(promotion_id=hotfix.id, kind="promotion requested")[0]
    assert "hotfix for the broken load" in requested.summary


def test_roles_are_checked_in_the_core_and_refusals_recorded(promotions: Promotions) -> None:
    with pytest.raises(PortalError) as refused:
        promote(promotions, "dev", VIEWER)
    assert refused.value.code == "FORBIDDEN" and "victor@retail.example" in refused.value.what
    event = promotions.store.events(kind="action refused")[0]
    assert event.actor == VIEWER.name and event.environment == "dev" and event.data["action"] == "promote"


def test_prod_needs_another_persons_approval(promotions: Promotions) -> None:
    promote(promotions, "dev", ALICE)
    promote(promotions, "test", ALICE)
    waiting = promote(promotions, "prod", ALICE)
    assert waiting.status == AWAITING_APPROVAL
    assert promotions.store.lock("prod") is None  # no lock while waiting for approval
    with pytest.raises(PortalError) as own:
        promotions.approve(waiting.id, Identity(ALICE.name, ("release-managers",), True, "test"))
    assert own.value.code == "OWN_PROMOTION"
    with pytest.raises(PortalError) as not_approver:
        promotions.approve(waiting.id, ADMIN.__class__("dan@retail.example", ("data-engineers",), True, "t"))
    assert not_approver.value.code == "FORBIDDEN"
    ready = promotions.approve(waiting.id, BOB, "looks good")
    assert ready.status == "approved"
    done = promotions.run(ready.id, BOB)
    assert done.status == SUCCEEDED
    assert promotions.status()[2].snapshot.id == done.snapshot_id


def test_a_rejection_ends_the_promotion(promotions: Promotions) -> None:
    promote(promotions, "dev", ALICE)
    promote(promotions, "test", ALICE)
    waiting = promote(promotions, "prod", ALICE)
    rejected = promotions.reject(waiting.id, BOB, "not during the sales weekend")
    assert rejected.status == REJECTED
    with pytest.raises(PortalError) as late:
        promotions.approve(waiting.id, CAROL)
    assert late.value.code == "STATE"
    with pytest.raises(PortalError):
        promotions.run(waiting.id, ALICE)


def test_approvals_expire(repo: Path) -> None:
    (repo / "portal.yaml").write_text(config(expiry_hours=0.0003))  # about one second
    commit_all(repo, "short approvals")
    promotions = Promotions.open(repo)
    try:
        promote(promotions, "dev", ALICE)
        promote(promotions, "test", ALICE)
        waiting = promote(promotions, "prod", ALICE)
        approved = promotions.approve(waiting.id, BOB)
        assert approved.status == "approved"
        time.sleep(1.5)
        with pytest.raises(PortalError) as expired:
            promotions.run(waiting.id, BOB)
        assert expired.value.code == "APPROVAL"
        assert promotions.store.promotion(waiting.id).status == AWAITING_APPROVAL
    finally:
        promotions.close()


def test_rollback_promotes_the_previous_snapshot_again(repo: Path, promotions: Promotions) -> None:
    first = promote(promotions, "dev", ALICE)
    describe_pipeline(repo, "second version")
    second = promote(promotions, "dev", ALICE)
    assert second.snapshot_id != first.snapshot_id
    back = rollback(promotions, "dev", ALICE)
    assert back.is_rollback and back.status == SUCCEEDED and back.snapshot_id == first.snapshot_id
    live = sandbox_for(repo / ".sandbox").client(SUBS["dev"]).pipelines.get("rg-dev", "adf-sales-dev", "PL_Load")
    assert "second version" not in json.dumps(live.as_dict())


@pytest.mark.parametrize("command", [["rollback", "dev"], ["promote", "test"]])
def test_declining_at_the_prompt_records_nothing(
    repo: Path,
    promotions: Promotions,
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Answering "no" leaves no request behind (`portal rollback` used to record an approved one before asking,
    which the Promote page then offered under "Ready to run")."""
    (repo / "portal.yaml").write_text(
        config().replace(
            "promoter: ['group:data-engineers']", "promoter: ['group:data-engineers', alice@retail.example]"
        )
    )
    commit_all(repo, "alice by name")
    first = promote(promotions, "dev", ALICE)
    describe_pipeline(repo, "second version")
    second = promote(promotions, "dev", ALICE)
    events_before = len(promotions.store.events(limit=10_000))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    asked: list[str] = []
    monkeypatch.setattr("builtins.input", lambda question: asked.append(question) or "no")
    assert main([*command, "--repo", str(repo), "--as", "alice@retail.example"]) == 1
    out = capsys.readouterr().out
    assert len(asked) == 1 and "not applied" in out
    assert "Plan " in out  # the plan was shown before the question
    if command[0] == "rollback":
        assert f"back to snapshot {first.snapshot_id}" in out
    assert len(promotions.store.events(limit=10_000)) == events_before
    assert promotions.runnable() == [] and promotions.store.promotions(statuses=["approved"]) == []
    assert promotions.store.last_succeeded("dev").id == second.id


def test_a_request_is_for_the_plan_that_was_shown(repo: Path, promotions: Promotions) -> None:
    """The main branch moving between the plan shown and the request refuses the request: what was approved of
    must be what runs."""
    prepared = flow.prepare(promotions, "dev")
    describe_pipeline(repo, "pushed meanwhile")
    with pytest.raises(PortalError) as changed:
        flow.submit(promotions, prepared, ALICE)
    assert changed.value.code == "PLAN_CHANGED" and prepared.plan.hash[:12] in changed.value.what
    assert promotions.store.promotions(environment="dev") == []
    again = flow.prepare(promotions, "dev")
    assert again.plan.hash != prepared.plan.hash
    assert flow.start(promotions, again, ALICE).raise_for_error().status == SUCCEEDED


def test_the_plan_summary_is_recorded_and_read_back_whole(repo: Path, promotions: Promotions) -> None:
    """What approvers are shown is what was recorded: the summary of the plan, read back as the same value."""
    prepared = flow.prepare(promotions, "dev")
    promotion = flow.submit(promotions, prepared, ALICE)
    recorded = PlanSummary.from_json(promotion.plan_summary)
    assert recorded == PlanSummary.of(prepared.planned) and recorded.hash == prepared.plan.hash
    assert recorded.counts["create"] == len(recorded.changes) > 0
    assert recorded.change_lines()[: len(recorded.changes)] == list(recorded.changes)
    assert PlanSummary.from_json({}).shown_counts() == {} and PlanSummary.from_json(None).change_lines() == []


def test_a_rollback_must_be_the_previous_snapshot(repo: Path, promotions: Promotions) -> None:
    """A rollback skips the order, so it cannot carry any other snapshot (e.g. straight to test)."""
    promote(promotions, "dev", ALICE)
    describe_pipeline(repo, "second version")
    second = promote(promotions, "dev", ALICE)
    describe_pipeline(repo, "third version, never promoted")
    with pytest.raises(PortalError) as refused:
        promotions.request("dev", ALICE, rollback=True)  # the main branch, not the previous snapshot
    assert refused.value.code == "ROLLBACK" and "is not its rollback target" in refused.value.what
    with pytest.raises(PortalError) as nothing:
        promotions.request("test", ALICE, rollback=True)
    assert nothing.value.code == "ROLLBACK" and "no successful promotion" in nothing.value.what
    assert promotions.store.last_succeeded("dev").id == second.id
    refusal = promotions.store.events(kind="action refused")[0]
    assert refusal.environment == "dev" and refusal.data["action"] == "rollback"


def test_the_main_branch_rules_count_and_are_read_again_when_it_moves(repo: Path, promotions: Promotions) -> None:
    with pytest.raises(PortalError):
        promote(promotions, "dev", VIEWER)
    granting = config().replace("promoter: ['group:data-engineers']", "promoter: ['group:readers']")
    (repo / "portal.yaml").write_text(granting)
    with pytest.raises(PortalError) as local:  # edited in the working tree only: grants nothing
        promote(promotions, "dev", VIEWER)
    assert local.value.code == "FORBIDDEN"
    opened = promotions.workspace_at()
    assert promotions.workspace_at() is opened  # one commit is opened once

    head = commit_all(repo, "readers promote")

    assert promotions.main_config().access.roles["*"]["promoter"] == ["group:readers"]
    assert promotions.workspace_at().snapshot.commit == head != opened.snapshot.commit
    assert promote(promotions, "dev", VIEWER).status == SUCCEEDED


def test_no_secret_reaches_the_audit_trail(promotions: Promotions) -> None:
    done = promote(promotions, "dev", ALICE)
    text = json.dumps([e.__dict__ for e in promotions.store.events(limit=1000)])
    requested = promotions.store.events(promotion_id=done.id, kind="promotion requested")[0]
    for digest in requested.data["artifacts"].values():
        text += promotions.store.artifact(digest)[0].decode("utf-8")
    # The sandbox resolves a Key Vault reference to a marker; deployed values never come back into the trail.
    assert "sandbox-secret(" not in text
    assert "lake-key" in text  # a reference appears only as where the secret comes from


def test_tampering_is_found_and_named(repo: Path, promotions: Promotions, capsys: pytest.CaptureFixture[str]) -> None:
    promote(promotions, "dev", ALICE)
    assert main(["audit", "verify", "--repo", str(repo)]) == 0
    victim = promotions.store.events(kind="promotion requested")[0]
    # Someone with access to the database edits a row (its URL holds no password here).
    engine = sqlalchemy.create_engine(promotions.store.url_for_display)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("UPDATE audit_events SET summary = 'nothing happened' WHERE seq = :s"), {"s": victim.seq}
        )
    engine.dispose()
    capsys.readouterr()
    assert main(["audit", "verify", "--repo", str(repo)]) == 1
    assert f"event {victim.seq}" in capsys.readouterr().err


def test_cli_flow_with_approval_and_exit_codes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["promote", "dev", "--repo", str(repo), "--yes", "--as", "alice@retail.example"]) == 1
    # A name given with --as carries no group claims: alice is no promoter until portal.yaml names her.
    assert "alice@retail.example (unverified, --as) may not promote here" in capsys.readouterr().err
    (repo / "portal.yaml").write_text(
        config()
        .replace("promoter: ['group:data-engineers']", "promoter: ['group:data-engineers', alice@retail.example]")
        .replace("approver: ['group:release-managers']", "approver: ['group:release-managers', bob@retail.example]")
    )
    commit_all(repo, "named people")
    for env in ("dev", "test"):
        assert main(["promote", env, "--repo", str(repo), "--yes", "--as", "alice@retail.example"]) == 0
    capsys.readouterr()
    assert main(["promote", "prod", "--repo", str(repo), "--yes", "--as", "alice@retail.example"]) == 3
    out = capsys.readouterr().out
    promotion_id = out.split("promotion ", 1)[1].split(":", 1)[0]
    assert "waits for approval (0 of 1)" in out and "bob@retail.example" in out
    assert main(["approve", promotion_id, "--repo", str(repo), "--as", "bob@retail.example"]) == 0
    assert f"promotion {promotion_id} succeeded" in capsys.readouterr().out
    assert main(["status", "--repo", str(repo), "--json"]) == 0
    rows = {r["environment"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["prod"]["promotion"] == promotion_id and rows["prod"]["by"] == "alice@retail.example"
    assert main(["audit", "list", "--repo", str(repo), "--env", "prod", "--kind", "promotion approved"]) == 0
    assert "bob@retail.example (unverified)" in capsys.readouterr().out


def _worker(repo: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "promotion_worker.py"), str(repo), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_two_processes_promoting_one_environment_one_runs(repo: Path, promotions: Promotions) -> None:
    slow = _worker(repo, "dev", "800")  # every call takes 800 ms: the run holds the lock for seconds
    _wait_for(lambda: promotions.store.lock("dev") is not None or slow.poll() is not None)
    fast = _worker(repo, "dev", "0")
    second, _ = fast.communicate(timeout=120)
    first, errors = slow.communicate(timeout=120)
    assert first.startswith("OK "), errors
    assert second.startswith("REFUSED LOCKED") and "is being promoted by" in second
    assert promotions.store.lock("dev") is None
    refused = promotions.store.events(kind="action refused", environment="dev")
    assert refused and "is being promoted by" in refused[0].summary
    assert promotions.store.verify().ok


def test_a_killed_run_is_interrupted_recovered_and_converges(repo: Path, promotions: Promotions) -> None:
    # The lease must outlast starting a worker process on a loaded machine, for the "still locked" check below.
    (repo / "portal.yaml").write_text(config(lease=10))
    commit_all(repo, "short lease")
    doomed = _worker(repo, "dev", "400")
    _wait_for(lambda: bool(promotions.store.events(kind="promotion step", limit=1)) or doomed.poll() is not None)
    _wait_for(
        lambda: any(e.data.get("step") == "deploy" for e in promotions.store.events(kind="promotion step", limit=50))
    )
    doomed.send_signal(signal.SIGKILL)  # mid-apply: no finally, no lock release, no last event
    doomed.wait(timeout=30)
    killed = promotions.store.promotions(environment="dev")[0]
    assert killed.status == "running" and promotions.store.lock("dev") is not None
    # While its lease lasts, the lock holds.
    early, _ = _worker(repo, "", "0", killed.id).communicate(timeout=120)
    assert early.startswith("REFUSED LOCKED"), early
    time.sleep(10.5)
    again, errors = _worker(repo, "", "0", killed.id).communicate(timeout=120)
    assert again.startswith(f"OK {killed.id}"), errors
    assert [e.kind for e in promotions.store.events(promotion_id=killed.id, kind="promotion interrupted")]
    assert promotions.store.promotion(killed.id).status == SUCCEEDED
    converged, _ = _worker(repo, "plan", "0").communicate(timeout=120)
    assert converged.strip() == "NO CHANGES"
    check = promotions.store.verify()
    assert check.ok, check.reason  # no event lost or broken by the kill


def test_audit_export_and_artifact_download_from_the_cli(
    repo: Path, promotions: Promotions, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = promote(promotions, "dev", ALICE)
    out = tmp_path / "trail.jsonl"
    assert main(["audit", "export", "--repo", str(repo), "--format", "jsonl", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == promotions.store.count_events() and {r["kind"] for r in rows} >= {
        "promotion requested",
        "promotion started",
        "promotion finished",
    }
    requested = promotions.store.events(promotion_id=done.id, kind="promotion requested")[0]
    template = tmp_path / "template.json"
    assert (
        main(
            ["audit", "artifact", requested.data["artifacts"]["template"], "--repo", str(repo), "--out", str(template)]
        )
        == 0
    )
    assert json.loads(template.read_text())["resources"]  # exactly the template that went out
    csv_out = tmp_path / "trail.csv"
    assert main(["audit", "export", "--repo", str(repo), "--format", "csv", "--out", str(csv_out)]) == 0
    assert len(csv_out.read_text().splitlines()) >= len(rows) + 1


def test_a_plan_the_service_would_refuse_cannot_be_requested(repo: Path, promotions: Promotions) -> None:
    path = repo / "adf" / "pipeline" / "PL_Load.json"
    document = json.loads(path.read_text())
    document["properties"]["parameters"] = {f"p{i}": {"type": "string"} for i in range(51)}
    write_json(path, document)
    commit_all(repo, "more parameters than a pipeline may have")
    server = sandbox_for(repo / ".sandbox")
    server.stats.reset()
    with pytest.raises(PortalError) as refused:
        promote(promotions, "dev", ALICE)
    assert refused.value.code == "PLAN_BLOCKED" and "51 parameters" in refused.value.what
    assert kinds(promotions, environment="dev") == ["action refused"]
    assert promotions.store.promotions(environment="dev", limit=10) == []
    assert server.stats.by_method.get("PUT", 0) == 0
