"""A GitOps reconciler for Amazon ECS.

The package is laid out as the pipeline it runs::

    source -> desired -> live -> diff -> plan -> apply -> track -> report

with ``model`` (the data every stage hands the next), ``errors`` and ``aws`` (the
layer under every stage) below them, and the command line, the loop and the
embedded emulator at the edges.
"""

__version__ = "0.1.0"
