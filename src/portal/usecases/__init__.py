"""The use cases the pages and the CLI both call: each thing a person does, as one call.

- `promotions`: prepare (plan and checks, nothing recorded), submit, start, run, approve, reject, promote,
  rollback — the one place that sequences a promotion;
- `edits`: saving a parameter or rule edit (one commit and one audit entry);
- `drift`: whether a live environment still is what was promoted;
- `session`: which repository the portal serves and who is using it;
- `demo`: the demo repository.

The pages and the CLI only gather input, ask for confirmation, and call these; declining at a prompt records
nothing. Below this layer, `portal.promotion` holds the rules (roles, order, approvals, lock) and records.
"""
