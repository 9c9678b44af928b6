#!/bin/sh
# Queue a sweep as a Slurm array of N shards and a merge that runs when all of them succeeded.
#
#   sh examples/shards/slurm-submit.sh CONFIG.lua OUT_DIR N [sweep options]
set -eu
if [ $# -lt 3 ]; then
  echo "usage: sh $0 CONFIG.lua OUT_DIR N [sweep options]" >&2
  exit 2
fi
config=$1 out=$2 n=$3
shift 3
here=$(dirname "$0")
fmclust=${FMCLUST:-fmclust}
jid=$(sbatch --parsable --array="1-$n" "$here/slurm.sbatch" "$config" "$out" "$@")
dirs=""
i=1
while [ "$i" -le "$n" ]; do dirs="$dirs $out/shard-$i-of-$n"; i=$((i + 1)); done
sbatch --parsable --dependency="afterok:$jid" --job-name=fmclust-merge --cpus-per-task=1 \
  --wrap "$fmclust merge --out $out$dirs"
echo "array job $jid: $n shards of $config into $out (merge queued after it)"
