"""Scenario builders (top-N, MTL, CDR) and the leakage audit."""
