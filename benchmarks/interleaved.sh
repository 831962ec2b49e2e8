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
#
# Each run is pinned to one core (taskset -c $CPUS, default 1; CPUS= to not pin), with the
# redis-server it starts. Unpinned, on a 2-core VM, a process's round trips ran at either
# about 37,000/s or about 10,000/s, depending on whether the scheduler put the client and the
# server on the same core (a wake-up across cores costs some 70 us there): a bimodal spread
# larger than any change measured. Pinned, the same loop ran at 37,000-38,000/s every time.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
before="${1:-12eacde}"
after="${2:-$here}"
rounds="${3:-3}"
python="${PYTHON:-python3}"
cpus="${CPUS-1}"
pin=()
if [[ -n "$cpus" ]] && command -v taskset >/dev/null; then
    pin=(taskset -c "$cpus")
fi
out="$(mktemp -d "${TMPDIR:-/tmp}/roleredis-interleaved.XXXXXX")"
made=()

cleanup() {
    for dir in "${made[@]}"; do
        git -C "$here" worktree remove --force "$dir" >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT

source_of() {  # sets $source: a directory with src/roleredis, for a directory or a revision
    if [[ -d "$1/src/roleredis" ]]; then
        source="$(cd "$1" && pwd)"
    else
        source="$out/tree-$(echo "$1" | tr -c 'A-Za-z0-9' '_')"
        git -C "$here" worktree add --detach "$source" "$1" >/dev/null 2>&1
        made+=("$source")  # not in a $(...) subshell, so that cleanup sees it
    fi
}

source_of "$before"
before_dir="$source"
source_of "$after"
after_dir="$source"
echo "before: $before ($before_dir)" >&2
echo "after:  $after ($after_dir)" >&2
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg); pinned: ${pin[*]:-no}" >&2

for ((round = 1; round <= rounds; round++)); do
    for side in before after; do
        dir="${side}_dir"
        echo "round $round/$rounds: $side" >&2
        # shellcheck disable=SC2086
        PYTHONPATH="${!dir}/src" "${pin[@]}" "$python" -m roleredis.bench --json ${BENCH_ARGS:-} \
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
    """{benchmark: [(ratio or figure, roleredis's own figure, unit, is a ratio), ...]}"""
    runs = [json.loads((out / f"{side}-{n}.json").read_text()) for n in range(1, rounds + 1)]
    found = {}
    for run in runs:
        for row in run["results"]:
            is_ratio = row["ratio"] is not None
            value = row["ratio"] if is_ratio else row["roleredis"]
            found.setdefault(name(row), []).append((value, row["roleredis"], row["unit"], is_ratio))
    return runs[0]["machine"], found


def short(x):
    return f"{x / 1000:.1f}k" if x >= 10_000 else f"{x:.0f}"


def cell(values):
    """'median [each run]' and the medians of the ratio (x) or figure, and of roleredis's own."""
    if not values:
        return "-", None, None
    nums = [v[0] for v in values]
    own = statistics.median(v[1] for v in values)
    med = statistics.median(nums)
    if values[0][3]:
        return f"{med:.2f}x [{' '.join(f'{v:.2f}' for v in nums)}]", med, own
    unit = values[0][2]
    return f"{med:.1f} {unit} [{' '.join(f'{v:.1f}' for v in nums)}]", med, own


def better(before, after, is_ratio):
    # + is better: a higher ratio or rate, a lower time or size
    return after / before - 1 if is_ratio else before / after - 1


machine, before = figures("before")
_, after = figures("after")
print(f"machine: {machine}; median of {rounds} interleaved runs (each run in brackets)\n")
print("| benchmark | before | after | change | roleredis alone, before -> after |")
print("| --- | ---: | ---: | ---: | ---: |")
for key in list(before) + [k for k in after if k not in before]:
    rows = before.get(key) or after.get(key)
    is_ratio = rows[0][3]
    b_text, b, b_own = cell(before.get(key, []))
    a_text, a, a_own = cell(after.get(key, []))
    change = own = ""
    if a and b:
        delta = better(b, a, is_ratio)
        change = f"{delta:+.0%}" + (" **worse**" if delta < -0.10 else "")
    if is_ratio and a_own and b_own:
        unit = rows[0][2]
        own = f"{short(b_own)} -> {short(a_own)} {unit} ({better(b_own, a_own, True):+.0%})"
    print(f"| {key} | {b_text} | {a_text} | {change} | {own} |")
print(
    "\nchange: + is better (a higher ratio, or a lower time or size); **worse**: down by more "
    "than 10%.\nroleredis alone: its own rate (median of the runs) without the raw baseline, "
    "which can jump between runs on a shared machine: it tells whether a ratio moved because "
    "of roleredis or because of the baseline."
)
print(f"raw JSON: {out}")
EOF
