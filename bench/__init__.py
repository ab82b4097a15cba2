"""Benchmarks (not tests): figures and ratios measured side by side in one run, printed as tables."""
