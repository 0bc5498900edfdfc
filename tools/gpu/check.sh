#!/usr/bin/env bash
# Runs THERE, on the GPU machine (no network, no JDK, no Maven), from a copy of the working
# tree plus build/gpu/ made here by tools/gpu/prepare.sh:
#   1. finds libtorch: $LIBTORCH_HOME if set, else the torch package of `python3`, then of
#      /usr/bin/python3 (it must hold include/ and lib/), else the system libtorch; prints
#      torch, CUDA and GPU facts;
#   2. builds the shim against it into build/gpu-run/native (native/build.sh);
#   3. runs the whole JUnit suite with the jlink-ed runtime (build/gpu/jre.tar.gz, unpacked
#      into build/gpu-run/jre, or build/gpu/jre) and JUnit's console launcher;
#   4. runs the CLI: --version, check --device cuda, bench ops, and the GPU benchmark of issue 10:
#      bench mfu (ADEPT stage-2 training of a Qwen2.5-0.5B- and a Qwen3-1.7B-shaped model, random
#      weights, bf16: tokens/s and MFU, against PyTorch eager with the same torch, same run);
#      bench failures are reported but tolerated.
# Everything is also written to $OUT/gpu-check.log when $OUT is set (the runtime has no
# java.xml, so no JUnit XML reports). Exits non-zero when the build, the tests,
# --version or check fail.
# Environment:
#   LIBTORCH_HOME          libtorch folder to build against (skips the python lookup)
#   ADEPT_PYTHONS          pythons to ask for torch, in order (default "python3 /usr/bin/python3")
#   ADEPT_REQUIRE_CUDA     passed to the tests; default 1 (CUDA tests fail, not skip, without a
#                          GPU); set it empty to unset it (CPU-only rehearsal)
#   ADEPT_CHECK_DEVICE     device for `adept check` (default cuda)
#   ADEPT_TEST_ARGS        extra console launcher arguments, e.g. "--include-tag cuda"
#   ADEPT_GPU_FULL_SUITE   1: also the multi-process CPU-only test classes (left out by default: CI runs them)
#   ADEPT_CHECK_BUDGET     seconds for the whole script (default 540); each step's timeout
#                          (build 300, tests 300, each CLI command 120, each bench mfu 100) is cut to what is left
#   ADEPT_PEAK_TFLOPS      the GPU's dense bf16 peak for MFU (default from nvidia-smi's name: H100/H200 989,
#                          A100 312, L40S 362; else bench mfu's measured matrix-product peak)
#   ADEPT_MFU_SHAPES       shapes for bench mfu (default "qwen2.5-0.5b qwen3-1.7b"; empty: none)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
gpu=$root/build/gpu     # made by prepare.sh, carried: read only here
run=$root/build/gpu-run # made here: the shim, the unpacked runtime (never carried)

main() {
  cd "$root" || return 1
  local start=$SECONDS torch_python="" py failed=() summary=() budget=${ADEPT_CHECK_BUDGET:-560}
  section() { printf '\n=== %s (t=%ss)\n' "$1" "$((SECONDS - start))"; }
  # cap SECONDS: a step's timeout, at most what is left of the budget (the summary still prints)
  cap() { local left=$((budget - (SECONDS - start) - 5)); [ "$left" -lt "$1" ] && echo $((left > 1 ? left : 1)) || echo "$1"; }
  # record NAME RC SECONDS
  record() { summary+=("$(printf '%-28s rc=%-4s %4ss' "$1" "$2" "$3")"); }

  section "machine"
  echo "host $(hostname), $(nproc) cpus, $(date -u +%Y-%m-%dT%H:%M:%SZ), repo $(git rev-parse --short HEAD 2>/dev/null || echo '(no git)')"
  [ -f "$gpu/MANIFEST.txt" ] && sed 's/^/prepared: /' "$gpu/MANIFEST.txt"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  else
    echo "no nvidia-smi"
  fi
  if command -v nvcc >/dev/null; then nvcc --version | tail -n 2; elif [ -x /usr/local/cuda/bin/nvcc ]; then /usr/local/cuda/bin/nvcc --version | tail -n 2; fi
  ls -d /usr/local/cuda*/include/cuda_runtime_api.h 2>/dev/null || echo "no /usr/local/cuda*/include/cuda_runtime_api.h"

  section "libtorch"
  if [ -n "${LIBTORCH_HOME:-}" ]; then
    echo "LIBTORCH_HOME=$LIBTORCH_HOME (preset)"
  else
    local info dir
    for py in ${ADEPT_PYTHONS:-python3 /usr/bin/python3}; do
      command -v "$py" >/dev/null || continue
      if ! info=$("$py" -c 'import os, torch
print(os.path.dirname(torch.__file__))
print("torch", torch.__version__, "cuda", torch.version.cuda, "cuda available", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1); then
        echo "note: $py ($(command -v "$py")) has no usable torch: $(tail -n 1 <<<"$info")"
        continue
      fi
      dir=$(head -n 1 <<<"$info")
      [ -n "$torch_python" ] || torch_python=$(command -v "$py")  # bench mfu's PyTorch side
      echo "$py: $(tail -n +2 <<<"$info") at $dir"
      if [ -f "$dir/include/torch/csrc/api/include/torch/torch.h" ] && [ -f "$dir/lib/libtorch.so" ]; then
        export LIBTORCH_HOME=$dir
        torch_python=$(command -v "$py")  # the same torch the shim is built against
        break
      fi
      echo "note: $dir lacks include/torch/csrc/api/include/torch/torch.h or lib/libtorch.so"
    done
    if [ -z "${LIBTORCH_HOME:-}" ]; then
      echo "note: no python torch with headers; falling back to the system libtorch (native/build.sh default)"
    else
      echo "LIBTORCH_HOME=$LIBTORCH_HOME"
    fi
  fi

  section "build the shim"
  export ADEPT_NATIVE_DIR=$run/native
  rm -f "$ADEPT_NATIVE_DIR/libadept_torch.so"
  local t0=$SECONDS rc
  timeout "$(cap 300)" native/build.sh
  rc=$?
  record "native/build.sh" "$rc" "$((SECONDS - t0))"
  if [ "$rc" != 0 ]; then
    failed+=(build)
    echo "shim build failed (rc=$rc); skipping the Java steps"
    finish
    return 1
  fi
  local missing
  missing=$(ldd "$ADEPT_NATIVE_DIR/libadept_torch.so" | grep 'not found')
  if [ -n "$missing" ] && [ -n "${LIBTORCH_HOME:-}" ]; then
    echo "ldd: unresolved libraries:"; echo "$missing"
    local extra
    extra=$(ls -d "$LIBTORCH_HOME"/../nvidia/*/lib "$LIBTORCH_HOME"/../nvidia/*/*/lib 2>/dev/null | paste -sd: -)
    if [ -n "$extra" ]; then
      export LD_LIBRARY_PATH=$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
      echo "note: added the pip nvidia library folders to LD_LIBRARY_PATH"
      ldd "$ADEPT_NATIVE_DIR/libadept_torch.so" | grep 'not found' || echo "ldd: all resolved now"
    fi
  else
    echo "ldd: $(ldd "$ADEPT_NATIVE_DIR/libadept_torch.so" | grep -c '=>') libraries, none missing${missing:+ (except: $missing)}"
  fi

  section "java runtime"
  local java=$gpu/jre/bin/java
  if [ ! -x "$java" ] && [ -f "$gpu/jre.tar.gz" ]; then
    rm -rf "$run/jre" && mkdir -p "$run" && tar -C "$run" -xzf "$gpu/jre.tar.gz" && echo "unpacked $gpu/jre.tar.gz into $run/jre"
    java=$run/jre/bin/java
  fi
  if [ ! -x "$java" ]; then
    echo "no $java: run tools/gpu/prepare.sh here and carry build/gpu"
    failed+=(java)
    finish
    return 1
  fi
  "$java" -version 2>&1
  . "$root/tools/env.sh"  # OMP_WAIT_POLICY, GLIBC_TUNABLES as every adept run
  : "${ADEPT_REQUIRE_CUDA=1}"
  if [ -n "$ADEPT_REQUIRE_CUDA" ]; then export ADEPT_REQUIRE_CUDA; else unset ADEPT_REQUIRE_CUDA; fi
  echo "OMP_WAIT_POLICY=$OMP_WAIT_POLICY GLIBC_TUNABLES=$GLIBC_TUNABLES ADEPT_REQUIRE_CUDA=${ADEPT_REQUIRE_CUDA-(unset)} LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}"
  local jvm=("$java" --enable-native-access=ALL-UNNAMED -Xss4m -Dadept.native.dir="$ADEPT_NATIVE_DIR")

  section "JUnit suite"
  local launcher cp jar
  launcher=$(ls "$gpu"/lib/junit-platform-console-standalone-*.jar 2>/dev/null | head -n 1)
  cp=$gpu/classes:$gpu/test-classes
  for jar in "$gpu"/lib/*.jar; do [ "$jar" = "$launcher" ] || cp+=:$jar; done
  t0=$SECONDS
  # shellcheck disable=SC2086
  # child JVMs started by tests (ChildJvm) need the class path the launcher's class loader has
  # The multi-process CPU-only classes (several JVMs each, minutes on few cores; CI runs them) are left out
  # unless ADEPT_GPU_FULL_SUITE=1: the GPU's minutes go to the CUDA tests and the benchmark.
  local exclude=()
  [ "${ADEPT_GPU_FULL_SUITE:-0}" = 1 ] || exclude=(--exclude-classname '.*\.(DataParallelTest|TorchrunTest|ResumeTest|DistTrainCommandTest|ParserFuzzTest|DemoCommandTest)')
  timeout "$(cap 300)" "${jvm[@]}" -Dadept.test.classpath="$cp" -jar "$launcher" execute --disable-banner --details=tree --details-theme=ascii --disable-ansi-colors \
    --class-path "$cp" --scan-class-path "$gpu/test-classes" "${exclude[@]}" ${ADEPT_TEST_ARGS:-}
  rc=$?
  record "JUnit suite" "$rc" "$((SECONDS - t0))"
  [ "$rc" = 0 ] || failed+=(tests)

  section "CLI"
  local cli=("${jvm[@]}" -cp "$gpu/classes:$gpu/lib/*" adept.cli.AdeptCommand)
  local name args
  for args in "--version" "check --device ${ADEPT_CHECK_DEVICE:-cuda}" "bench ops"; do
    name="adept $args"
    echo "--- $name"
    t0=$SECONDS
    # shellcheck disable=SC2086
    timeout "$(cap 120)" "${cli[@]}" $args
    rc=$?
    record "$name" "$rc" "$((SECONDS - t0))"
    if [ "$rc" != 0 ]; then
      case "$args" in
        bench*) echo "(bench failure tolerated)" ;;
        *) failed+=("$name") ;;
      esac
    fi
  done

  section "bench mfu (issue 10: adept-mode training, bf16, tokens/s and MFU vs PyTorch)"
  local peak=${ADEPT_PEAK_TFLOPS:-} gpu_name shape
  gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
  if [ -z "$peak" ]; then
    case "$gpu_name" in
      *H100*|*H200*|*GH200*) peak=989 ;;
      *A100*) peak=312 ;;
      *L40S*) peak=362 ;;
    esac
  fi
  echo "GPU: ${gpu_name:-unknown}; peak for MFU: ${peak:-measured matrix product} TFLOP/s; PyTorch side: ${torch_python:-none}"
  for shape in ${ADEPT_MFU_SHAPES-qwen2.5-0.5b qwen3-1.7b}; do
    name="adept bench mfu --shape $shape"
    echo "--- $name"
    if [ -z "${torch_python:-}" ]; then echo "(no python torch: skipped)"; record "$name" skip 0; continue; fi
    t0=$SECONDS
    timeout "$(cap 100)" "${cli[@]}" bench mfu --device "${ADEPT_CHECK_DEVICE:-cuda}" --shape "$shape" --python "$torch_python" \
      --threads 4 --rounds 3 --steps 4 ${peak:+--peak-tflops "$peak"}
    rc=$?
    record "$name" "$rc" "$((SECONDS - t0))"
    [ "$rc" = 0 ] || echo "(bench failure tolerated)"
  done
  finish
  [ "${#failed[@]}" = 0 ]
}

finish() {
  section "summary"
  printf '%s\n' "${summary[@]}"
  if [ "${#failed[@]}" = 0 ]; then
    echo "gpu check: OK in $((SECONDS - start))s"
  else
    echo "gpu check: FAILED ($(printf '%s; ' "${failed[@]}" | sed 's/; $//')) in $((SECONDS - start))s"
  fi
}

if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  main "$@" 2>&1 | tee "$OUT/gpu-check.log"
  exit "${PIPESTATUS[0]}"
else
  main "$@"
fi
