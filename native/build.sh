#!/usr/bin/env bash
# Builds the libtorch shim: build/native/libadept_torch.so
#   LIBTORCH_HOME  a libtorch folder with include/ and lib/ (official zip, or a pip
#                  torch package folder); unset: Debian's system libtorch (libtorch-dev).
#   CXX            C++ compiler (default g++).
# The shim records its libtorch by rpath, so it never picks another one by accident.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${ADEPT_NATIVE_DIR:-$root/build/native}
cxx=${CXX:-g++}

if [ -n "${LIBTORCH_HOME:-}" ]; then
  inc=$LIBTORCH_HOME/include
  lib=$LIBTORCH_HOME/lib
  [ -f "$inc/torch/csrc/api/include/torch/torch.h" ] || { echo "LIBTORCH_HOME=$LIBTORCH_HOME has no include/torch/csrc/api/include/torch/torch.h" >&2; exit 1; }
  [ -f "$lib/libtorch.so" ] || { echo "LIBTORCH_HOME=$LIBTORCH_HOME has no lib/libtorch.so" >&2; exit 1; }
  cmake_config=$LIBTORCH_HOME/share/cmake/Torch/TorchConfig.cmake
else
  multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  inc=/usr/include
  lib=/usr/lib/$multiarch
  if [ ! -f "$inc/torch/csrc/api/include/torch/torch.h" ] || [ ! -e "$lib/libtorch.so" ]; then
    echo "libtorch not found. Install Debian's: sudo apt-get install libtorch-dev libopenblas0-pthread" >&2
    echo "or point LIBTORCH_HOME at a libtorch folder (official zip, or a pip torch package folder)." >&2
    exit 1
  fi
  cmake_config=$lib/cmake/Torch/TorchConfig.cmake
fi

# -fno-math-errno: sqrt without the errno branch, so the one-pass AdamW loop vectorises (nothing reads errno).
flags=(-O2 -fno-math-errno -fPIC -shared -fvisibility=hidden -Wall -Wno-unused-parameter)
# libtorch builds differ in the libstdc++ string ABI; match the library's.
abi=1
if [ -f "$cmake_config" ] && grep -q '_GLIBCXX_USE_CXX11_ABI=0' "$cmake_config"; then abi=0; fi
flags+=(-D_GLIBCXX_USE_CXX11_ABI=$abi)

libs=(-ltorch -ltorch_cpu -lc10)
cuda_inc=""
if [ -e "$lib/libc10_cuda.so" ]; then
  # CUDA build (pip torch or libtorch-cuda): memory statistics need the CUDA runtime headers.
  for d in "${CUDA_HOME:-/usr/local/cuda}/include" /usr/local/cuda/include "$LIBTORCH_HOME"/../nvidia/cuda_runtime/include "$LIBTORCH_HOME"/../nvidia/cu*/include /usr/include; do
    if [ -f "$d/cuda_runtime_api.h" ]; then cuda_inc=$d; break; fi
  done
  libs+=(-Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed)
  if [ -n "$cuda_inc" ]; then
    flags+=(-DADEPT_WITH_CUDA -I"$cuda_inc")
  else
    echo "note: CUDA libtorch without cuda_runtime_api.h: CUDA memory queries disabled" >&2
  fi
fi

# Process groups (native/adept_dist.cpp) need Gloo's headers (Debian: libgloo-dev; pip torch ships them).
if [ -f "$inc/gloo/algorithm.h" ] || [ -f /usr/include/gloo/algorithm.h ]; then
  flags+=(-DADEPT_WITH_GLOO -DUSE_C10D_GLOO)
  # NCCL only in a CUDA build that has nccl.h; requesting it elsewhere is a clear error at run time.
  if [[ " ${flags[*]} " == *" -DADEPT_WITH_CUDA "* ]] && [ -n "$cuda_inc" ]; then
    for d in "$cuda_inc" "$LIBTORCH_HOME"/../nvidia/nccl/include /usr/include; do
      if [ -f "$d/nccl.h" ]; then flags+=(-DADEPT_WITH_NCCL -DUSE_C10D_NCCL -I"$d"); break; fi
    done
  fi
else
  echo "note: no Gloo headers (apt-get install libgloo-dev): adept's process groups (--nproc) disabled" >&2
fi

mkdir -p "$out"
tmp=$out/libadept_torch.so.tmp.$$
compile() {
  "$cxx" "$1" "${flags[@]}" -I"$inc" -I"$inc/torch/csrc/api/include" \
    "$root/native/adept_torch.cpp" "$root/native/adept_adamw.cpp" "$root/native/adept_dist.cpp" "$root/native/adept_cpu_cache.cpp" "$root/native/adept_fused.cpp" "$root/native/adept_attention.cpp" "$root/native/adept_grad_seen.cpp" -o "$tmp" \
    -L"$lib" -Wl,--disable-new-dtags -Wl,-rpath,"$lib" "${libs[@]}" -ldl
}
# libtorch 1.13-2.x build as C++17; newer releases may require C++20.
if ! compile -std=c++17 2>"$out/build-c++17.log"; then
  echo "note: C++17 build failed (see $out/build-c++17.log); retrying as C++20" >&2
  compile -std=c++20
fi
mv -f "$tmp" "$out/libadept_torch.so"
echo "built $out/libadept_torch.so against $lib"
