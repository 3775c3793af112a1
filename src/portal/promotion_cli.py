"""`portal promote | approve | reject | rollback | status | audit`: arguments and printing over the promotion
façade and the audit store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from portal.audit.vocabulary import PromotionStatus
from portal.errors import ErrorCode, PortalError
from portal.events import PrintSink
from portal.promotion.service import ALL_ENVIRONMENTS
from portal.usecases import promotions as flow

OVERRIDE_HELP = "admins: promote outside the release windows or past a stopped line, with this reason on record"
# Exit codes of the promotion commands.
DONE, FAILED, WAITING = 0, 1, 3


def add_commands(commands: argparse._SubParsersAction) -> None:
    promote = commands.add_parser(
        "promote",
        help="promote a snapshot (the main branch, or --ref) to ENV: plan, "
        "ask, record, and run (or stop for approval, exit 3)",
    )
    promote.add_argument("env", metavar="ENV")
    promote.add_argument("--yes", action="store_true", help="do not ask before applying")
    promote.add_argument(
        "--skip-reason",
        help="admins: promote although the snapshot has not succeeded in the "
        "previous environment (hotfix), with this reason on record",
    )
    promote.add_argument("--override-reason", help=OVERRIDE_HELP)
    _common(promote, ref=True)

    approve = commands.add_parser(
        "approve", help="approve a promotion waiting for approval; the last approval needed runs it"
    )
    approve.add_argument("promotion_id", metavar="ID")
    approve.add_argument("--comment", default="")
    _common(approve)

    reject = commands.add_parser("reject", help="reject a waiting promotion (ends it)")
    reject.add_argument("promotion_id", metavar="ID")
    reject.add_argument("--reason", required=True)
    _common(reject)

    rollback = commands.add_parser("rollback", help="promote ENV's previous successful snapshot again")
    rollback.add_argument("env", metavar="ENV")
    rollback.add_argument("--yes", action="store_true", help="do not ask")
    rollback.add_argument("--override-reason", help=OVERRIDE_HELP)
    _common(rollback)

    line = commands.add_parser("line", help="admins: stop all promotions to ENV (or all) with a reason, or restart")
    line_commands = line.add_subparsers(dest="line_command", required=True)
    stop = line_commands.add_parser("stop", help="stop the line: no promotion starts until it is restarted")
    stop.add_argument("env", metavar="ENV|all")
    stop.add_argument("--reason", required=True)
    _common(stop)
    restart = line_commands.add_parser("restart", help="restart the line")
    restart.add_argument("env", metavar="ENV|all")
    restart.add_argument("--reason", default="")
    _common(restart)

    status = commands.add_parser("status", help="which snapshot is in which environment; what waits for approval")
    status.add_argument("--json", action="store_true")
    status.add_argument("--repo", default=".", help="the data repository (default: the current directory)")

    audit = commands.add_parser("audit", help="the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    listing = audit_commands.add_parser("list", help="events, newest first")
    listing.add_argument("--env")
    listing.add_argument("--actor")
    listing.add_argument("--kind")
    listing.add_argument("--promotion")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    show = audit_commands.add_parser("show", help="one event in full")
    show.add_argument("seq", metavar="SEQ", type=int)
    verify = audit_commands.add_parser(
        "verify",
        help="check the hash chain, the MACs (with PORTAL_AUDIT_KEY), the "
        "records of promotions, approvals, snapshots and artifacts, and the Git "
        "anchors; exit 1 naming what is broken",
    )
    verify.add_argument("--remote", help="also check the anchors pushed to this remote (fetched first)")
    seal = audit_commands.add_parser(
        "seal",
        help="with PORTAL_AUDIT_KEY: verify, then sign the events written "
        "before the key was set (once, when a key is introduced)",
    )
    export = audit_commands.add_parser("export", help="every event as CSV or JSON lines")
    export.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
    export.add_argument("--out", help="file to write (default: standard output)")
    artifact = audit_commands.add_parser("artifact", help="download a deployed artifact by its digest")
    artifact.add_argument("digest", metavar="DIGEST")
    artifact.add_argument("--out", required=True)
    for sub in (listing, show, verify, seal, export, artifact):
        sub.add_argument("--repo", default=".", help="the data repository (default: the current directory)")


def _common(parser: argparse.ArgumentParser, *, ref: bool = False) -> None:
    parser.add_argument("--repo", default=".", help="the data repository (default: the current directory)")
    if ref:
        parser.add_argument("--ref", help="the commit, branch or tag to promote (default: the main branch)")
    parser.add_argument(
        "--as",
        dest="as_name",
        metavar="NAME",
        help="sandbox and demo mode only: who is acting (else PORTAL_USER, else your login name); "
        "recorded as unverified",
    )


def run(args: argparse.Namespace) -> int:
    from portal.promotion.service import Promotions

    promotions = Promotions.open(args.repo)
    try:
        if args.command == "status":
            return _status(promotions, args)
        if args.command == "audit":
            return _audit(promotions, args)
        identity = _identity(promotions, args)
        if args.command == "promote":
            return _promote(promotions, identity, args)
        if args.command == "approve":
            return _approve(promotions, identity, args)
        if args.command == "reject":
            promotion = flow.reject(promotions, args.promotion_id, identity, args.reason)
            print(f"promotion {promotion.id} rejected: {args.reason}")
            return DONE
        if args.command == "rollback":
            return _rollback(promotions, identity, args)
        if args.command == "line":
            return _line(promotions, identity, args)
    finally:
        promotions.close()
    raise AssertionError(args.command)


def _identity(promotions, args: argparse.Namespace):
    from portal.promotion.cli_identity import identity_for_cli

    environment = getattr(args, "env", None)
    if environment == "all":  # `portal line … all`: every environment's targets say who it is
        environment = None
    if environment is None and getattr(args, "promotion_id", None):
        found = promotions.store.promotion(args.promotion_id)
        environment = found.environment if found else None
    return identity_for_cli(promotions.repo_root, environment, args.as_name, promotions.main_config())


def _promote(promotions, identity, args: argparse.Namespace) -> int:
    from portal.deploy_cli import print_plan

    prepared = flow.prepare(promotions, args.env, ref=args.ref)
    print_plan(prepared.plan)
    if not _confirm(args.yes, f"Promote to {args.env}?"):
        return FAILED
    return _report(
        promotions,
        flow.start(
            promotions,
            prepared,
            identity,
            skip_reason=args.skip_reason,
            override_reason=args.override_reason,
            sink=PrintSink(),
        ),
        requested=True,
    )


def _approve(promotions, identity, args: argparse.Namespace) -> int:
    return _report(promotions, flow.approve(promotions, args.promotion_id, identity, args.comment, sink=PrintSink()))


def _rollback(promotions, identity, args: argparse.Namespace) -> int:
    from portal.deploy_cli import print_plan

    prepared = flow.prepare_rollback(promotions, args.env)
    print(f"rolling {args.env} back to snapshot {prepared.snapshot_id} (commit {prepared.commit[:10]})")
    print_plan(prepared.plan)
    if not _confirm(args.yes, f"Roll {args.env} back?"):
        return FAILED  # declined: nothing is recorded
    outcome = flow.start(promotions, prepared, identity, override_reason=args.override_reason, sink=PrintSink())
    return _report(promotions, outcome, requested=True)


def _line(promotions, identity, args: argparse.Namespace) -> int:
    scope = ALL_ENVIRONMENTS if args.env == "all" else args.env
    if args.line_command == "stop":
        promotions.stop_line(scope, identity, args.reason)
        print(f"the line is stopped for {args.env}: {args.reason}")
    else:
        promotions.restart_line(scope, identity, args.reason)
        print(f"the line is restarted for {args.env}")
    return DONE


def _report(promotions, outcome: flow.Outcome, *, requested: bool = False) -> int:
    """Print what became of the promotion; the exit code says it (0 done, 1 failed, 3 waiting for approval)."""
    promotion = outcome.promotion
    if requested:
        what = (
            f"rollback of {promotion.environment} to snapshot {promotion.snapshot_id}"
            if promotion.is_rollback
            else f"snapshot {promotion.snapshot_id} to {promotion.environment}"
        )
        print(f"promotion {promotion.id}: {what}")
    if outcome.error is not None:
        print(f"error: {outcome.error}", file=sys.stderr)
        if promotion.status == PromotionStatus.FAILED:
            print(f"promotion {promotion.id} failed; promote again to converge", file=sys.stderr)
        return FAILED
    if outcome.held is not None:
        print(f"promotion {promotion.id} is approved and held: {outcome.held}")
        return WAITING
    if outcome.waiting:
        return _waiting(promotions, promotion)
    finished = promotions.store.events(promotion_id=promotion.id, kind="promotion finished", limit=1)
    print(f"promotion {promotion.id} succeeded: {finished[0].summary if finished else 'done'}")
    return DONE


def _waiting(promotions, promotion) -> int:
    valid = promotions.valid_approvals(promotion)
    approvers = ", ".join(promotions.who_may_approve(promotion)) or "nobody is configured to approve"
    print(
        f"promotion {promotion.id} waits for approval ({len(valid)} of {promotion.approvals_required}); "
        f"may approve: {approvers}"
    )
    print(f"  portal approve {promotion.id} --repo …   or   portal reject {promotion.id} --reason …")
    return WAITING


def _confirm(yes: bool, question: str) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        print("not applied: confirm with --yes (no terminal to ask)", file=sys.stderr)
        return False
    if input(f"{question} Type 'yes': ").strip().lower() != "yes":
        print("not applied")
        return False
    return True


def _status(promotions, args: argparse.Namespace) -> int:
    rows = promotions.status()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "environment": r.environment,
                        "snapshot": r.snapshot.id if r.snapshot else None,
                        "commit": r.snapshot.source_commit if r.snapshot else None,
                        "promotion": r.current.id if r.current else None,
                        "by": r.current.requested_by if r.current else None,
                        "finished": r.current.finished_at if r.current else None,
                        "running": r.running.id if r.running else None,
                        "waiting": [p.id for p in r.waiting],
                        "releases": flow.releases_text(promotions, r.environment),
                        "lineStopped": _stop_json(flow.line_stop(promotions, r.environment)),
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return DONE
    for r in rows:
        where = (
            f"snapshot {r.snapshot.id} (commit {r.snapshot.source_commit[:10]}), promoted by "
            f"{r.current.requested_by} at {r.current.finished_at}"
            if r.current and r.snapshot
            else "nothing yet"
        )
        print(f"{r.environment}: {where}")
        stop = flow.line_stop(promotions, r.environment)
        if stop is not None:
            print(f"  releases: line stopped for {stop.scope} by {stop.actor} at {stop.at}: {stop.reason}")
        else:
            print(f"  releases: {flow.releases_text(promotions, r.environment)}")
        if r.running:
            print(f"  running: {r.running.id} (snapshot {r.running.snapshot_id})")
        for waiting in r.waiting:
            print(
                f"  waiting for approval: {waiting.id} (snapshot {waiting.snapshot_id}, requested by "
                f"{waiting.requested_by})"
            )
    return DONE


def _stop_json(stop: flow.LineStop | None) -> dict[str, str] | None:
    return {"by": stop.actor, "scope": stop.scope, "at": stop.at, "reason": stop.reason} if stop else None


def _audit(promotions, args: argparse.Namespace) -> int:
    store = promotions.store
    if args.audit_command == "list":
        for event in store.events(
            environment=args.env,
            actor=args.actor,
            kind=args.kind,
            promotion_id=args.promotion,
            offset=args.offset,
            limit=args.limit,
        ):
            actor = event.actor if event.actor_verified else f"{event.actor} (unverified)"
            print(f"{event.seq:>6} {event.at} {event.environment or '-':<8} {actor:<24} {event.kind}: {event.summary}")
        return DONE
    if args.audit_command == "show":
        event = store.event(args.seq)
        if event is None:
            raise PortalError(f"audit event {args.seq}", "does not exist", code=ErrorCode.NOT_FOUND)
        print(json.dumps(event.__dict__, indent=2, ensure_ascii=False))
        return DONE
    if args.audit_command == "verify":
        return _verify(store, promotions.repo_root, args.remote)
    if args.audit_command == "seal":
        from portal.audit import read_anchors

        signed = store.seal(anchors=read_anchors(promotions.repo_root))
        if signed:
            print(f"audit trail sealed: {signed} events signed with audit key {store.key.key_id}")
        else:
            print(f"nothing to seal: every event is signed with audit key {store.key.key_id}")
        return DONE
    if args.audit_command == "export":
        if args.out:
            with open(args.out, "w", encoding="utf-8", newline="") as out:
                count = store.export(out, args.format)
            print(f"{count} events written to {args.out}", file=sys.stderr)
        else:
            store.export(sys.stdout, args.format)
        return DONE
    if args.audit_command == "artifact":
        found = store.artifact(args.digest)
        if found is None:
            raise PortalError(f"artifact {args.digest}", "is not in the audit store", code=ErrorCode.NOT_FOUND)
        content, _, name = found
        Path(args.out).write_bytes(content)
        print(f"{name}: {len(content)} bytes written to {args.out}")
        return DONE
    raise AssertionError(args.audit_command)


def _verify(store, repo_root: Path, remote: str | None) -> int:
    """`portal audit verify`: the whole trail, against the anchors in the repository's Git notes (and the
    remote's, with --remote)."""
    from portal.audit import fetch_anchors, read_anchors

    reading = read_anchors(repo_root)
    if remote:
        fetched = fetch_anchors(repo_root, remote)
        if fetched is not None:
            reading = reading + read_anchors(repo_root, ref=fetched)
    result = store.verify(anchors=reading)
    if not result.ok:
        where = f" at event {result.first_broken}" if result.first_broken is not None else ""
        print(f"audit trail BROKEN{where}: {result.reason}", file=sys.stderr)
        for problem in result.problems[1:]:
            print(f"  also: {problem}", file=sys.stderr)
        return FAILED
    print(
        f"audit trail intact: {result.checked} events hash-chained, {result.rows_checked} records of promotions, "
        f"approvals, snapshots and artifacts checked, {result.anchors_checked} Git anchors matched"
    )
    if result.signed:
        print(f"every event is signed with audit key {result.key_id}")
    else:
        anchored = (
            f"except up to the newest Git anchor (event {result.anchored_seq})"
            if result.anchored_seq
            else "and no Git anchor vouches for any of it"
        )
        print(
            "note: no audit key (PORTAL_AUDIT_KEY or PORTAL_AUDIT_KEY_FILE), so the trail is hash-chained only: "
            f"someone who can write the audit database could rewrite it undetected, {anchored}"
        )
    return DONE
