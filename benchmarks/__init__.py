"""Benchmarks: a stand-in Cognito endpoint, the original design's loop, and the runner (``run.py``)."""
