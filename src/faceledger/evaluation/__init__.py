"""Independent testing: an ``independent-tester`` organization's accounts measure the deployed
model and thresholds on sets they upload (``POST /v1/evaluations``, operation
``evaluation.run``). ``upload`` reads the set from a zip archive in memory, ``measure`` computes
1:1 and 1:N error rates per declared group with the fairness audit's machinery. Nothing
uploaded is stored: not in the face store, not in the audit log (only counts and SHA-256s)."""
