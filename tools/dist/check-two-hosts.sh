#!/usr/bin/env bash
# Two "hosts" on one machine: network namespaces adeptA (10.77.0.1) and adeptB (10.77.0.2) joined by a
# veth pair, one `adept train` rank in each, torchrun's variables set by hand as on two machines
# (MASTER_ADDR = host A's address, GLOO_SOCKET_IFNAME = each host's interface). Then the same run with
# --nproc 2 on loopback: both must end with byte-identical weights. Needs root and iproute2.
#   tools/dist/check-two-hosts.sh MODEL DATA OUT [train options...]
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "check-two-hosts: needs root (ip netns)" >&2; exit 2; }
[ $# -ge 3 ] || { echo "usage: $0 MODEL DATA OUT [train options...]" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
model=$1 data=$2 out=$3
shift 3
cleanup() { ip netns del adeptA 2>/dev/null || true; ip netns del adeptB 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add adeptA
ip netns add adeptB
ip link add vethA netns adeptA type veth peer name vethB netns adeptB
ip -n adeptA addr add 10.77.0.1/24 dev vethA
ip -n adeptB addr add 10.77.0.2/24 dev vethB
for ns in adeptA adeptB; do ip -n "$ns" link set lo up; done
ip -n adeptA link set vethA up
ip -n adeptB link set vethB up
echo "check-two-hosts: adeptA 10.77.0.1 (vethA) <-> adeptB 10.77.0.2 (vethB)"
"$root/adept" --version >/dev/null  # build once, not in both ranks
rank() {  # NS RANK IFACE, then the train options
  local ns=$1 r=$2 iface=$3
  shift 3
  ip netns exec "$ns" env RANK="$r" WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=10.77.0.1 MASTER_PORT=29512 GLOO_SOCKET_IFNAME="$iface" \
    ADEPT_DIST_TIMEOUT=60 "$root/adept" train --model "$model" --data "$data" --out "$out/two-hosts" --restart "$@"
}
t0=$SECONDS
rank adeptB 1 vethB "$@" > "$out/rank1.log" 2>&1 &
pid=$!
rank adeptA 0 vethA "$@" 2>&1 | tail -n 3
wait "$pid" || { echo "check-two-hosts: rank 1 failed:"; tail -n 5 "$out/rank1.log"; exit 1; }
echo "check-two-hosts: two hosts done in $((SECONDS - t0)) s"
ADEPT_DIST_TIMEOUT=60 "$root/adept" train --model "$model" --data "$data" --out "$out/loopback" --restart --nproc 2 "$@" 2>&1 | tail -n 1
if cmp -s "$out/two-hosts/model/model.safetensors" "$out/loopback/model/model.safetensors"; then
  echo "check-two-hosts: OK: the two-host run and --nproc 2 wrote byte-identical weights"
else
  echo "check-two-hosts: FAILED: the weights differ"; exit 1
fi
