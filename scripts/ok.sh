#!/bin/sh
# Every check, in the order CI runs them: format, lint, layers, type check,
# doc examples, doc lint, public surface, publish dry run; then what users
# of each runtime meet (plain tsc, bundlers, installing a checkout); then
# the tests on Deno, on Bun and on Node 22+. Dev-only tools come from the
# npm registry into .tools/ (scripts/dev_tools.ts); a check or a test that
# cannot run says "SKIPPED ...: why" and is listed at the end, never passed.
# Ends with one line "N passed, N failed, N skipped" covering all runtimes.
# Run it as `deno task ok` (or `npx -y deno@2 task ok` on a fresh machine).
set -u
export NO_COLOR=1
cd "$(dirname "$0")/.."
out="${TMPDIR:-/tmp}/roam-ok.$$"
mkdir -p "$out"
status=0

# run_step NAME COMMAND...: runs a check and prints its output; its SKIPPED lines are
# kept for the list at the end.
checked() {
  "$@"
  echo $? >"$out/rc"
}
run_step() {
  name="$1"
  shift
  echo "== $name"
  checked "$@" >"$out/step.log" 2>&1
  cat "$out/step.log"
  grep -h '^SKIPPED' "$out/step.log" >>"$out/skips.log"
  if [ "$(cat "$out/rc")" != 0 ]; then
    echo "!! $name failed"
    status=1
  fi
}
: >"$out/skips.log"

run_step "format" deno fmt --check
run_step "lint" deno lint
run_step "layers" deno run --allow-read scripts/check_layers.ts
run_step "type check" deno check mod.ts browser.ts postcard.ts wire.ts tracing.ts cli.ts lib/ transports/ bench/ tests/ examples/
entries="mod.ts browser.ts postcard.ts wire.ts tracing.ts cli.ts transports/tcp.ts transports/unix.ts transports/websocket.ts transports/websocket_server.ts transports/stdio.ts transports/message_port.ts"
run_step "doc examples" deno check --doc-only mod.ts browser.ts postcard.ts wire.ts tracing.ts lib/ transports/ README.md
# shellcheck disable=SC2086
run_step "doc lint" deno doc --lint $entries
run_step "doc examples everywhere" deno run --allow-read --allow-run --allow-env scripts/check_examples.ts
run_step "public surface" deno run --allow-read --allow-run --allow-env scripts/check_surface.ts
run_step "publish dry run" deno publish --dry-run --allow-dirty --quiet
run_step "dev tools" deno run --allow-all scripts/dev_tools.ts
run_step "plain tsc (Bun, browser and Node projects)" deno run --allow-all scripts/check_tsc.ts
run_step "bundles for the browser" deno run --allow-all scripts/check_bundles.ts
run_step "install a checkout (Deno links, bun add, npm install)" deno run --allow-all scripts/check_install.ts

# The Node used by the Node tests and by the interop tests of the other two suites.
node_bin="${ROAM_NODE:-}"
if [ -z "$node_bin" ]; then
  node_bin=$(deno run --allow-all scripts/dev_tools.ts --print-node 2>/dev/null || true)
fi
[ -n "$node_bin" ] && export ROAM_NODE="$node_bin"

echo "== tests on Deno"
deno test --allow-all --no-check tests/ 2>&1 | tee "$out/deno.log"
deno_pass=$(grep -Eo '[0-9]+ passed' "$out/deno.log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
deno_fail=$(grep -Eo '[0-9]+ failed' "$out/deno.log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
deno_skip=$(grep -E '^(ok|FAILED) \|' "$out/deno.log" | tail -n 1 | grep -Eo '[0-9]+ ignored' | grep -Eo '[0-9]+' || echo 0)
grep -Eq '^(ok|FAILED) \| [0-9]+ passed' "$out/deno.log" ||
  { echo "!! tests on Deno did not report"; status=1; deno_fail=$((deno_fail + 1)); }
grep -ho 'SKIPPED.*' "$out/deno.log" >>"$out/skips.log"
grep -E '\.\.\. ignored' "$out/deno.log" | sed 's/ \.\.\. ignored.*//; s/^/skipped test on Deno: /' >>"$out/skips.log"

echo "== tests on Bun"
npx -y bun@1 test ./tests/ 2>&1 | tee "$out/bun.log"
bun_pass=$(grep -Eo '^ *[0-9]+ pass$' "$out/bun.log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
bun_fail=$(grep -Eo '^ *[0-9]+ fail$' "$out/bun.log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
bun_skip=$(grep -Eo '^ *[0-9]+ skip$' "$out/bun.log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
grep -Eq '^ *[0-9]+ pass$' "$out/bun.log" ||
  { echo "!! tests on Bun did not report"; status=1; bun_fail=$((bun_fail + 1)); }
grep -ho 'SKIPPED.*' "$out/bun.log" >>"$out/skips.log"
grep -E '^\(skip\) ' "$out/bun.log" | sed 's/^(skip) /skipped test on Bun: /' >>"$out/skips.log"

# Test files that do not apply on Node, with the reason (paths under tests/, without .ts).
node_excluded="
session/backpressure_server_test:its servers are Deno and Bun child processes
transports/browser_test:it serves the page with a WebSocket server (Deno and Bun only)
channel/channel_test:it uses await using (Node 24+ syntax)
cli/spy_test:the command line runs on Deno and Bun
cli/cli_test:the command line runs on Deno and Bun
transports/cross_runtime_test:Deno and Bun against each other (Node has node_interop_test)
transports/message_port_test:it starts a web Worker (Node has node:worker_threads: worker_threads_test)
transports/peer_vanishes_test:its servers are Deno and Bun child processes
transports/stdio_test:it uses await using (Node 24+ syntax); Node's stdio is in node_interop_test
transports/websocket_test:it needs a WebSocket server (Deno and Bun only)
transports/websocket_close_test:it needs a WebSocket server (Deno and Bun only)
extras/reverse_tunnel_test:the example it runs uses await using (Node 24+ syntax)
"
node_pass=0
node_fail=0
node_skip=0
echo "== tests on Node"
if [ -z "$node_bin" ]; then
  echo "SKIPPED tests on Node: no Node 22+ (set \$ROAM_NODE, or the npm registry was not reachable)" |
    tee -a "$out/skips.log"
else
  "$node_bin" --version
  files=""
  for f in $(find tests -name '*_test.ts' | sort); do
    base=${f#tests/}
    base=${base%.ts}
    why=$(printf '%s\n' "$node_excluded" | grep "^$base:" | cut -d: -f2-)
    if [ -n "$why" ]; then
      echo "skipped file on Node: $f ($why)" >>"$out/skips.log"
    else
      files="$files $f"
    fi
  done
  # shellcheck disable=SC2086
  "$node_bin" --test --test-reporter=spec --test-concurrency=1 $files 2>&1 | tee "$out/node.log"
  node_pass=$(grep -Eo '^ℹ pass [0-9]+' "$out/node.log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
  node_fail=$(grep -Eo '^ℹ fail [0-9]+' "$out/node.log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
  node_skip=$(grep -Eo '^ℹ skipped [0-9]+' "$out/node.log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
  grep -Eq '^ℹ pass [0-9]+' "$out/node.log" ||
    { echo "!! tests on Node did not report"; status=1; node_fail=$((node_fail + 1)); }
  grep -ho 'SKIPPED.*' "$out/node.log" >>"$out/skips.log"
  grep -E '^ *﹣ ' "$out/node.log" | sed 's/^ *﹣ /skipped test on Node: /' >>"$out/skips.log"
fi

[ "$deno_fail" = 0 ] && [ "$bun_fail" = 0 ] && [ "$node_fail" = 0 ] || status=1
echo
echo "== skipped, and why"
if [ -s "$out/skips.log" ]; then sort -u "$out/skips.log"; else echo "(nothing)"; fi
echo
echo "Deno: $deno_pass passed, $deno_fail failed, $deno_skip skipped; Bun: $bun_pass passed, $bun_fail failed, $bun_skip skipped; Node: $node_pass passed, $node_fail failed, $node_skip skipped"
[ "$status" = 0 ] || echo "!! some check failed (see the lines starting with !! above)"
rm -rf "$out"
echo "$((deno_pass + bun_pass + node_pass)) passed, $((deno_fail + bun_fail + node_fail)) failed, $((deno_skip + bun_skip + node_skip)) skipped"
exit "$status"
