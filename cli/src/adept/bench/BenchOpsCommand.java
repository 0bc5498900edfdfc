package adept.bench;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.RawCalls;
import adept.tensor.Torch;
import static adept.bench.BenchSupport.median;
import static adept.bench.BenchSupport.range;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Per-call cost of a trivial shim call and of a small op (adding two 16-element float32
 * tensors) through adept, against the same calls through PyTorch-Python (Debian's
 * python3-torch, the same libtorch) measured in the same run: Java rounds and Python rounds
 * alternate, and the table shows medians over all repeats. The Python side is
 * tools/bench/ops_reference.py, started through {@link PythonReference}.
 */
@Command(name = "ops", mixinStandardHelpOptions = true,
        description = {"Per-call cost of a trivial shim call and of a 16-element add, adept (Java) vs PyTorch (Python), "
                + "measured in the same run with interleaved rounds. Target: adept <= 0.5 x PyTorch's per-op time.",
                "Needs Debian's python3-torch for /usr/bin/python3 (sudo apt-get install python3-torch, or tools/setup.sh --python)."})
public final class BenchOpsCommand implements Callable<Integer> {
    static final double TARGET = 0.5;
    private static final String WHO = "adept bench ops";

    @Option(names = "--rounds", defaultValue = "7", description = "interleaved rounds, each: Java repeats then Python repeats (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--repeats", defaultValue = "2", description = "timed repeats of every op per side per round (default: ${DEFAULT-VALUE})")
    int repeats;

    @Option(names = "--iterations", defaultValue = "200000", description = "calls per timed repeat (default: ${DEFAULT-VALUE})")
    int iterations;

    @Option(names = "--warmup", defaultValue = "300000", description = "untimed calls of every op before measuring (JIT warm-up; default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--scope-ops", defaultValue = "64", description = "ops per Scope: the scope is closed (results freed) every N ops, inside the timing (default: ${DEFAULT-VALUE})")
    int scopeOps;

    @Option(names = "--breakdown", description = "also time where the add's cost goes: raw calls freed in batches, Tensor.add + close() without a scope")
    boolean breakdown;

    @Mixin
    PythonReference.Options reference;

    // Java-side ops, in table order.
    static final String RAW_TRIVIAL = "raw at_is_grad_enabled()";
    static final String API_TRIVIAL = "Torch.isGradEnabled()";
    static final String RAW_ADD = "raw at_add + at_free";
    static final String API_ADD = "a.add(b) in Scope";
    static final String RAW_ADD_BATCH = "raw at_add, at_free per scope-ops batch";
    static final String API_ADD_CLOSE = "a.add(b).close(), no scope";
    static final String[] JAVA_OPS = {RAW_TRIVIAL, API_TRIVIAL, RAW_ADD, API_ADD, RAW_ADD_BATCH, API_ADD_CLOSE};
    // Python-side ops, as ops_reference.py names them.
    static final String[] PY_OPS = {"empty_loop", "is_grad_enabled", "torch.add", "a.add(b)", "a + b"};

    private volatile long sink;

    @Override
    public Integer call() throws Exception {
        try {
            return measure();
        } catch (PythonReference.SetupException e) {
            System.err.println(e.getMessage());
            return 2;
        }
    }

    private int measure() throws Exception {
        if (rounds < 1 || repeats < 1 || iterations < 1 || scopeOps < 1 || warmup < 0) {
            System.err.println(WHO + ": --rounds, --repeats, --iterations and --scope-ops must be >= 1");
            return 2;
        }
        int threadCount = reference.threadCount();
        Path script = PythonReference.findScript(WHO, "ops_reference.py");
        Torch.setNumThreads(threadCount);

        Tensor a;
        Tensor b;
        try (Scope scope = Scope.open()) {  // made in a scope and kept: closed below, never left to the fallback owner
            a = Tensor.rand(DType.FLOAT32, Device.CPU, 16).keep();
            b = Tensor.rand(DType.FLOAT32, Device.CPU, 16).keep();
        }
        List<String> pyArgs = List.of("--iterations", Integer.toString(iterations), "--warmup", Integer.toString(warmup));
        try (PythonReference py = PythonReference.start(WHO, reference.python, script, threadCount, pyArgs)) {
            checkAdd(a, b);
            System.out.printf(WHO + ": %d-element float32 add and a trivial call, %d rounds x %d repeats x %d calls per side, "
                    + "scope closed every %d ops%n", 16, rounds, repeats, iterations, scopeOps);
            System.out.printf("  adept:   %s, grad mode %s%n", BenchSupport.adeptEnvironment(), Torch.isGradEnabled() ? "on" : "off");
            System.out.printf("  PyTorch: %s, grad mode %s%n", py.describe(),
                    "true".equals(PythonReference.value(py.ready, "grad_enabled")) ? "on" : "off");

            warmUp(a, b);
            Map<String, List<Double>> java = BenchSupport.series(JAVA_OPS);
            Map<String, List<Double>> pyt = BenchSupport.series(PY_OPS);
            for (int round = 0; round < rounds; round++) {
                for (int r = 0; r < repeats; r++) {
                    java.get(RAW_TRIVIAL).add(perCall(rawTrivial(iterations)));
                    java.get(API_TRIVIAL).add(perCall(apiTrivial(iterations)));
                    java.get(RAW_ADD).add(perCall(rawAdd(a, b, iterations)));
                    java.get(API_ADD).add(perCall(apiAdd(a, b, iterations, scopeOps)));
                    if (breakdown) {
                        java.get(RAW_ADD_BATCH).add(perCall(rawAddBatch(a, b, iterations, scopeOps)));
                        java.get(API_ADD_CLOSE).add(perCall(apiAddClose(a, b, iterations)));
                    }
                }
                PythonReference.addNumbers(py.request(Integer.toString(repeats)), pyt);
                System.err.printf("\r  round %d/%d ", round + 1, rounds);
            }
            System.err.print("\r" + " ".repeat(24) + "\r");
            printTable(java, pyt);
        } finally {
            a.close();
            b.close();
        }
        return 0;
    }

    private double perCall(long nanos) {
        return (double) nanos / iterations;
    }

    // ---- the Java loops: one method each, so the JIT compiles each on its own ----

    long rawTrivial(int k) {
        long[] result = RawCalls.trivial(k);
        sink += result[1];
        return result[0];
    }

    long apiTrivial(int k) {
        int acc = 0;
        long t0 = System.nanoTime();
        for (int i = 0; i < k; i++) if (Torch.isGradEnabled()) acc++;
        long t = System.nanoTime() - t0;
        sink += acc;
        return t;
    }

    static long rawAdd(Tensor a, Tensor b, int k) {
        return RawCalls.addAndFree(a, b, k);
    }

    static long rawAddBatch(Tensor a, Tensor b, int k, int scopeOps) {
        return RawCalls.addBatchAndFree(a, b, k, scopeOps);
    }

    /** The API without a scope: each result closed right away. */
    static long apiAddClose(Tensor a, Tensor b, int k) {
        long t0 = System.nanoTime();
        for (int i = 0; i < k; i++) a.add(b).close();
        return System.nanoTime() - t0;
    }

    /** The realistic path: results are registered in a scope and freed when it closes, every scopeOps ops. */
    static long apiAdd(Tensor a, Tensor b, int k, int scopeOps) {
        long t0 = System.nanoTime();
        int done = 0;
        while (done < k) {
            int n = Math.min(scopeOps, k - done);
            try (Scope scope = Scope.open()) {
                for (int i = 0; i < n; i++) a.add(b);
            }
            done += n;
        }
        return System.nanoTime() - t0;
    }

    private void warmUp(Tensor a, Tensor b) {
        // In chunks, so that the loops get compiled (OSR and normal entry) before timing.
        int chunk = 10_000;
        for (int done = 0; done < warmup; done += chunk) {
            rawTrivial(chunk);
            apiTrivial(chunk);
            rawAdd(a, b, chunk);
            apiAdd(a, b, chunk, scopeOps);
            if (breakdown) {
                rawAddBatch(a, b, chunk, scopeOps);
                apiAddClose(a, b, chunk);
            }
        }
    }

    private static void checkAdd(Tensor a, Tensor b) {
        try (Scope scope = Scope.open()) {
            float[] x = a.toFloatArray(), y = b.toFloatArray(), z = a.add(b).toFloatArray();
            for (int i = 0; i < z.length; i++) {
                if (z[i] != x[i] + y[i]) throw new IllegalStateException("a.add(b) gave a wrong result at " + i);
            }
        }
    }

    // ---- output ----

    private void printTable(Map<String, List<Double>> java, Map<String, List<Double>> pyt) {
        double pyTrivial = median(pyt.get("is_grad_enabled"));
        double pyAdd = median(pyt.get("torch.add"));
        System.out.println();
        String format = "%-46s %12s  %-22s %12s  %8s  %s%n";
        System.out.printf(format, "adept op", "adept ns", "PyTorch op", "PyTorch ns", "ratio", "target <= " + TARGET);
        row(format, "trivial: " + RAW_TRIVIAL, median(java.get(RAW_TRIVIAL)), "torch.is_grad_enabled()", pyTrivial, false);
        row(format, "trivial: " + API_TRIVIAL, median(java.get(API_TRIVIAL)), "torch.is_grad_enabled()", pyTrivial, true);
        row(format, "add16: " + RAW_ADD, median(java.get(RAW_ADD)), "torch.add(a, b)", pyAdd, false);
        row(format, "add16: " + API_ADD, median(java.get(API_ADD)), "torch.add(a, b)", pyAdd, true);
        if (breakdown) {
            row(format, "add16: " + RAW_ADD_BATCH, median(java.get(RAW_ADD_BATCH)), "torch.add(a, b)", pyAdd, false);
            row(format, "add16: " + API_ADD_CLOSE, median(java.get(API_ADD_CLOSE)), "torch.add(a, b)", pyAdd, false);
        }
        System.out.printf("%nPyTorch-Python, other spellings (median ns/call): a.add(b) %.1f, a + b %.1f, empty for-loop %.1f (not subtracted)%n",
                median(pyt.get("a.add(b)")), median(pyt.get("a + b")), median(pyt.get("empty_loop")));
        System.out.printf("spread (min..max ns/call over %d repeats): adept add %s, PyTorch add %s%n",
                java.get(API_ADD).size(), range(java.get(API_ADD), 1), range(pyt.get("torch.add"), 1));
        System.out.printf("peak RSS MiB (VmHWM): adept %.0f%n", BenchSupport.peakRssMb());
        System.out.println("ratio = adept / PyTorch per-call time (medians); target rows are the Java API paths, raw rows show the shim + libtorch floor.");
    }

    private static void row(String format, String op, double ns, String pyOp, double pyNs, boolean target) {
        double ratio = ns / pyNs;
        String verdict = target ? (ratio <= TARGET ? "PASS" : "MISS") : "(floor)";
        System.out.printf(format, op, String.format("%.1f", ns), pyOp, String.format("%.1f", pyNs), String.format("%.3f", ratio), verdict);
    }
}
