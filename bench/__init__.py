"""Benchmarks of the reconciler against its peers and the AWS API floor (issue #10).

Run them all with ``make bench`` (``python -m bench``); each module also runs on
its own (``python -m bench.steady_state``). Nothing here is a test.
"""
