package adept.bench;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Option;

/**
 * A long-lived PyTorch-Python reference process for the benchmarks (tools/bench/*.py run
 * with Debian's /usr/bin/python3 and python3-torch, the same libtorch as adept): it starts
 * the script with "--serve --threads N", waits for its one {"ready": ...} JSON line, then
 * answers one JSON line for every request line "N" (repeats or steps); an empty line ends it.
 * tools/bench/bench_common.py is the scripts' side of this protocol.
 *
 * <p>The child's environment carries the settings adept runs under: OMP_WAIT_POLICY=PASSIVE
 * (as tools/env.sh exports for the launcher) and glibc's malloc thresholds that the shim sets
 * with mallopt at load (MALLOC_MMAP_THRESHOLD_=32 MiB, MALLOC_TRIM_THRESHOLD_=512 MiB), plus
 * OPENBLAS_NUM_THREADS = the thread count (the shim sets OpenBLAS's pool as well).
 */
final class PythonReference implements AutoCloseable {
    /** The mallopt values of native/adept_torch.cpp's at_init, as glibc's environment variables. */
    static final Map<String, String> MALLOC_ENV = Map.of(
            "MALLOC_MMAP_THRESHOLD_", Long.toString(32L * 1024 * 1024),
            "MALLOC_TRIM_THRESHOLD_", Long.toString(512L * 1024 * 1024));

    /**
     * Puts MALLOC_ENV into a child's environment, except a threshold that the environment's GLIBC_TUNABLES sets
     * (glibc.malloc.mmap_threshold / trim_threshold): that one is the setting being measured, on both sides
     * (the shim then leaves it alone too).
     */
    static void putMallocEnv(Map<String, String> environment) {
        String tunables = environment.getOrDefault("GLIBC_TUNABLES", "");
        if (!tunables.contains("glibc.malloc.mmap_threshold=")) environment.put("MALLOC_MMAP_THRESHOLD_", MALLOC_ENV.get("MALLOC_MMAP_THRESHOLD_"));
        if (!tunables.contains("glibc.malloc.trim_threshold=")) environment.put("MALLOC_TRIM_THRESHOLD_", MALLOC_ENV.get("MALLOC_TRIM_THRESHOLD_"));
    }

    /** The options of a bench command with a Python reference: a picocli mixin. */
    static final class Options {
        @Option(names = "--threads", description = "libtorch intra-op threads, both sides (default: all cores)")
        Integer threads;

        @Option(names = "--python", defaultValue = "/usr/bin/python3", description = "interpreter with Debian's torch (default: ${DEFAULT-VALUE})")
        String python;

        /** --threads, or all cores. */
        int threadCount() {
            return threads != null ? threads : Runtime.getRuntime().availableProcessors();
        }
    }

    /** A setup problem (no Python torch, no script, the reference died): print as one line, exit status 2. */
    static final class SetupException extends RuntimeException {
        SetupException(String message) {
            super(message);
        }
    }

    private final String who;
    private final Process process;
    private final BufferedReader out;
    private final BufferedWriter in;
    private final Path stderr;
    /** The JSON line after {"ready": ...}: the reference's settings. */
    final String ready;

    private PythonReference(String who, Process process, Path stderr, String ready, BufferedReader out, BufferedWriter in) {
        this.who = who;
        this.process = process;
        this.stderr = stderr;
        this.ready = ready;
        this.out = out;
        this.in = in;
    }

    /**
     * tools/bench/&lt;name&gt;: via adept.home / ADEPT_HOME, the repository around adept.native.dir
     * or the jar, or the current directory. who prefixes error messages ("adept bench train").
     */
    static Path findScript(String who, String name) {
        String relative = "tools/bench/" + name;
        List<Path> candidates = new ArrayList<>();
        String home = System.getProperty("adept.home", System.getenv("ADEPT_HOME"));
        if (home != null && !home.isBlank()) candidates.add(Path.of(home, relative));
        String nativeDir = System.getProperty("adept.native.dir");
        if (nativeDir != null && !nativeDir.isBlank()) {
            // <repo>/build/native -> <repo>
            Path root = Path.of(nativeDir).toAbsolutePath().normalize().getParent();
            if (root != null && root.getParent() != null) candidates.add(root.getParent().resolve(relative));
        }
        try {
            var source = PythonReference.class.getProtectionDomain().getCodeSource();
            if (source != null) {
                // <repo>/target/adept.jar or <repo>/target/classes -> <repo>
                Path code = Path.of(source.getLocation().toURI()).toAbsolutePath().normalize();
                if (code.getParent() != null && code.getParent().getParent() != null) {
                    candidates.add(code.getParent().getParent().resolve(relative));
                }
            }
        } catch (URISyntaxException | SecurityException ignored) {
            // fall through to the current directory
        }
        candidates.add(Path.of(relative).toAbsolutePath());
        for (Path p : candidates) {
            if (Files.isRegularFile(p)) return p;
        }
        throw new SetupException(who + ": the PyTorch reference script was not found; looked at " + candidates
                + ". Run from the adept repository or set -Dadept.home=<repo>.");
    }

    /** Starts "python script --serve --threads N args..." and waits for its ready line. */
    static PythonReference start(String who, String python, Path script, int threads, List<String> args) throws IOException {
        if (!Files.isExecutable(Path.of(python))) {
            throw new SetupException(who + ": " + python + " not found; the PyTorch reference needs Debian's python3 "
                    + "with python3-torch: sudo apt-get install python3-torch (or run tools/setup.sh --python)");
        }
        Path stderr = Files.createTempFile("adept-bench", ".stderr");
        List<String> command = new ArrayList<>(List.of(python, script.toString(), "--serve", "--threads", Integer.toString(threads)));
        command.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        pb.environment().put("OPENBLAS_NUM_THREADS", Integer.toString(threads));
        putMallocEnv(pb.environment());
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
                throw new SetupException(who + ": " + python + " cannot import torch; install Debian's PyTorch "
                        + "(same libtorch as adept): sudo apt-get install python3-torch (or run tools/setup.sh --python)");
            }
            throw new SetupException(who + ": the PyTorch reference (" + python + " " + script + ") failed"
                    + " (exit " + code + ")" + (err.isEmpty() ? "" : ":\n" + err));
        }
        return new PythonReference(who, process, stderr, ready, out, in);
    }

    /** Sends one request line and returns the reference's one JSON answer line. */
    String request(String line) throws IOException {
        in.write(line + "\n");
        in.flush();
        String answer = out.readLine();
        if (answer == null) {
            throw new SetupException(who + ": the PyTorch reference exited early:\n" + Files.readString(stderr).strip());
        }
        return answer;
    }

    /**
     * The reference's settings from its ready line: Python, torch, threads and the environment
     * it was started with (bench_common.info).
     */
    String describe() {
        String tunables = value(ready, "GLIBC_TUNABLES");
        return String.format("Python %s, torch %s, threads %s, OMP_WAIT_POLICY=%s, OPENBLAS_NUM_THREADS=%s, "
                        + "MALLOC_MMAP_THRESHOLD_=%s, MALLOC_TRIM_THRESHOLD_=%s%s",
                value(ready, "python"), value(ready, "torch"), value(ready, "threads"), value(ready, "OMP_WAIT_POLICY"),
                value(ready, "OPENBLAS_NUM_THREADS"), value(ready, "MALLOC_MMAP_THRESHOLD_"), value(ready, "MALLOC_TRIM_THRESHOLD_"),
                tunables == null ? "" : ", GLIBC_TUNABLES=" + tunables);
    }

    // ---- the one-level JSON the scripts print ----

    /** Adds the number list of every key of series from json to that key's series. */
    static void addNumbers(String json, Map<String, List<Double>> series) {
        series.forEach((key, values) -> values.addAll(numbers(json, key)));
    }

    /** The number list after "key": in json. */
    static List<Double> numbers(String json, String key) {
        String k = "\"" + key + "\": [";
        int start = json.indexOf(k);
        if (start < 0) throw new SetupException("no '" + key + "' in the PyTorch reference's output: " + json);
        start += k.length();
        int end = json.indexOf(']', start);
        String body = json.substring(start, end).strip();
        if (body.isEmpty()) return List.of();
        return Arrays.stream(body.split(",")).map(String::strip).map(Double::valueOf).toList();
    }

    /** The scalar after "key": (string quotes removed), or null when absent or null. */
    static String value(String json, String key) {
        String k = "\"" + key + "\": ";
        int at = json.indexOf(k);
        if (at < 0 || json.startsWith("null", at + k.length())) return null;
        int from = at + k.length();
        int to = from;
        if (json.charAt(from) == '"') {
            to = json.indexOf('"', from + 1);
            return json.substring(from + 1, to);
        }
        while (to < json.length() && json.charAt(to) != ',' && json.charAt(to) != '}') to++;
        return json.substring(from, to).strip();
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
