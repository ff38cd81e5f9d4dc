"""The loop: wires the stages together (source, desired, live, diff, plan, ...)."""
