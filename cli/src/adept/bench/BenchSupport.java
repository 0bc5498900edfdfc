package adept.bench;

import adept.tensor.CpuCache;
import adept.tensor.Torch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What the adept-vs-PyTorch bench commands share: medians and ranges of timings, timing series, the adept side's settings. */
final class BenchSupport {
    private BenchSupport() {
    }

    /** One empty timing series per name, in the given order. */
    static Map<String, List<Double>> series(String... names) {
        Map<String, List<Double>> out = new LinkedHashMap<>();
        for (String name : names) out.put(name, new ArrayList<>());
        return out;
    }

    /** The median (mean of the middle two for an even count), NaN for none. */
    static double median(List<Double> values) {
        double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        if (v.length == 0) return Double.NaN;
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    static double min(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN);
    }

    static double max(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }

    /** "min..max" with the given number of decimals. */
    static String range(List<Double> values, int decimals) {
        String f = "%." + decimals + "f";
        return String.format(f + ".." + f, min(values), max(values));
    }

    /**
     * The adept side's settings: JDK, libtorch, threads, OMP_WAIT_POLICY, the malloc thresholds the
     * shim sets with mallopt at load where the environment does not (PythonReference.putMallocEnv for the Python side),
     * GLIBC_TUNABLES when set.
     */
    static String adeptEnvironment() {
        String tunables = System.getenv("GLIBC_TUNABLES");
        return String.format("JDK %s, libtorch %s, threads %d, OMP_WAIT_POLICY=%s, CPU tensors >= 256 KiB: %s, malloc: shim mallopt "
                        + "M_MMAP_THRESHOLD=32 MiB, M_TRIM_THRESHOLD=512 MiB unless the environment sets them%s",
                Runtime.version(), Torch.runtimeVersion(), Torch.numThreads(), System.getenv("OMP_WAIT_POLICY"),
                CpuCache.stats().enabled() ? "adept's block cache" : "malloc (ADEPT_CPU_ALLOCATOR=malloc)",
                tunables == null ? "" : ", GLIBC_TUNABLES=" + tunables);
    }

    /** Peak resident set of this process (VmHWM), in MiB, or NaN when /proc is not there. */
    static double peakRssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
            }
        } catch (IOException | NumberFormatException ignored) {
            // not Linux
        }
        return Double.NaN;
    }
}
