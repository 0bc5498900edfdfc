#!/usr/bin/env bash
# Times allocator settings against each other: `adept bench train` and `adept bench adept` under each candidate
# GLIBC_TUNABLES value (both sides of a bench get it: the PyTorch reference inherits the environment), optionally with
# " cpu=malloc" (ADEPT_CPU_ALLOCATOR for adept's side: libtorch's own allocator instead of adept's block cache), interleaved
# (every round runs every candidate, in an order rotated per round), and prints per run and per candidate the
# step-time ratio adept / PyTorch, adept's step, and both sides' peak RSS. Memory per phase: `adept bench memory
# --glibc-tunables` (docs/benchmarks.md, "Allocator settings"). Run on a quiet machine: timings under other load say
# nothing (the peaks do not care). Each round runs both benches once per candidate (4 candidates by default).
#
#   tools/bench/alloc-timing.sh                    # the default candidates, 3 rounds
#   tools/bench/alloc-timing.sh "" "glibc.malloc.arena_max=1"     # your own candidates ("" = glibc's defaults)
#   ALLOC_ROUNDS=5 ALLOC_THREADS=2 tools/bench/alloc-timing.sh    # more rounds; libtorch threads (default: all cores)
#   ALLOC_SMOKE=1 tools/bench/alloc-timing.sh      # one short round of tiny benches: checks the script, times nothing
#   ALLOC_OUT=DIR                                  # keep every bench's full output there (default: a temporary folder)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

if [ $# -gt 0 ]; then
  candidates=("$@")
else
  candidates=(
    "glibc.malloc.arena_max=1"                                       # the default: adept's CPU block cache, one arena
    "glibc.malloc.arena_max=1 cpu=malloc"                            # libtorch's allocator (malloc) for every tensor
    "glibc.malloc.arena_max=1:glibc.malloc.tcache_count=256 cpu=malloc"  # the default before the allocator study
    "glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=1048576 cpu=malloc"  # malloc maps from 1 MiB: lean, many faults
  )
fi
rounds=${ALLOC_ROUNDS:-3}
out=${ALLOC_OUT:-$(mktemp -d -t adept-alloc-timing.XXXXXX)}
mkdir -p "$out"
threads=()
[ -n "${ALLOC_THREADS:-}" ] && threads=(--threads "$ALLOC_THREADS")
train_args=("${threads[@]}")
adept_args=("${threads[@]}")
if [ -n "${ALLOC_SMOKE:-}" ]; then
  rounds=1
  small=(--layers 2 --hidden 64 --intermediate 128 --vocab 512 --heads 4 --kv-heads 2 --batch 2 --seq 32)
  train_args+=("${small[@]}" --rounds 1 --steps 1 --warmup 1 --matmul-size 64)
  adept_args+=("${small[@]}" --copies 1 --rounds 1 --steps 1 --warmup 1 --opt-steps 1 --refreshes 1 --probe-batches 1)
fi

"$root/adept" --version >/dev/null  # builds the jar once, before anything is timed

# "adept_ms pytorch_ms ratio adept_peak pytorch_peak" from a bench's output
parse_train() {
  awk '/^step \(total\)/ {a=$3; p=$4; r=$5} /^peak RSS MiB/ {ja=$(NF-1); jp=$NF} END {print a, p, r, ja, jp}' "$1"
}
parse_adept() {
  awk '/^step \(total\)/ {a=$3; p=$5; r=$7}
       /peak RSS MiB: adept/ {for (i = 1; i <= NF; i++) {if ($i == "adept") ja=$(i+1); if ($i == "PyTorch") jp=$(i+1)}; gsub(",", "", ja)}
       END {print a, p, r, ja, jp}' "$1"
}

label() { [ -n "$1" ] && echo "$1" || echo "(glibc defaults)"; }
# A candidate is a GLIBC_TUNABLES value, optionally followed by " cpu=malloc" (ADEPT_CPU_ALLOCATOR; default cache).
tunables() { echo "${1%% cpu=*}"; }
cpu_allocator() { case "$1" in *" cpu="*) echo "${1##* cpu=}" ;; *) echo cache ;; esac; }

n=${#candidates[@]}
results="$out/results.txt"
: >"$results"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg); outputs in $out"
for ((r = 1; r <= rounds; r++)); do
  for ((k = 0; k < n; k++)); do
    c=$(( (k + r - 1) % n ))
    t=${candidates[$c]}
    for bench in train adept; do
      file="$out/round$r-cand$c-$bench.txt"
      if [ "$bench" = train ]; then args=("${train_args[@]}"); else args=("${adept_args[@]}"); fi
      GLIBC_TUNABLES="$(tunables "$t")" ADEPT_CPU_ALLOCATOR="$(cpu_allocator "$t")" "$root/adept" bench "$bench" "${args[@]}" >"$file" 2>"$file.err" || {
        echo "round $r, $(label "$t"), bench $bench failed; see $file.err" >&2; exit 1; }
      read -r ja jp ratio jpeak ppeak < <(if [ "$bench" = train ]; then parse_train "$file"; else parse_adept "$file"; fi)
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$r" "$bench" "$ratio" "$ja" "$jp" "$jpeak" "$ppeak" >>"$results"
      printf 'round %d  %-6s %-62s ratio %-6s adept %8s ms  PyTorch %8s ms  peak RSS %5s / %5s MiB  (load %s)\n' \
        "$r" "$bench" "$(label "$t")" "$ratio" "$ja" "$jp" "$jpeak" "$ppeak" "$(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done

echo
echo "per candidate, over $rounds round(s): median step ratio adept/PyTorch (min..max), median adept step ms, largest peak RSS adept / PyTorch MiB"
for ((c = 0; c < n; c++)); do
  for bench in train adept; do
    awk -F'\t' -v c="$c" -v b="$bench" -v name="$(label "${candidates[$c]}")" '
      function median(v, m,   i, j, t) { for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j-1] > v[j]; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
                                         return m % 2 ? v[(m+1)/2] : (v[m/2] + v[m/2+1]) / 2 }
      $1 == c && $3 == b { m++; ratio[m] = $4; ms[m] = $5; if ($7 > jp) jp = $7; if ($8 > pp) pp = $8
                           if (lo == "" || $4 < lo) lo = $4; if (hi == "" || $4 > hi) hi = $4 }
      END { if (m) printf "%-6s %-62s %.3f (%.3f..%.3f)  %8.1f ms  %5.0f / %5.0f MiB\n", b, name, median(ratio, m), lo, hi, median(ms, m), jp, pp }
    ' "$results"
  done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
