"""Development tools: a generated archive and a loopback HTTP server (tests, demo, benchmarks)."""
