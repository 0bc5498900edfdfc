#!/usr/bin/python3
"""PyTorch-Python reference for `adept bench ops`: per-call cost of tiny torch calls.

Run with Debian's interpreter (/usr/bin/python3, package python3-torch: the same libtorch
1.13 that adept's shim links against). Each op is timed as K calls in a plain for-loop
with time.perf_counter_ns, repeated R times; results are ns/call per repeat.

  /usr/bin/python3 tools/bench/ops_reference.py --threads 2 --repeats 5 --iterations 200000

prints one JSON object. With --serve it stays up for interleaved runs: it prints a
{"ready": ...} line, then for every line "R" read from stdin it runs R repeats of every
op and prints one JSON line; an empty line or EOF ends it.

The --serve protocol and the environment (OMP_WAIT_POLICY=PASSIVE, OPENBLAS_NUM_THREADS, glibc's
malloc thresholds, as adept's launcher sets them) are bench_common.py's; the values seen are
reported in the output.
"""
import argparse
import json
import os
import time

import bench_common

torch = bench_common.import_torch("ops_reference.py")


def make_ops():
    a = torch.rand(16, dtype=torch.float32)
    b = torch.rand(16, dtype=torch.float32)
    is_grad_enabled = torch.is_grad_enabled
    add = torch.add
    a_add = a.add

    # Each op runs k calls; the loop is the same shape for all of them (including
    # "empty", which shows the interpreter's own loop cost, not subtracted anywhere).
    def empty(k):
        for _ in range(k):
            pass

    def trivial(k):
        for _ in range(k):
            is_grad_enabled()

    def torch_add(k):
        for _ in range(k):
            add(a, b)

    def method_add(k):
        for _ in range(k):
            a_add(b)

    def operator_add(k):
        for _ in range(k):
            a + b

    return {
        "empty_loop": empty,
        "is_grad_enabled": trivial,
        "torch.add": torch_add,
        "a.add(b)": method_add,
        "a + b": operator_add,
    }


def measure(ops, repeats, iterations):
    out = {name: [] for name in ops}
    for _ in range(repeats):
        for name, fn in ops.items():
            t0 = time.perf_counter_ns()
            fn(iterations)
            t1 = time.perf_counter_ns()
            out[name].append((t1 - t0) / iterations)
    return out


def info(args):
    out = bench_common.info(torch)
    out["grad_enabled"] = torch.is_grad_enabled()
    out["iterations"] = args.iterations
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--iterations", type=int, default=200_000)
    p.add_argument("--warmup", type=int, default=100_000, help="calls of every op before measuring")
    p.add_argument("--serve", action="store_true", help="interleaved mode: read repeat counts from stdin")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    ops = make_ops()
    for fn in ops.values():
        fn(args.warmup)

    if not args.serve:
        result = info(args)
        result["ns_per_call"] = measure(ops, args.repeats, args.iterations)
        print(json.dumps(result))
        return

    bench_common.serve(info(args), lambda repeats: {"ns_per_call": measure(ops, repeats, args.iterations)})


if __name__ == "__main__":
    main()
