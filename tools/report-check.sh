#!/bin/sh
# report-check: build an HTML report from a tiny sweep and open it in headless Chromium.
# Fails when the page has a JavaScript error, when the tables are not sortable (the page's own
# #selftest sorts the results by ARI both ways), or when the figures are missing or do not decode.
# Installs Debian's chromium when it is missing (apt-get; as root, or through sudo).
#   sh tools/report-check.sh [--keep]      (--keep: leave the work directory for a look)
#   sh tools/report-check.sh --page FILE   (check a page already written, e.g. results/annexe/report.html)
set -eu
PAGE=""
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --page) [ $# -ge 2 ] || { echo "report-check: --page needs a file" >&2; exit 2; }
            PAGE=$(readlink -f "$2") || { echo "report-check: no such page: $2" >&2; exit 2; }; shift ;;
    *) echo "usage: sh tools/report-check.sh [--keep] [--page FILE]" >&2; exit 2 ;;
  esac
  shift
done
[ -z "$PAGE" ] || [ -s "$PAGE" ] || { echo "report-check: no such page: $PAGE" >&2; exit 2; }
cd "$(dirname "$0")/.."
ROOT=$(pwd)

fail() { echo "report-check: FAIL: $*" >&2; exit 1; }

CHROMIUM=""
for c in chromium chromium-browser; do
  if command -v "$c" >/dev/null 2>&1; then CHROMIUM=$(command -v "$c"); break; fi
done
if [ -z "$CHROMIUM" ]; then
  echo "report-check: installing Debian's chromium"
  sh .ci/deps.sh chromium || fail "cannot install chromium (apt-get needs root or sudo)"
  CHROMIUM=$(command -v chromium) || fail "chromium is still missing after apt-get"
fi

make -s all >/dev/null || fail "make failed"

WORK=$(mktemp -d /tmp/fmclust-report-check.XXXXXX)
if [ "$KEEP" -eq 0 ]; then trap 'rm -rf "$WORK"' EXIT INT TERM; fi
export LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;" LUA_CPATH="$ROOT/build/?.so;;"

chrome() {
  # no network, a throwaway profile, time to run the scripts and decode the images
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --no-default-browser-check \
    --user-data-dir="$WORK/profile" --proxy-server="127.0.0.1:9" --virtual-time-budget=10000 "$@" 2>>"$WORK/chromium.log"
}

# check_page FILE IMAGES: the DOM after load must hold the markers of a clean run
check_page() {
  page=$1
  images=$2
  dom="$WORK/$(basename "$page").dom"
  chrome --dump-dom "file://$page#selftest" >"$dom" || { echo "chromium failed (see $WORK/chromium.log)"; return 1; }
  grep -q '<div id="js-errors" data-count="0"' "$dom" || {
    echo "JavaScript error: $(sed -n 's/.*<div id="js-errors"[^>]*>\([^<]*\)<.*/\1/p' "$dom")"; return 1; }
  ready=$(grep -o '<div id="report-ready"[^>]*>' "$dom") || { echo "no #report-ready: the page script did not finish"; return 1; }
  echo "$ready" | grep -q 'data-selftest="pass"' || { echo "sorting self-test: $ready"; return 1; }
  echo "$ready" | grep -q 'data-tables="2"' || { echo "expected 2 sortable tables: $ready"; return 1; }
  echo "$ready" | grep -q "data-images-ok=\"$images\"" || { echo "expected $images decoded figures: $ready"; return 1; }
  rows=$(sed -n '/<table class="sortable" id="results">/,/<\/table>/p' "$dom" | sed 's|</table>.*||' | grep -o '<tr' | wc -l)
  [ "$rows" -gt 1 ] || { echo "the results table has no rows"; return 1; }
  return 0
}

# --page FILE: one page already written (every figure it holds must decode)
if [ -n "$PAGE" ]; then
  IMAGES=$(grep -o 'src="data:image/png;base64,' "$PAGE" | wc -l)
  [ "$IMAGES" -ge 1 ] || fail "$PAGE holds no figures"
  msg=$(check_page "$PAGE" "$IMAGES") || fail "$PAGE: $msg"
  echo "report-check: OK — $PAGE: no JavaScript errors, tables sortable, $IMAGES figures shown ($CHROMIUM)"
  exit 0
fi

# A tiny sweep: 1,000 Fashion-MNIST test images when the data is installed (else synthetic 8×8
# images), a few reducers and clusterers, a small autoencoder for the reconstructions.
lua5.4 - "$WORK" <<'EOF' || fail "building the report failed"
local fm = require "fmclust"
local sweep = require "fmclust.sweep"
local work = arg[1]
local ok, X, y, names = pcall(fm.data.fashion_mnist, {split = "test"})
if ok then
  local idx = {}
  for i = 1, 1000 do idx[i] = i end
  X = X:rows(idx)
  local t = {}
  for i = 1, 1000 do t[i] = y[i] end
  y = fm.labels(t)
else
  names = {"a", "b", "c", "d"}
  local R = fm.matrix.random(400, 64, {seed = 1})
  local rows, t = {}, {}
  for i = 1, 400 do
    local c = (i - 1) % 4
    rows[i] = {}
    for j = 1, 64 do rows[i][j] = 0.3 * R:get(i, j) + ((j - 1) % 4 == c and 0.7 or 0) end
    t[i] = c
  end
  X, y = fm.matrix(rows), fm.labels(t)
end
local n, d = X:shape()
sweep.run({name = "check", data = X, truth = y,
  reducers = {{"none"}, {"pca", n_components = {2, 10}}, {"umap", n_components = 2, n_neighbors = 10}},
  clusterers = {{"kmeans", n_clusters = #names}, {"hdbscan", min_cluster_size = 20}},
  seeds = {0}}, {out = work .. "/sweep", progress = false, fsync = false})
local ae = fm.autoencoder{kind = "dense", layers = {d, 64, 10}, seed = 0}
ae:fit(X, {epochs = 3, batch_size = 64})
local path, info = fm.report.html(work .. "/sweep", {X = X, y = y, names = names, ae = ae})
local drawn = 0
for _, f in ipairs(info.figures) do
  if f.drawn then drawn = drawn + 1 else io.stderr:write("report-check: figure left out: ", f.name, ": ", f.why, "\n") end
end
local fh = assert(io.open(work .. "/expected", "w"))
fh:write(("%d %d\n"):format(drawn, #info.figures))
fh:close()
print(("report-check: %s (%d rows, %d of %d figures, %d bytes)"):format(path, #sweep.read_rows(work .. "/sweep/rows.jsonl"),
  drawn, #info.figures, info.bytes))
EOF

read -r EXPECT_IMAGES N_FIGURES <"$WORK/expected"
[ "$EXPECT_IMAGES" -eq "$N_FIGURES" ] || fail "only $EXPECT_IMAGES of $N_FIGURES figures drawn"

# the command line writes its page too
bin/fmclust report --html "$WORK/cli.html" "$WORK/sweep" >/dev/null 2>"$WORK/cli.err" || fail "fmclust report: $(cat "$WORK/cli.err")"
[ -s "$WORK/cli.html" ] || fail "fmclust report wrote no page"


msg=$(check_page "$WORK/sweep/report.html" "$EXPECT_IMAGES") || fail "report.html: $msg"
CLI_IMAGES=$(grep -o 'src="data:image/png;base64,' "$WORK/cli.html" | wc -l)
[ "$CLI_IMAGES" -ge 2 ] || fail "cli.html has $CLI_IMAGES figures"
msg=$(check_page "$WORK/cli.html" "$CLI_IMAGES") || fail "cli.html: $msg"

# the check must catch a broken page: the same page with a failing script
sed 's|</body>|<script>undefined_function_of_the_check()</script></body>|' "$WORK/sweep/report.html" >"$WORK/broken.html"
if check_page "$WORK/broken.html" "$EXPECT_IMAGES" >/dev/null; then
  fail "a page with a JavaScript error passed the check"
fi

chrome --hide-scrollbars --window-size=1300,2400 --screenshot="$WORK/report.png" "file://$WORK/sweep/report.html" >/dev/null ||
  fail "chromium could not take a screenshot"
[ "$(wc -c <"$WORK/report.png")" -gt 20000 ] || fail "the screenshot is (nearly) empty"

echo "report-check: OK — no JavaScript errors, tables sortable, $EXPECT_IMAGES figures shown ($CHROMIUM)"
[ "$KEEP" -eq 1 ] && echo "report-check: files in $WORK"
exit 0
