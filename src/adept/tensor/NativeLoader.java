package adept.tensor;

import static adept.bindings.adept_torch_h.at_compiled_version;
import static adept.bindings.adept_torch_h.at_init;
import static adept.bindings.adept_torch_h.at_runtime_version;
import static adept.bindings.adept_torch_h.at_set_num_threads;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds and loads adept's libtorch shim once per JVM, then checks that the libtorch it
 * was compiled against is the libtorch it runs with.
 */
final class NativeLoader {
    static final String LIBRARY_FILE = "libadept_torch.so";
    private static final String INSTALL_HINT =
            "Build it with native/build.sh (or run ./adept, which builds it). It needs libtorch: "
                    + "sudo apt-get install libtorch-dev libopenblas0-pthread, or set LIBTORCH_HOME to a "
                    + "libtorch folder (official zip or a pip torch package folder).";

    private static volatile boolean loaded;

    private NativeLoader() {}

    static void ensureLoaded() {
        if (loaded) return;
        synchronized (NativeLoader.class) {
            if (loaded) return;
            load();
            loaded = true;
        }
    }

    private static void load() {
        // OpenMP reads this when libtorch loads; spinning OpenMP and OpenBLAS pools fight on few cores.
        setEnvIfAbsent("OMP_WAIT_POLICY", "PASSIVE");
        // UCX (a dependency of some libtorch builds, e.g. Debian 13's) would take over the signals the JVM needs.
        setEnvIfAbsent("UCX_ERROR_SIGNALS", "");
        Path library = find();
        JvmSignalHandlers jvmHandlers = JvmSignalHandlers.save();
        try {
            System.load(library.toString());
        } catch (UnsatisfiedLinkError e) {
            throw new TorchException("cannot load " + library + ": " + e.getMessage() + ". " + INSTALL_HINT, e);
        } finally {
            jvmHandlers.restore();
        }
        at_init();
        String compiled = Check.cString(at_compiled_version());
        MemorySegment runtimePointer = at_runtime_version();
        String runtime = runtimePointer.address() == 0 ? "unknown" : Check.cString(runtimePointer);
        if (!sameRelease(compiled, runtime)) {
            throw new TorchException("libtorch version mismatch: " + library + " was compiled against libtorch "
                    + compiled + " headers but runs with libtorch " + runtime
                    + "; rebuild it with native/build.sh against one libtorch (LIBTORCH_HOME).");
        }
        Check.status(at_set_num_threads(defaultThreads()));
    }

    /** Same major.minor.patch; build suffixes such as "+cu130" or "a0" are ignored. */
    static boolean sameRelease(String a, String b) {
        return release(a).equals(release(b));
    }

    private static String release(String version) {
        String[] parts = version.split("\\.");
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < Math.min(3, parts.length); i++) {
            String digits = parts[i].replaceAll("^(\\d+).*", "$1");
            if (i > 0) out.append('.');
            out.append(digits);
        }
        return out.toString();
    }

    static int defaultThreads() {
        String configured = System.getProperty("adept.threads", System.getenv("ADEPT_THREADS"));
        if (configured != null && !configured.isBlank()) {
            int threads;
            try {
                threads = Integer.parseInt(configured.trim());
            } catch (NumberFormatException e) {
                throw new TorchException("ADEPT_THREADS / adept.threads must be an integer, got '" + configured + "'");
            }
            int cores = Runtime.getRuntime().availableProcessors();
            // More threads than cores only makes the pools fight (thousands of them also exhaust the process).
            if (threads < 1 || threads > cores) {
                throw new TorchException("ADEPT_THREADS / adept.threads must be in 1.." + cores + " (the cores available), got " + threads);
            }
            return threads;
        }
        return Runtime.getRuntime().availableProcessors();
    }

    private static Path find() {
        List<Path> candidates = new ArrayList<>();
        String file = System.getProperty("adept.native.lib", System.getenv("ADEPT_NATIVE_LIB"));
        if (file != null && !file.isBlank()) {
            Path p = Path.of(file);
            if (!Files.isRegularFile(p)) throw new TorchException("adept shim " + p + " (adept.native.lib / ADEPT_NATIVE_LIB) does not exist. " + INSTALL_HINT);
            return p.toAbsolutePath();
        }
        String dir = System.getProperty("adept.native.dir", System.getenv("ADEPT_NATIVE_DIR"));
        if (dir != null && !dir.isBlank()) candidates.add(Path.of(dir, LIBRARY_FILE));
        candidates.add(Path.of("build", "native", LIBRARY_FILE));
        Path codeHome = codeLocation();
        if (codeHome != null) {
            // target/adept.jar or target/classes -> <repo>/build/native
            candidates.add(codeHome.resolveSibling("..").resolve("build/native").resolve(LIBRARY_FILE).normalize());
        }
        for (Path p : candidates) {
            if (Files.isRegularFile(p)) return p.toAbsolutePath();
        }
        throw new TorchException("adept's libtorch shim (" + LIBRARY_FILE + ") was not found; looked at " + candidates + ". " + INSTALL_HINT);
    }

    private static Path codeLocation() {
        try {
            var source = NativeLoader.class.getProtectionDomain().getCodeSource();
            return source == null ? null : Path.of(source.getLocation().toURI());
        } catch (URISyntaxException | SecurityException e) {
            return null;
        }
    }

    private static void setEnvIfAbsent(String name, String value) {
        if (System.getenv(name) != null) return;
        Linker linker = Linker.nativeLinker();
        MethodHandle setenv = linker.downcallHandle(
                linker.defaultLookup().find("setenv").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        try (Arena arena = Arena.ofConfined()) {
            int rc = (int) setenv.invokeExact(arena.allocateFrom(name), arena.allocateFrom(value), 0);
            if (rc != 0) throw new TorchException("setenv(" + name + ") failed");
        } catch (TorchException e) {
            throw e;
        } catch (Throwable t) {
            throw new TorchException("setenv(" + name + ") failed: " + t, t);
        }
    }
}
