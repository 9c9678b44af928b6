#!/bin/sh
# Run a sweep as SHARDS slices on one machine with GNU parallel, then merge them.
#
#   sh examples/shards/parallel.sh CONFIG.lua OUT_DIR [extra sweep options, e.g. --quick]
#
# Environment: SHARDS (default 4), JOBS (concurrent shards, default 2), FMCLUST (the command,
# default `fmclust`), OMP_NUM_THREADS (threads per shard; default: the cores shared out between
# the jobs, so JOBS shards together never oversubscribe the machine).
# Each shard writes OUT_DIR/shard-i-of-n/rows.jsonl; all of them share OUT_DIR/cache, so an
# embedding one shard computed is read by the others. Rerunning resumes every shard.
set -eu
if [ $# -lt 2 ]; then
  echo "usage: sh $0 CONFIG.lua OUT_DIR [sweep options]" >&2
  exit 2
fi
config=$1
out=$2
shift 2
shards=${SHARDS:-4}
jobs=${JOBS:-2}
fmclust=${FMCLUST:-fmclust}
cores=$(nproc)
threads=${OMP_NUM_THREADS:-$(( (cores + jobs - 1) / jobs ))}
export OMP_NUM_THREADS=$threads

# --halt now,fail=1: one failing shard stops the others (their finished rows are kept);
# --tag --line-buffer: each shard's progress lines, prefixed with its number; its table is dropped
# (the merge prints the whole one)
seq 1 "$shards" | parallel --halt now,fail=1 -j "$jobs" --tag --line-buffer \
  "$fmclust" sweep "$config" --out "$out" --shard "{}/$shards" "$@" ">/dev/null"

dirs=""
i=1
while [ "$i" -le "$shards" ]; do
  dirs="$dirs $out/shard-$i-of-$shards"
  i=$((i + 1))
done
# shellcheck disable=SC2086
"$fmclust" merge --out "$out" $dirs
