#!/usr/bin/env bash
# Idempotent setup: Python venv with flexmarket + dev extras, and the pinned JS toolchain.
# Re-runs are cheap: each step is skipped while its lock/manifest is unchanged.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $($py --version)"
  "$py" -m venv .venv
fi
stamp_py=".venv/.flexmarket-installed"
want_py="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp_py" ] || [ "$(cat "$stamp_py")" != "$want_py" ]; then
  echo "[bootstrap] installing Python dependencies (pip install -e .[dev])"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$want_py" > "$stamp_py"
fi
stamp_js="node_modules/.flexmarket-installed"
want_js="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp_js" ] || [ "$(cat "$stamp_js")" != "$want_js" ]; then
  echo "[bootstrap] installing JS toolchain (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want_js" > "$stamp_js"
fi
