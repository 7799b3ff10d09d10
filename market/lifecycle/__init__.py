"""Session lifecycle worker: each step idempotent, resumable and reconciled with the chain."""
