"""HTTP API (FastAPI): signed writes, public and SIWE-protected reads, published bundles."""
