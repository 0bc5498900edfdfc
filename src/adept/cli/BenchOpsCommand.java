package adept.cli;

import adept.bindings.adept_torch_h;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.lang.foreign.MemorySegment;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Per-call cost of a trivial shim call and of a small op (adding two 16-element float32
 * tensors) through adept, against the same calls through PyTorch-Python (Debian's
 * python3-torch, the same libtorch) measured in the same run: Java rounds and Python rounds
 * alternate, and the table shows medians over all repeats.
 */
@Command(name = "ops", mixinStandardHelpOptions = true,
        description = {"Per-call cost of a trivial shim call and of a 16-element add, adept (Java) vs PyTorch (Python), "
                + "measured in the same run with interleaved rounds. Target: adept <= 0.5 x PyTorch's per-op time.",
                "Needs Debian's python3-torch for /usr/bin/python3 (sudo apt-get install python3-torch, or tools/setup.sh --python)."})
public final class BenchOpsCommand implements Callable<Integer> {
    static final double TARGET = 0.5;
    private static final String SCRIPT = "tools/bench/ops_reference.py";

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

    @Option(names = "--threads", description = "libtorch intra-op threads, both sides (default: all cores)")
    Integer threads;

    @Option(names = "--breakdown", description = "also time where the add's cost goes: raw calls freed in batches, Tensor.add + close() without a scope")
    boolean breakdown;

    @Option(names = "--python", defaultValue = "/usr/bin/python3", description = "interpreter with Debian's torch (default: ${DEFAULT-VALUE})")
    String python;

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

    /** A setup problem (no Python torch, no script): printed as one line, exit status 2. */
    static final class BenchSetupException extends RuntimeException {
        BenchSetupException(String message) {
            super(message);
        }
    }

    @Override
    public Integer call() throws Exception {
        try {
            return measure();
        } catch (BenchSetupException e) {
            System.err.println(e.getMessage());
            return 2;
        }
    }

    private int measure() throws Exception {
        if (rounds < 1 || repeats < 1 || iterations < 1 || scopeOps < 1 || warmup < 0) {
            System.err.println("adept bench ops: --rounds, --repeats, --iterations and --scope-ops must be >= 1");
            return 2;
        }
        int threadCount = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        Path script = findScript();
        Torch.setNumThreads(threadCount);

        Tensor a = Tensor.rand(DType.FLOAT32, Device.CPU, 16).keep();
        Tensor b = Tensor.rand(DType.FLOAT32, Device.CPU, 16).keep();
        try (PythonReference py = PythonReference.start(python, script, threadCount, iterations, warmup)) {
            checkAdd(a, b);
            System.out.printf("adept bench ops: %d-element float32 add and a trivial call, %d rounds x %d repeats x %d calls per side, "
                    + "scope closed every %d ops%n", 16, rounds, repeats, iterations, scopeOps);
            String tunables = System.getenv("GLIBC_TUNABLES");
            System.out.printf("  adept:   JDK %s, libtorch %s, threads %d, OMP_WAIT_POLICY=%s, grad mode %s%s%n",
                    Runtime.version(), Torch.runtimeVersion(), Torch.numThreads(), System.getenv("OMP_WAIT_POLICY"),
                    Torch.isGradEnabled() ? "on" : "off", tunables == null ? "" : ", GLIBC_TUNABLES=" + tunables);
            System.out.printf("  PyTorch: %s%n", py.info);

            warmUp(a, b);
            Map<String, List<Double>> java = new LinkedHashMap<>();
            Map<String, List<Double>> pyt = new LinkedHashMap<>();
            for (String op : JAVA_OPS) java.put(op, new ArrayList<>());
            for (String op : PY_OPS) pyt.put(op, new ArrayList<>());
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
                Map<String, List<Double>> got = py.run(repeats);
                for (String op : PY_OPS) pyt.get(op).addAll(got.get(op));
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
        int acc = 0;
        long t0 = System.nanoTime();
        for (int i = 0; i < k; i++) acc += adept_torch_h.at_is_grad_enabled();
        long t = System.nanoTime() - t0;
        sink += acc;
        return t;
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
        MemorySegment ha = a.handle();
        MemorySegment hb = b.handle();
        long t0 = System.nanoTime();
        for (int i = 0; i < k; i++) {
            MemorySegment r = adept_torch_h.at_add(ha, hb, 1.0);
            if (r.address() == 0) throw new IllegalStateException("at_add failed");
            adept_torch_h.at_free(r);
        }
        return System.nanoTime() - t0;
    }

    /** Like the scope path, without Java objects: scopeOps results outstanding, then freed newest first. */
    static long rawAddBatch(Tensor a, Tensor b, int k, int scopeOps) {
        MemorySegment ha = a.handle();
        MemorySegment hb = b.handle();
        MemorySegment[] live = new MemorySegment[scopeOps];
        long t0 = System.nanoTime();
        int done = 0;
        while (done < k) {
            int n = Math.min(scopeOps, k - done);
            for (int i = 0; i < n; i++) {
                MemorySegment r = adept_torch_h.at_add(ha, hb, 1.0);
                if (r.address() == 0) throw new IllegalStateException("at_add failed");
                live[i] = r;
            }
            for (int i = n - 1; i >= 0; i--) adept_torch_h.at_free(live[i]);
            done += n;
        }
        return System.nanoTime() - t0;
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
                java.get(API_ADD).size(), range(java.get(API_ADD)), range(pyt.get("torch.add")));
        System.out.println("ratio = adept / PyTorch per-call time (medians); target rows are the Java API paths, raw rows show the shim + libtorch floor.");
    }

    private static void row(String format, String op, double ns, String pyOp, double pyNs, boolean target) {
        double ratio = ns / pyNs;
        String verdict = target ? (ratio <= TARGET ? "PASS" : "MISS") : "(floor)";
        System.out.printf(format, op, String.format("%.1f", ns), pyOp, String.format("%.1f", pyNs), String.format("%.3f", ratio), verdict);
    }

    static double median(List<Double> values) {
        double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        if (v.length == 0) return Double.NaN;
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private static String range(List<Double> values) {
        return String.format("%.1f..%.1f", values.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN),
                values.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN));
    }

    // ---- the Python reference ----

    /** tools/bench/ops_reference.py: via adept.home, the repository around adept.native.dir or the jar, or the current directory. */
    static Path findScript() {
        List<Path> candidates = new ArrayList<>();
        String home = System.getProperty("adept.home", System.getenv("ADEPT_HOME"));
        if (home != null && !home.isBlank()) candidates.add(Path.of(home, SCRIPT));
        String nativeDir = System.getProperty("adept.native.dir");
        if (nativeDir != null && !nativeDir.isBlank()) {
            // <repo>/build/native -> <repo>
            Path root = Path.of(nativeDir).toAbsolutePath().normalize().getParent();
            if (root != null && root.getParent() != null) candidates.add(root.getParent().resolve(SCRIPT));
        }
        try {
            var source = BenchOpsCommand.class.getProtectionDomain().getCodeSource();
            if (source != null) {
                // <repo>/target/adept.jar or <repo>/target/classes -> <repo>
                Path code = Path.of(source.getLocation().toURI()).toAbsolutePath().normalize();
                if (code.getParent() != null && code.getParent().getParent() != null) {
                    candidates.add(code.getParent().getParent().resolve(SCRIPT));
                }
            }
        } catch (URISyntaxException | SecurityException ignored) {
            // fall through to the current directory
        }
        candidates.add(Path.of(SCRIPT).toAbsolutePath());
        for (Path p : candidates) {
            if (Files.isRegularFile(p)) return p;
        }
        throw new BenchSetupException("adept bench ops: the PyTorch reference script was not found; looked at " + candidates
                + ". Run from the adept repository or set -Dadept.home=<repo>.");
    }

    /** A long-lived ops_reference.py --serve process: one line "R" in, one JSON line of R repeats out. */
    static final class PythonReference implements AutoCloseable {
        private final Process process;
        private final BufferedReader out;
        private final BufferedWriter in;
        private final Path stderr;
        final String info;

        private PythonReference(Process process, Path stderr, String info, BufferedReader out, BufferedWriter in) {
            this.process = process;
            this.stderr = stderr;
            this.info = info;
            this.out = out;
            this.in = in;
        }

        static PythonReference start(String python, Path script, int threads, int iterations, int warmup) throws IOException {
            if (!Files.isExecutable(Path.of(python))) {
                throw new BenchSetupException("adept bench ops: " + python + " not found; the PyTorch reference needs Debian's python3 "
                        + "with python3-torch: sudo apt-get install python3-torch (or run tools/setup.sh --python)");
            }
            Path stderr = Files.createTempFile("adept-bench-ops", ".stderr");
            ProcessBuilder pb = new ProcessBuilder(python, script.toString(), "--serve", "--threads", Integer.toString(threads),
                    "--iterations", Integer.toString(iterations), "--warmup", Integer.toString(warmup));
            pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
            pb.redirectError(stderr.toFile());
            Process process = pb.start();
            var out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            var in = new BufferedWriter(new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8));
            String ready = out.readLine();
            if (ready == null || !ready.startsWith("{\"ready\"")) {
                int code = waitFor(process);
                String err = Files.readString(stderr).strip();
                Files.deleteIfExists(stderr);
                if (code == 3 || err.contains("No module named 'torch'")) {
                    throw new BenchSetupException("adept bench ops: " + python + " cannot import torch; install Debian's PyTorch "
                            + "(same libtorch as adept): sudo apt-get install python3-torch (or run tools/setup.sh --python)");
                }
                throw new BenchSetupException("adept bench ops: the PyTorch reference (" + python + " " + script + ") failed"
                        + " (exit " + code + ")" + (err.isEmpty() ? "" : ":\n" + err));
            }
            return new PythonReference(process, stderr, describe(ready), out, in);
        }

        Map<String, List<Double>> run(int repeats) throws IOException {
            in.write(repeats + "\n");
            in.flush();
            String line = out.readLine();
            if (line == null) {
                throw new BenchSetupException("adept bench ops: the PyTorch reference exited early:\n" + Files.readString(stderr).strip());
            }
            Map<String, List<Double>> result = new LinkedHashMap<>();
            for (String op : PY_OPS) result.put(op, numbers(line, op));
            return result;
        }

        /** The list after "op": in the one-level JSON the script prints. */
        static List<Double> numbers(String json, String op) {
            String key = "\"" + op + "\": [";
            int start = json.indexOf(key);
            if (start < 0) throw new BenchSetupException("adept bench ops: no '" + op + "' in the reference's output: " + json);
            start += key.length();
            int end = json.indexOf(']', start);
            return Arrays.stream(json.substring(start, end).split(",")).map(String::strip).map(Double::valueOf).toList();
        }

        private static String describe(String ready) {
            String[] keys = {"python", "torch", "threads", "OMP_WAIT_POLICY", "grad_enabled", "GLIBC_TUNABLES"};
            StringBuilder s = new StringBuilder();
            for (String k : keys) {
                String key = "\"" + k + "\": ";
                int at = ready.indexOf(key);
                if (at < 0 || ready.startsWith("null", at + key.length())) continue;
                int from = at + key.length();
                int to = from;
                while (to < ready.length() && ready.charAt(to) != ',' && ready.charAt(to) != '}') to++;
                String value = ready.substring(from, to).replace("\"", "");
                s.append(s.isEmpty() ? "" : ", ").append(k.equals("grad_enabled") ? "grad mode" : k).append(k.equals("OMP_WAIT_POLICY") || k.equals("GLIBC_TUNABLES") ? "=" : " ")
                        .append(k.equals("grad_enabled") ? (value.equals("true") ? "on" : "off") : value);
            }
            return s.toString();
        }

        private static int waitFor(Process process) {
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroy();
                return process.isAlive() ? -1 : process.exitValue();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return -1;
            }
        }

        @Override
        public void close() throws IOException {
            try {
                in.write("\n");
                in.flush();
                in.close();
            } catch (IOException ignored) {
                // already gone
            }
            waitFor(process);
            if (process.isAlive()) process.destroyForcibly();
            Files.deleteIfExists(stderr);
        }
    }
}
