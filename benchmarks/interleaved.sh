#!/usr/bin/env bash
# Before/after benchmark comparison, interleaved, median of N rounds (issue 10's rule: no
# benchmark down by more than 10%).
#
#   benchmarks/interleaved.sh [BEFORE] [AFTER] [ROUNDS]
#
# BEFORE and AFTER are git revisions or directories holding a checkout (with src/roleredis);
# defaults: 12eacde (main before issue 10's refactor) and this checkout; ROUNDS defaults to 3.
# A revision is checked out into a temporary git worktree, removed at the end. Both sides run
# `python -m roleredis.bench --json` with the same interpreter (this shell's python3, or
# $PYTHON) and so the same redis-py, hiredis and orjson: only roleredis's source differs. Runs
# alternate (before, after, before, ...) so that both see the same machine; the raw redis-py
# figures of each run are measured in that run, so ratios are like for like. Extra arguments
# for the benchmark go in $BENCH_ARGS (e.g. BENCH_ARGS="--scale 0.3" for a quick look).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
before="${1:-12eacde}"
after="${2:-$here}"
rounds="${3:-3}"
python="${PYTHON:-python3}"
out="$(mktemp -d "${TMPDIR:-/tmp}/roleredis-interleaved.XXXXXX")"
made=()

cleanup() {
    for dir in "${made[@]}"; do
        git -C "$here" worktree remove --force "$dir" >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT

source_of() {  # a directory with src/roleredis, for a directory or a git revision
    if [[ -d "$1/src/roleredis" ]]; then
        (cd "$1" && pwd)
    else
        local dir="$out/tree-$(echo "$1" | tr -c 'A-Za-z0-9' '_')"
        git -C "$here" worktree add --detach "$dir" "$1" >/dev/null 2>&1
        made+=("$dir")
        echo "$dir"
    fi
}

before_dir="$(source_of "$before")"
after_dir="$(source_of "$after")"
echo "before: $before ($before_dir)" >&2
echo "after:  $after ($after_dir)" >&2
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

for ((round = 1; round <= rounds; round++)); do
    for side in before after; do
        dir="${side}_dir"
        echo "round $round/$rounds: $side" >&2
        # shellcheck disable=SC2086
        PYTHONPATH="${!dir}/src" "$python" -m roleredis.bench --json ${BENCH_ARGS:-} \
            >"$out/$side-$round.json"
    done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

"$python" - "$out" "$rounds" <<'EOF'
import json
import statistics
import sys
from pathlib import Path

out, rounds = Path(sys.argv[1]), int(sys.argv[2])


def name(row):
    # the metrics row carries figures in its name: compare by what comes before them
    return row["name"].split(" (")[0] if row["name"].startswith("metrics") else row["name"]


def figures(side):
    runs = [json.loads((out / f"{side}-{n}.json").read_text()) for n in range(1, rounds + 1)]
    found = {}
    for run in runs:
        for row in run["results"]:
            # a ratio where there is one (higher is better), else the figure (us/call, bytes:
            # lower is better)
            value = row["ratio"] if row["ratio"] is not None else row["roleredis"]
            found.setdefault(name(row), []).append((value, row["unit"], row["ratio"] is not None))
    return runs[0]["machine"], found


machine, before = figures("before")
_, after = figures("after")
print(f"machine: {machine}; median of {rounds} interleaved runs (the runs in brackets)\n")
print("| benchmark | before | after | change |")
print("| --- | ---: | ---: | ---: |")
for key in list(before) + [k for k in after if k not in before]:

    def cell(values):
        if not values:
            return "-", None
        nums = [v for v, _, _ in values]
        med = statistics.median(nums)
        unit = "x" if values[0][2] else " " + values[0][1]
        runs = " ".join(f"{v:.2f}" if values[0][2] else f"{v:.1f}" for v in nums)
        return f"{med:.2f}{unit} [{runs}]" if values[0][2] else f"{med:.1f}{unit} [{runs}]", med

    b_text, b = cell(before.get(key, []))
    a_text, a = cell(after.get(key, []))
    change = ""
    if a is not None and b:
        ratio_row = (before.get(key) or after.get(key))[0][2]
        better = a / b - 1 if ratio_row else b / a - 1 if a else 0.0
        change = f"{better:+.0%}" + (" **worse**" if better < -0.10 else "")
    print(f"| {key} | {b_text} | {a_text} | {change} |")
print("\nchange: + is better (a higher ratio, or a lower time or size); **worse**: down > 10%")
print(f"raw JSON: {out}")
EOF
