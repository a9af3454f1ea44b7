#!/bin/sh
# Every check, in the order CI runs them: format, lint, type check, doc
# lint, publish dry run (JSR's no-slow-types rule), tests on Deno, tests on
# Bun. Ends with one line "N passed, N failed" covering both runtimes.
# Run it as `deno task ok` (or `npx -y deno@2 task ok` on a fresh machine).
set -u
export NO_COLOR=1
cd "$(dirname "$0")/.."
out="${TMPDIR:-/tmp}/roam-ok.$$"
mkdir -p "$out"
status=0

step() {
  name="$1"
  shift
  echo "== $name"
  if ! "$@"; then
    echo "!! $name failed"
    status=1
  fi
}

step "format" deno fmt --check
step "lint" deno lint
step "layers" deno run --allow-read scripts/check_layers.ts
step "type check" deno check mod.ts postcard.ts wire.ts tracing.ts cli.ts lib/ transports/ bench/ tests/ examples/
entries="mod.ts postcard.ts wire.ts tracing.ts cli.ts transports/tcp.ts transports/unix.ts transports/websocket.ts transports/websocket_server.ts transports/stdio.ts transports/message_port.ts"
step "doc examples" deno check --doc-only mod.ts postcard.ts wire.ts tracing.ts lib/ transports/ README.md
# shellcheck disable=SC2086
step "doc lint" deno doc --lint $entries
step "public surface" deno run --allow-read --allow-run --allow-env scripts/check_surface.ts
step "publish dry run" deno publish --dry-run --allow-dirty --quiet

echo "== tests on Deno"
deno test --allow-all --no-check tests/ 2>&1 | tee "$out/deno.log"
deno_rc=$(tail -n 1 "$out/deno.log" >/dev/null; grep -Eq '^(ok|FAILED) \| [0-9]+ passed' "$out/deno.log" && echo 0 || echo 1)
deno_pass=$(grep -Eo '[0-9]+ passed' "$out/deno.log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
deno_fail=$(grep -Eo '[0-9]+ failed' "$out/deno.log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
[ "$deno_rc" = 0 ] || { echo "!! tests on Deno did not report"; status=1; deno_fail=$((deno_fail + 1)); }

echo "== tests on Bun"
npx -y bun@1 test ./tests/ 2>&1 | tee "$out/bun.log"
bun_pass=$(grep -Eo '^ *[0-9]+ pass$' "$out/bun.log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
bun_fail=$(grep -Eo '^ *[0-9]+ fail$' "$out/bun.log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
grep -Eq '^ *[0-9]+ pass$' "$out/bun.log" || { echo "!! tests on Bun did not report"; status=1; bun_fail=$((bun_fail + 1)); }

[ "$deno_fail" = 0 ] && [ "$bun_fail" = 0 ] || status=1
rm -rf "$out"
echo "Deno: $deno_pass passed, $deno_fail failed; Bun: $bun_pass passed, $bun_fail failed"
echo "$((deno_pass + bun_pass)) passed, $((deno_fail + bun_fail)) failed"
exit "$status"
