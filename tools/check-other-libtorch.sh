#!/usr/bin/env bash
# Checks that the shim compiles against the other Debian release's libtorch headers
# (1.13 on Debian 12 <-> 2.6 on Debian 13) without installing anything: the header
# package (and Gloo's, for native/adept_dist.cpp) is downloaded into a scratch folder and the shim is
# syntax-checked against it: adept_dist.cpp with Gloo and without (the build without libgloo-dev).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case "$(cut -d. -f1 /etc/debian_version)" in
  12) suite=trixie ;;
  *) suite=bookworm ;;
esac
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/lists/partial" "$d/parts"
uri=$(grep -m1 '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null || echo "URIs: http://deb.debian.org/debian")
printf 'Types: deb\n%s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" "$suite" > "$d/parts/other.sources"
o=(-o "Dir::State::Lists=$d/lists" -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$d/parts")
apt-get "${o[@]}" update >/dev/null
(cd "$d" && apt-get "${o[@]}" download libtorch-dev libgloo-dev >/dev/null 2>&1)
dpkg-deb -x "$d"/libtorch-dev_*.deb "$d/pkg"
dpkg-deb -x "$d"/libgloo-dev_*.deb "$d/pkg"
version=$(grep -h 'define TORCH_VERSION_M[AI]' "$d/pkg/usr/include/torch/csrc/api/include/torch/version.h" | awk '{print $3}' | paste -sd.)
check() {
  g++ -std=c++17 -fsyntax-only -Wall -Wno-unused-parameter -Werror \
    -I"$d/pkg/usr/include" -I"$d/pkg/usr/include/torch/csrc/api/include" "$@"
}
check "$root/native/adept_torch.cpp"
check "$root/native/adept_adamw.cpp"
check "$root/native/adept_cpu_cache.cpp"
check "$root/native/adept_fused.cpp"
check "$root/native/adept_attention.cpp"
check "$root/native/adept_grad_seen.cpp"
check -DADEPT_WITH_GLOO -DUSE_C10D_GLOO "$root/native/adept_dist.cpp"
check "$root/native/adept_dist.cpp"
echo "native/adept_torch.cpp, adept_adamw.cpp, adept_cpu_cache.cpp, adept_fused.cpp, adept_attention.cpp, adept_grad_seen.cpp and adept_dist.cpp (with and without Gloo) compile against Debian $suite's libtorch $version headers"
