#!/usr/bin/env bash
# The main job: run a whole market scenario end to end on an embedded chain.
# Usage: ./main.sh [flexmarket arguments]; with none, replays the UC5 Terni microgrid day.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
bash scripts/bootstrap.sh
export PATH="$root/.venv/bin:$root/node_modules/.bin:$PATH"
if [ "$#" -eq 0 ]; then
  set -- replay scripts/scenarios/uc5-terni-microgrid.yaml --report reports/uc5-terni-microgrid
fi
exec flexmarket "$@"
