"""Authenticated fuzzing of the market API: every operation as each role, and the money path.

Used by tests/integration/market/test_openapi_fuzz_authenticated.py (short, fixed seed) and by
``flexmarket bench fuzz`` (longer); both require 0 answers of class 5xx and no crash.
"""
