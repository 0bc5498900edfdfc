package adept.parallel;

import static adept.bindings.adept_torch_h.at_reducer_bucket_count;
import static adept.bindings.adept_torch_h.at_reducer_finish;
import static adept.bindings.adept_torch_h.at_reducer_free;
import static adept.bindings.adept_torch_h.at_reducer_launched;
import static adept.bindings.adept_torch_h.at_reducer_new;
import static adept.bindings.adept_torch_h.at_reducer_prepare;

import adept.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Averages the trainable tensors' gradients over the ranks while backward still runs, as PyTorch DDP's Reducer
 * (owning handle; the work is done in the shim, never by calls back into Java). The gradients are copied into flat
 * buckets of at most bucketBytes, filled in reverse parameter order (backward makes the last layers' gradients
 * first); a post-hook on each tensor's gradient accumulator starts a bucket's asynchronous all-reduce as soon as all
 * its tensors have their gradient, strictly in bucket order, so every rank issues the same collectives in the same
 * order. {@link #finish} then waits, divides by the world size (the same arithmetic as {@link GradientBuckets}) and
 * writes each tensor's average into its output.
 *
 * <p>Per optimizer step: {@link #prepare prepare(false)} before each backward of the micro-batches that only
 * accumulate (DDP's no_sync), {@link #prepare prepare(true)} before the last one, {@link #finish} after it, before
 * any other collective on the group. A dead peer fails finish with the group's one-line {@link DistException}, after
 * which the reducer refuses further use. Close it before its group. Calls from one thread at a time.
 */
public final class OverlappedGradientReducer implements AutoCloseable {
    private MemorySegment handle;

    private OverlappedGradientReducer(MemorySegment handle) {
        this.handle = handle;
    }

    /**
     * A reducer over group for tensors (trainable leaves that require grad, in parameter order); outputs.get(i)
     * (contiguous, as many elements as tensors.get(i), all of one floating dtype, the buckets' dtype) receives the
     * average of tensor i's gradient at each {@link #finish}. The shim keeps its own references to both lists'
     * tensors: the caller may close its handles.
     */
    public static OverlappedGradientReducer create(ProcessGroup group, List<Tensor> tensors, List<Tensor> outputs, long bucketBytes) {
        if (tensors.size() != outputs.size()) {
            throw new IllegalArgumentException(tensors.size() + " tensors but " + outputs.size() + " outputs");
        }
        if (bucketBytes < 1) throw new IllegalArgumentException("bucket size must be positive, got " + bucketBytes);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment h = DistCheck.handle(at_reducer_new(group.nativeHandle(), handles(arena, tensors), handles(arena, outputs),
                    tensors.size(), bucketBytes));
            return new OverlappedGradientReducer(h);
        }
    }

    /**
     * Before each backward: true arms the hooks for it (the step's last micro-batch: its gradients, accumulated with
     * the earlier ones', are all-reduced as they appear); false lets it only accumulate. A {@link DistException} when
     * an armed backward was not finished, or the reducer failed earlier.
     */
    public void prepare(boolean reduceThisBackward) {
        DistCheck.status(at_reducer_prepare(handle(), reduceThisBackward ? 1 : 0));
    }

    /**
     * After the armed backward: starts the buckets not started yet (a tensor that got no gradient in that backward
     * counts with its .grad, or as zero without one), waits for all of them and writes the averages into the outputs.
     * A {@link DistException} when a peer is gone or did not answer within the group's timeout.
     */
    public void finish() {
        DistCheck.status(at_reducer_finish(handle()));
    }

    /** The number of buckets. */
    public int bucketCount() {
        return DistCheck.status(at_reducer_bucket_count(handle()));
    }

    /** Buckets whose all-reduce the gradient hooks started while backward ran, over this reducer's life. */
    public long bucketsLaunchedDuringBackward() {
        return launched(true);
    }

    /** Buckets whose all-reduce {@link #finish} had to start (some tensor of theirs got no gradient in backward), over this reducer's life. */
    public long bucketsLaunchedAtFinish() {
        return launched(false);
    }

    /** Removes the hooks and frees the native reducer. Idempotent. */
    @Override
    public void close() {
        MemorySegment h = handle;
        if (h == null) return;
        handle = null;
        at_reducer_free(h);
    }

    private long launched(boolean duringBackward) {
        long n = at_reducer_launched(handle(), duringBackward ? 1 : 0);
        if (n < 0) throw DistCheck.failure();
        return n;
    }

    private MemorySegment handle() {
        if (handle == null) throw new DistException("gradient reducer used after it was closed");
        return handle;
    }

    private static MemorySegment handles(Arena arena, List<Tensor> tensors) {
        MemorySegment array = arena.allocate(ValueLayout.ADDRESS, Math.max(1, tensors.size()));
        for (int i = 0; i < tensors.size(); i++) array.setAtIndex(ValueLayout.ADDRESS, i, tensors.get(i).handle());
        return array;
    }
}
