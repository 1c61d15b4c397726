"""Benchmarks of orch against established tools (crun, runc, Docker); entry point ``bench/run.py``."""
