"""Benchmarking: params/FLOPs, latency per backend, comparison reports."""
