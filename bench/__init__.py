"""lvs benchmarks: ``python -m bench <case>|all [--quick]``. See bench/README.md."""
