"""Aggregation of weak labels. Pure code: no Django imports (issue 4 grows this package)."""
