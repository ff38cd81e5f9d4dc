"""Desired state: a unit rendered at a revision, and the checks it must pass."""
