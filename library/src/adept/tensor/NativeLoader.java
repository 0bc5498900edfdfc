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
    private static volatile Path loadedFrom;

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
        loadedFrom = library;
        Check.status(at_init());
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

    /**
     * Where the shim comes from, first match wins: adept.native.lib / ADEPT_NATIVE_LIB (the file),
     * adept.native.dir / ADEPT_NATIVE_DIR (its folder; when set, nothing else is tried), the copy inside adept's
     * jar (native/&lt;os&gt;-&lt;arch&gt;/, extracted once to a versioned cache), then build/native of the checkout
     * that holds these classes (MODULE/target/classes or MODULE/target/adept.jar). Never the current directory.
     */
    private static Path find() {
        return locate(System.getProperty("adept.native.lib", System.getenv("ADEPT_NATIVE_LIB")),
                System.getProperty("adept.native.dir", System.getenv("ADEPT_NATIVE_DIR")),
                NativeLoader.class.getClassLoader(), codeLocation(), NativeCache.root());
    }

    /**
     * {@link #find} with its inputs explicit: lib and dir are the overrides (null or blank: unset), resources
     * the class loader whose native/&lt;platform&gt;/ may hold the shim, codeHome target/classes or the jar
     * (null: unknown), cacheRoot where a shim from the jar is extracted.
     */
    static Path locate(String lib, String dir, ClassLoader resources, Path codeHome, Path cacheRoot) {
        if (lib != null && !lib.isBlank()) {
            Path p = Path.of(lib);
            if (!Files.isRegularFile(p)) throw new TorchException("adept shim " + p + " (adept.native.lib / ADEPT_NATIVE_LIB) does not exist. " + INSTALL_HINT);
            return p.toAbsolutePath();
        }
        if (dir != null && !dir.isBlank()) {
            Path p = Path.of(dir, LIBRARY_FILE);
            if (!Files.isRegularFile(p)) {
                throw new TorchException("adept shim " + p + " (adept.native.dir / ADEPT_NATIVE_DIR) does not exist. " + INSTALL_HINT);
            }
            return p.toAbsolutePath();
        }
        List<String> searched = new ArrayList<>();
        String resource = "native/" + platform() + "/" + LIBRARY_FILE;
        searched.add("the jar's " + resource);
        Path extracted = NativeCache.extract(resources, resource, LIBRARY_FILE, version(), cacheRoot);
        if (extracted != null) return extracted;
        for (Path checkout : checkoutCandidates(codeHome)) {
            searched.add(checkout.toString());
            if (Files.isRegularFile(checkout)) return checkout;
        }
        throw new TorchException("adept's libtorch shim (" + LIBRARY_FILE + ") was not found; searched " + String.join(", ", searched)
                + ". Use an adept jar built after native/build.sh (mvn install), or set ADEPT_NATIVE_DIR (-Dadept.native.dir) to the folder"
                + " holding " + LIBRARY_FILE + ". " + INSTALL_HINT);
    }

    /**
     * Where a checkout's shim is for classes run from its build (codeHome MODULE/target/classes or MODULE/target/x.jar):
     * CHECKOUT/build/native, CHECKOUT being MODULE or its parent (library/, cli/), whichever holds native/build.sh.
     */
    static List<Path> checkoutCandidates(Path codeHome) {
        Path target = codeHome == null ? null : codeHome.toAbsolutePath().normalize().getParent();
        if (target == null || target.getFileName() == null || !target.getFileName().toString().equals("target")) return List.of();
        Path module = target.getParent();
        Path checkout = module.getParent() != null && Files.isRegularFile(module.getParent().resolve("native/build.sh")) ? module.getParent() : module;
        return List.of(checkout.resolve("build/native").resolve(LIBRARY_FILE));
    }

    /** The jar folder for this machine's shim: linux-x86_64, linux-aarch64, ... */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(java.util.Locale.ROOT);
        String osName = os.startsWith("linux") ? "linux" : os.startsWith("mac") ? "macos" : os.startsWith("windows") ? "windows" : os.replace(' ', '_');
        String archName = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return osName + "-" + archName;
    }

    /** adept's version from the jar manifest; "dev" for classes run from a build folder. */
    private static String version() {
        String v = NativeLoader.class.getPackage().getImplementationVersion();
        return v == null || v.isBlank() ? "dev" : v;
    }

    /** The file the shim was loaded from, or null before it is loaded. */
    static Path loadedFrom() {
        return loadedFrom;
    }

    private static Path codeLocation() {
        try {
            var source = NativeLoader.class.getProtectionDomain().getCodeSource();
            return source == null ? null : Path.of(source.getLocation().toURI());
        } catch (URISyntaxException | SecurityException | IllegalArgumentException e) {
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
