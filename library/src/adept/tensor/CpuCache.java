package adept.tensor;

import static adept.bindings.adept_torch_h.at_cpu_cache_release;
import static adept.bindings.adept_torch_h.at_cpu_cache_set_enabled;
import static adept.bindings.adept_torch_h.at_cpu_cache_stats;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * adept's CPU block cache: the allocator the shim installs in libtorch for CPU tensors of 256 KiB and up (smaller
 * ones go to libtorch's own). Freed blocks are kept for the next tensor of (nearly) the same size, so a training
 * step reuses the pages the last one touched; the blocks mapped never exceed the peak bytes in use. On unless the
 * process starts with {@code ADEPT_CPU_ALLOCATOR=malloc}.
 */
public final class CpuCache {
    private CpuCache() {}

    /** The cache's account now; bytes of tensors below 256 KiB are not in it. */
    public record Stats(boolean enabled, long bytesInUse, long bytesCached, long peakBytesInUse, long peakBytesMapped,
                        long hits, long blocksMapped, long blocksUnmapped) {}

    /** The account now (one native call). */
    public static Stats stats() {
        Torch.init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG, 8);
            Check.status(at_cpu_cache_stats(out));
            long[] v = out.toArray(ValueLayout.JAVA_LONG);
            return new Stats(v[0] == 1, v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
        }
    }

    /** Unmaps every cached block (between phases whose tensor sizes differ) and restarts the peaks. */
    public static void release() {
        Torch.init();
        Check.status(at_cpu_cache_release());
    }

    /** Turns the cache on or off for later allocations; tensors alive keep their blocks until freed. */
    public static void setEnabled(boolean enabled) {
        Torch.init();
        Check.status(at_cpu_cache_set_enabled(enabled ? 1 : 0));
    }
}
