#!/usr/bin/env bash
# Runs every test: ruff, import layering, mypy --strict, forge (unit, fuzz, invariant), slither,
# pytest (unit, integration, e2e).
# Usage: ./test.sh [extra pytest args]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
bash scripts/bootstrap.sh
export PATH="$root/.venv/bin:$root/node_modules/.bin:$PATH"
echo "== ruff"
ruff check .
ruff format --check .
echo "== import-linter"
lint-imports
echo "== mypy --strict (clearing, market, adapters)"
mypy
echo "== forge test"
forge test
echo "== slither (fails on high severity)"
mkdir -p build
slither . --filter-paths node_modules --exclude-dependencies --fail-high > build/slither.log 2>&1 \
  || { cat build/slither.log; exit 1; }
tail -n 1 build/slither.log
echo "== pytest"
pytest -n 2 --dist worksteal --durations=40 "$@"
