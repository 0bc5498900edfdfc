#!/usr/bin/env bash
# Kill/resume acceptance (issue 20): a run SIGKILLed at random steps and rerun after each kill must end exactly as an
# uninterrupted run: the same final loss, summary.json (less its timing field), metrics (less timing fields) and model
# weights (sha256). Once in one process, once with --nproc 2 (the launcher is killed; its ranks must die with it).
#
#   tools/acceptance/kill-resume.sh [WORK_DIR]     (default: a new temporary folder, kept for inspection)
#   KILLS=10 STEPS=60 SAVE_EVERY=3 NPROCS="1 2" SEED=20 tools/acceptance/kill-resume.sh
#
# A tiny model (adept init: hidden 32, 2 layers) and a synthetic corpus keep it to a few CPU minutes. Exit 0 when every
# comparison holds, 1 otherwise; the figures go to stdout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="${1:-$(mktemp -d /tmp/adept-kill-resume.XXXXXX)}"
KILLS="${KILLS:-10}"
STEPS="${STEPS:-60}"
SAVE_EVERY="${SAVE_EVERY:-3}"
NPROCS="${NPROCS:-1 2}"
RANDOM="${SEED:-20}"  # seeds bash's RANDOM: the same kill steps every time
mkdir -p "$work"
# One build, copied: the runs use this jar even if the sources change meanwhile (./adept would rebuild under them).
"$root/adept" --version >/dev/null
cp "$root/cli/target/adept.jar" "$work/adept.jar"
rm -rf "$work/lib" && cp -r "$root/cli/target/lib" "$work/lib"  # the jar names its libraries in lib/ beside it
. "$root/tools/env.sh"
use_java_home
adept_cli() {
  exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Djava.awt.headless=true -Dadept.home="$root" \
    -Dadept.native.dir="$root/build/native" -jar "$work/adept.jar" "$@"
}
cd "$work"
echo "kill-resume: work folder $work; $KILLS kills of $STEPS-step runs, checkpoint every $SAVE_EVERY, nproc: $NPROCS"

# --- a tiny model and corpus --------------------------------------------------------------------------------------
if [ ! -f model/config.json ]; then
  python3 - <<'EOF'
import random
random.seed(7)
words = ["".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(random.randint(2, 8))) for _ in range(600)]
with open("corpus.txt", "w") as f:
    for _ in range(2000):
        f.write(" ".join(random.choice(words) for _ in range(30)) + "\n")
with open("probe.txt", "w") as f:
    for _ in range(60):
        f.write(" ".join(random.choice(words) for _ in range(30)) + "\n")
EOF
  (adept_cli tokenizer --data=corpus.txt --out=tok --vocab=400 >/dev/null)
  (adept_cli init --tokenizer tok --out model --hidden 32 --layers 2 --heads 2 --kv-heads 1 --intermediate 64 --context 64 >/dev/null)
fi

# The run's arguments less --out and --nproc; adept_cli execs java in its subshell, so $! of a background run is the JVM's pid.
args=(train --model model --data corpus.txt --probe probe.txt --mode adept --k 1 --steps "$STEPS" --block-size 16 --batch-size 4
      --save-every "$SAVE_EVERY" --keep-checkpoints 2 --refresh-every 10 --seed 3 --no-tensorboard)

kill_at() {  # kill_at OUT TARGET PID STARTED: SIGKILL PID once OUT/metrics.jsonl (rewritten after STARTED) reaches TARGET;
             # prints the step reached and PID's child processes
  python3 - "$1/metrics.jsonl" "$2" "$3" "$4" <<'EOF'
import json, os, signal, sys, time
metrics, target, pid, started = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), os.stat(sys.argv[4]).st_mtime_ns
def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not yet reaped) is not running
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
while alive():
    step = 0
    try:
        if os.stat(metrics).st_mtime_ns > started:  # the resumed run has rewritten or appended to it
            for line in open(metrics, encoding="utf-8"):
                try:
                    step = max(step, int(json.loads(line)["step"]))
                except (ValueError, KeyError):
                    pass
    except FileNotFoundError:
        pass
    if step >= target:
        children = []  # the ranks of a --nproc launcher, to check that they die with it
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        children.append(entry)
            except (FileNotFoundError, ProcessLookupError):
                pass  # gone meanwhile
        os.kill(pid, signal.SIGKILL)
        print(step, *children)
        sys.exit(0)
    time.sleep(0.01)
sys.exit(3)  # the run ended first
EOF
}

fingerprint() {  # what must be equal: final loss, summary and metrics less timing, weights' sha256
  python3 - "$1" <<'EOF'
import hashlib, json, os, sys
out = sys.argv[1]
summary = json.load(open(os.path.join(out, "summary.json")))
summary.pop("wall_seconds", None)
metrics = []
for line in open(os.path.join(out, "metrics.jsonl"), encoding="utf-8"):
    o = json.loads(line)
    for k in ("tokens_per_s", "elapsed_s"):
        o.pop(k, None)
    metrics.append(o)
weights = {}
for name in sorted(os.listdir(os.path.join(out, "model"))):
    if name.endswith(".safetensors"):
        weights[name] = hashlib.sha256(open(os.path.join(out, "model", name), "rb").read()).hexdigest()
print(json.dumps({"final_loss": summary["final_loss"], "summary": summary, "metrics": metrics, "weights": weights}, sort_keys=True))
EOF
}

failures=0
for nproc in $NPROCS; do
  ref="ref-nproc$nproc"
  killed="killed-nproc$nproc"
  rm -rf "$ref" "$killed"
  t0=$SECONDS
  (adept_cli "${args[@]}" --out "$ref" --nproc "$nproc") >"$ref.log" 2>&1 || { echo "nproc $nproc: the uninterrupted run failed (see $work/$ref.log)"; exit 1; }
  echo "nproc $nproc: uninterrupted run: $((SECONDS - t0)) s"

  # Kill steps: random, ascending, plus one right after a checkpoint near the end.
  targets=$( { for _ in $(seq 2 "$KILLS"); do echo $((1 + RANDOM % (STEPS - 1))); done;
               echo $(( (STEPS - 1) / SAVE_EVERY * SAVE_EVERY )); } | sort -n | tr '\n' ' ')
  t0=$SECONDS
  kills=0
  survivors=0
  for target in $targets; do
    touch started
    sleep 0.01  # metrics.jsonl written after this start has a later mtime
    (adept_cli "${args[@]}" --out "$killed" --nproc "$nproc") >>"$killed.log" 2>&1 &
    pid=$!
    status=0
    killed_at=$(kill_at "$killed" "$target" "$pid" started) || status=$?
    if [ "$status" -eq 3 ]; then wait "$pid" || true; continue; fi  # the run ended first
    [ "$status" -eq 0 ] || { echo "kill-resume: the step watcher failed"; kill -KILL "$pid"; exit 1; }
    read -r at children <<<"$killed_at"
    wait "$pid" 2>/dev/null || true
    kills=$((kills + 1))
    set -- $children
    echo "  SIGKILL at step $at (target $target)$([ $# -gt 0 ] && echo ", the launcher of $# ranks")"
    for child in $children; do  # ranks die with their launcher
      for _ in $(seq 1 100); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$child" 2>/dev/null; then
        echo "  rank pid $child survived its launcher: FAIL"
        survivors=$((survivors + 1))
        kill -KILL "$child" 2>/dev/null || true
      fi
    done
  done
  (adept_cli "${args[@]}" --out "$killed" --nproc "$nproc") >>"$killed.log" 2>&1 || { echo "nproc $nproc: the final rerun failed (see $work/$killed.log)"; exit 1; }
  echo "nproc $nproc: $kills kills and reruns: $((SECONDS - t0)) s"
  grep -h "NaN" "$killed.log" >/dev/null && { echo "  NaN in the output"; failures=$((failures + 1)); }
  [ "$survivors" -eq 0 ] || failures=$((failures + 1))

  a=$(fingerprint "$ref")
  b=$(fingerprint "$killed")
  python3 - "$a" "$b" "$nproc" <<'EOF' || failures=$((failures + 1))
import json, sys
a, b, nproc = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
print(f"nproc {nproc}: final loss {a['final_loss']!r} uninterrupted, {b['final_loss']!r} killed and rerun")
for name, digest in a["weights"].items():
    print(f"nproc {nproc}: {name} sha256 {digest[:16]}... uninterrupted, {b['weights'].get(name, 'missing')[:16]}... killed and rerun")
same = {k: a[k] == b[k] for k in ("final_loss", "summary", "metrics", "weights")}
print(f"nproc {nproc}: equal: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items()))
sys.exit(0 if all(same.values()) else 1)
EOF
done
if [ "$failures" -eq 0 ]; then echo "kill-resume: PASS"; else echo "kill-resume: FAIL ($failures)"; exit 1; fi
