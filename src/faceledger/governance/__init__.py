"""Governance by construction: who may ask (principals), what is allowed (policy), who must
look first (review), and what happened (the tamper-evident audit log).

The face service reaches all of it through one object, :class:`GovernedGate`, which implements
the service's ``Gate`` protocol.
"""
