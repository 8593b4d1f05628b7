#!/usr/bin/env bash
# `npm test`: system packages, type check, lint, the web console's build (type-checked;
# skipped when its sources are unchanged), then every test tier.
# IMS_TEST_DB=postgres runs the API and repository tests on PostgreSQL
# (127.0.0.1:5432, trust auth; each test file makes its own database).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
if [ "${IMS_TEST_SKIP_STATIC:-}" != 1 ]; then
  echo "== tsc --noEmit"; npx tsc --noEmit
  echo "== eslint"; npx eslint --max-warnings 0 .
  echo "== prettier --check"; npx prettier --check --log-level warn .
fi
echo "== console build"; node scripts/build-console.mjs
echo "== vitest (database: ${IMS_TEST_DB:-sqlite})"
exec npx vitest run "$@"
