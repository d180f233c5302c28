#!/bin/bash
# slurm_test.sh CLCONV SOURCE_DIR — the README's Slurm recipe on a real
# Slurm: a single-node cluster on this machine (munged, slurmctld and slurmd
# as root, every file under a temporary directory, ports picked at random),
# running tests/cluster/clconv-array.sbatch — the script the README shows,
# checked here to be the same text — adapted only in its paths, as a
# 3-task array over 60 images:
#  1. every output exists exactly once and equals a single-process run, and
#     the three JSON logs together name each input once;
#  2. one task is killed (SIGKILL) mid-run; the array resubmitted with the
#     same script resumes: the outputs made before the kill are kept as they
#     were, the rest appear, and nothing partial (no temp file) is left.
# Stops the daemons it started, by PID. Exit 77 (skipped) without Slurm or
# munge (Debian: slurm-wlm munge), or when not root; CLCONV_REQUIRE_CLUSTER=1
# makes that a failure.
set -euo pipefail
PY=${PYTHON:-/usr/bin/python3}
clconv=$(readlink -f "$1") src=$(readlink -f "$2")
# CLCONV_REQUIRE_CLUSTER=1 (CI) turns a skip into a failure.
skip() { echo "skipped: $*"; [ "${CLCONV_REQUIRE_CLUSTER:-0}" = 1 ] && exit 1; exit 77; }
for b in munged slurmctld slurmd sbatch squeue scancel sinfo; do
    command -v "$b" >/dev/null || skip "$b missing (apt-get install slurm-wlm munge)"
done
[ "$(id -u)" = 0 ] || skip "the test cluster runs as root"
T=$(mktemp -d /tmp/clconv-slurm.XXXXXX)
chmod 755 "$T"
PIDS=()
stop() {
    for f in "${PIDS[@]}"; do
        [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    sleep 1
    for f in "${PIDS[@]}"; do
        [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
    done
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap stop EXIT
fail() { echo "FAIL: $*"; KEEP=1; exit 1; }
say() { echo "slurm_test: $*"; }

# The README shows the script verbatim.
"$PY" - "$src/README.md" "$src/tests/cluster/clconv-array.sbatch" <<'PY' || fail "README's Slurm script differs from tests/cluster/clconv-array.sbatch"
import sys
readme, script = open(sys.argv[1]).read(), open(sys.argv[2]).read()
sys.exit(0 if "```sh\n" + script + "```" in readme else 1)
PY

# munge, with its own key and socket
mkdir -m 700 "$T/munge"
head -c 1024 /dev/urandom >"$T/munge/munge.key"
chmod 400 "$T/munge/munge.key"
PIDS+=("$T/munge/munged.pid")
munged -f --key-file="$T/munge/munge.key" --socket="$T/munge/sock" \
    --pid-file="$T/munge/munged.pid" --log-file="$T/munge/munged.log" \
    --seed-file="$T/munge/munged.seed" || fail "munged did not start"

# slurm: one node with 3 GPUs (GRES on symlinks to /dev/null: the script asks
# --gres=gpu:1) and the CPUs the script asks for (config_overrides)
node=$(hostname -s)
port=$((20000 + RANDOM % 20000))
mkdir -p "$T/state" "$T/spool" "$T/log"
for i in 0 1 2; do ln -s /dev/null "$T/gpu$i"; done
cat >"$T/slurm.conf" <<CONF
ClusterName=clconvtest
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge/sock
CredType=cred/munge
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
KillWait=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName=$node CPUs=24 RealMemory=1000 Gres=gpu:3 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
echo "NodeName=$node Name=gpu File=$T/gpu[0-2]" >"$T/gres.conf"
export SLURM_CONF=$T/slurm.conf
PIDS+=("$T/slurmd.pid" "$T/slurmctld.pid")
slurmctld -c || fail "slurmctld did not start: $(tail -3 "$T/log/slurmctld.log")"
slurmd || fail "slurmd did not start: $(tail -3 "$T/log/slurmd.log")"
for _ in $(seq 100); do
    sinfo -h -o %t 2>/dev/null | grep idle >/dev/null && break
    sleep 0.2
done
sinfo -h -o %t | grep idle >/dev/null || fail "the node is not idle: $(sinfo 2>&1)"
say "cluster up: node $node, ports $port-$((port + 1))"

# 60 images in 3 folders, big enough that a task runs for seconds
"$PY" - "$T/photos" <<'PY'
import os, sys
import numpy as np
from PIL import Image
rng = np.random.default_rng(60)
for i in range(60):
    d = os.path.join(sys.argv[1], f"roll{i % 3}")
    os.makedirs(d, exist_ok=True)
    h, w = int(rng.integers(700, 900)), int(rng.integers(900, 1200))
    Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(
        os.path.join(d, f"img{i:02d}.png"))
PY
"$clconv" -q -f sharpen -r "$T/photos" -o "$T/single/" || fail "the single-process run"

# The README's script, adapted in its paths only; clconv comes from PATH.
sed -e "s|/data/photos|$T/photos|" -e "s|/data/sharpened/|$T/sharpened/|" \
    -e "s|\"logs/|\"$T/logs/|" "$src/tests/cluster/clconv-array.sbatch" >"$T/job.sbatch"
export PATH="$(dirname "$clconv"):$PATH"
mkdir -p "$T/logs"
submit() { # sbatch options...
    sbatch --parsable --array=0-2 --chdir="$T" -o "$T/log/job-%A_%a.out" "$@" "$T/job.sbatch"
}
outputs() { (cd "$1" && find . -type f | sort); }
same_as_single() {
    [ "$(outputs "$T/sharpened")" = "$(outputs "$T/single")" ] ||
        fail "$1: the output set differs: $(diff <(outputs "$T/single") <(outputs "$T/sharpened") | head -5)"
    (cd "$T/single" && find . -type f) | while read -r f; do
        cmp -s "$T/single/$f" "$T/sharpened/$f" || fail "$1: $f differs from the single-process run"
    done
    [ -z "$(find "$T/sharpened" -name '*clconv-tmp*')" ] || fail "$1: temp files left"
}

# 1. the whole array
job=$(submit --wait) || fail "sbatch --wait: $(cat "$T"/log/job-*.out 2>/dev/null | tail -5)"
same_as_single "array"
"$PY" - "$T/logs" "$T/photos" <<'PY' || fail "the JSON logs do not name each input exactly once"
import glob, json, os, sys
names = []
logs = sorted(glob.glob(os.path.join(sys.argv[1], "clconv-*.json")))
assert len(logs) == 3, logs
for p in logs:
    names += [im["input"] for im in json.load(open(p))["images"]]
want = sorted(os.path.join(r, f) for r, _, fs in os.walk(sys.argv[2]) for f in fs)
assert sorted(names) == want, (len(names), len(want))
PY
say "array job $job: 60 outputs, each once, equal to the single-process run; 3 logs name each input once"

# 2. kill task 1 mid-run, resubmit, resume
rm -rf "$T/sharpened" "$T/logs"/*
job=$(submit)
n1=0
for _ in $(seq 600); do
    n1=$(grep -h '"input"' "$T/logs/clconv-1.json" 2>/dev/null | wc -l || true)
    [ "$n1" -ge 2 ] && break
    sleep 0.05
done
[ "$n1" -ge 2 ] || fail "task 1 never got going"
scancel --signal=KILL "${job}_1"
for _ in $(seq 600); do
    [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
    sleep 0.1
done
before=$(outputs "$T/sharpened")
nb=$(echo "$before" | grep -c . || true)
[ "$nb" -lt 60 ] || fail "task 1 finished before it was killed (make the images bigger)"
# what existed before the resume must not be rewritten
(cd "$T/sharpened" && find . -type f -printf '%p %i %T@\n' | sort) >"$T/kept"
say "killed task 1 of job $job after $n1 images; $nb of 60 outputs present"
job2=$(submit --wait) || fail "resubmitted array failed"
same_as_single "resumed array"
(cd "$T/sharpened" && find . -type f -printf '%p %i %T@\n' | sort) >"$T/after"
missing=$(comm -23 "$T/kept" "$T/after")
[ -z "$missing" ] || fail "outputs made before the kill were rewritten: $(echo "$missing" | head -3)"
say "resubmitted as job $job2: resumed, the $nb earlier outputs untouched, all 60 present and exact, nothing partial"
echo "slurm_test: ok"
