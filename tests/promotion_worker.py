"""A promotion in a process of its own, for the tests of locks and crashes: `python tests/promotion_worker.py
REPO ENV LATENCY_MS [PROMOTION_ID]` promotes ENV (or runs PROMOTION_ID again) as alice, with the sandbox answering
every call after LATENCY_MS, and prints one line: OK <id> or REFUSED <code>."""

from __future__ import annotations

import sys
from pathlib import Path

from portal.errors import PortalError
from portal.promotion.identity import Identity
from portal.promotion.service import Promotions
from portal.sandbox import Faults, sandbox_for
from portal.usecases.promotions import promote

ALICE = Identity("alice@retail.example", ("data-engineers",), True, "test")


def main(repo: str, environment: str, latency_ms: str, promotion_id: str | None = None) -> int:
    sandbox_for(Path(repo) / ".sandbox").faults = Faults(latency_ms=int(latency_ms))
    promotions = Promotions.open(repo)
    try:
        if promotion_id:
            done = promotions.run(promotion_id, ALICE)
        elif environment == "plan":
            planned = promotions.workspace_at()
            from portal.deploy.service import plan_environment

            print("CHANGES" if plan_environment(planned, "dev").plan.has_changes else "NO CHANGES", flush=True)
            return 0
        else:
            done = promote(promotions, environment, ALICE)
        print(f"OK {done.id}", flush=True)
    except PortalError as error:
        print(f"REFUSED {error.code} {error.what}", flush=True)
    finally:
        promotions.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
