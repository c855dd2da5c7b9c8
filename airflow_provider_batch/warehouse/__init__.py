"""Warehouse targets of the results tables."""
