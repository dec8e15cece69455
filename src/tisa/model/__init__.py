"""Frozen domain values: parties, levels, agreements, networks, routes."""
