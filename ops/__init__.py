"""Operator tooling for the Seoul demo (dev-side only, never shipped to the VM or Cloud Run).

preflight, state bootstrap, verify, cost and the destroy driver: each a module, each run by a nox
session, each tested offline against a stubbed `gcloud` (tests/ops).
"""
