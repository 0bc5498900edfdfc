#!/usr/bin/env bash
# Installs what adept needs on Debian 12 or 13 and builds the native shim.
#   tools/setup.sh           libtorch (or LIBTORCH_HOME), Gloo headers, OpenBLAS, libclang, JDK 22+, Maven, sentencepiece
#   tools/setup.sh --python  also Debian's python3-torch (benchmark reference, fixtures)
# Idempotent: installs only what is missing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

want_python=0
[ "${1:-}" = "--python" ] && want_python=1

multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
packages=()
if [ -z "${LIBTORCH_HOME:-}" ] && [ ! -e "/usr/lib/$multiarch/libtorch.so" ]; then packages+=(libtorch-dev); fi
[ -e "/usr/lib/$multiarch/openblas-pthread/libblas.so.3" ] || packages+=(libopenblas0-pthread)
# Gloo's headers for the shim's process groups (adept train --nproc); pip torch folders ship their own.
if [ -z "${LIBTORCH_HOME:-}" ] && [ ! -f /usr/include/gloo/algorithm.h ]; then packages+=(libgloo-dev); fi
# Where tools/bindgen looks for libclang (Debian 13's libclang1-19 ships only libclang-19.so.1).
have_libclang() {
  local f
  for f in /usr/lib/llvm-*/lib/libclang.so.1 /usr/lib/*-linux-gnu/libclang-*.so.1; do [ -e "$f" ] && return 0; done
  return 1
}
if ! have_libclang; then
  if [ "$(debian_major)" -ge 13 ]; then packages+=(libclang1-19); else packages+=(libclang1-16); fi
fi
command -v g++ >/dev/null || packages+=(g++)
# Java2D text for adept probe's chart: a headless JDK from Debian needs these for its font manager.
for p in libfreetype6 libharfbuzz0b fontconfig fonts-dejavu-core; do
  dpkg -s "$p" >/dev/null 2>&1 || packages+=("$p")
done
command -v mvn >/dev/null || packages+=(maven)
# adept demo: spm_train / spm_export_vocab train its tokenizer (the demo's text itself comes from apt-get download, no root).
command -v spm_train >/dev/null || packages+=(sentencepiece)
if ! find_java_home >/dev/null; then
  if [ "$(debian_major)" -ge 13 ]; then
    packages+=(openjdk-25-jdk-headless)
  else
    echo "No JDK 22+ found and Debian $(debian_major) packages none: install one (e.g. Temurin 25) and set JAVA_HOME." >&2
    exit 1
  fi
fi
if [ "$want_python" = 1 ] && ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then packages+=(python3-torch); fi

if [ "${#packages[@]}" -gt 0 ]; then
  echo "setup: installing ${packages[*]}"
  apt_install "${packages[@]}"
fi

# Rebuild the shim when it is missing or older than its sources.
shim="$ADEPT_ROOT/build/native/libadept_torch.so"
if [ ! -f "$shim" ] || [ -n "$(find "$ADEPT_ROOT/native" -newer "$shim" -type f | head -n 1)" ]; then
  "$ADEPT_ROOT/native/build.sh"
fi
