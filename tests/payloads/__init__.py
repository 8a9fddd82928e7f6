"""Realistic outside payloads (GitHub webhooks) for tests and benchmarks."""
