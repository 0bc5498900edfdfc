package adept.tensor;

import static adept.bindings.adept_torch_h.at_add;
import static adept.bindings.adept_torch_h.at_free;
import static adept.bindings.adept_torch_h.at_is_grad_enabled;

import java.lang.foreign.MemorySegment;

/**
 * Timed loops over the bare bindings, with no Tensor objects: the floor that {@code adept bench
 * ops} compares the API's per-op overhead with. Kept here so that nothing above the tensor core
 * calls the bindings.
 */
public final class RawCalls {
    private RawCalls() {}

    /** Nanoseconds for k calls of at_is_grad_enabled, and the sum of their results (for a sink). */
    public static long[] trivial(int k) {
        Torch.init();
        int acc = 0;
        long t0 = System.nanoTime();
        for (int i = 0; i < k; i++) acc += at_is_grad_enabled();
        return new long[] {System.nanoTime() - t0, acc};
    }

    /** Nanoseconds for k at_add calls, each result freed at once. */
    public static long addAndFree(Tensor a, Tensor b, int k) {
        MemorySegment ha = a.handle();
        MemorySegment hb = b.handle();
        long t0 = System.nanoTime();
        for (int i = 0; i < k; i++) {
            MemorySegment r = at_add(ha, hb, 1.0);
            if (r.address() == 0) throw Check.failure();
            at_free(r);
        }
        return System.nanoTime() - t0;
    }

    /** Like a scope, without Java objects: scopeOps results outstanding, then freed newest first. */
    public static long addBatchAndFree(Tensor a, Tensor b, int k, int scopeOps) {
        MemorySegment ha = a.handle();
        MemorySegment hb = b.handle();
        MemorySegment[] live = new MemorySegment[scopeOps];
        long t0 = System.nanoTime();
        int done = 0;
        while (done < k) {
            int n = Math.min(scopeOps, k - done);
            for (int i = 0; i < n; i++) {
                MemorySegment r = at_add(ha, hb, 1.0);
                if (r.address() == 0) throw Check.failure();
                live[i] = r;
            }
            for (int i = n - 1; i >= 0; i--) at_free(live[i]);
            done += n;
        }
        return System.nanoTime() - t0;
    }
}
