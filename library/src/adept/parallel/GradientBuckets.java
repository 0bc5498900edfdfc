package adept.parallel;

import adept.tensor.Scope;
import adept.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Averages a flat gradient over the ranks, in place, as buckets of at most bucketBytes (as PyTorch DDP's
 * 25 MiB): every bucket's all-reduce is started before the first is awaited, so Gloo's threads work on
 * several at once. No overlap with backward: the buckets go out once the whole gradient is there (the reference
 * path; {@link OverlappedGradientReducer} starts them during backward).
 */
public final class GradientBuckets {
    public static final long DEFAULT_BUCKET_BYTES = 25L << 20;

    private final ProcessGroup group;
    private final long bucketBytes;
    private long bytesPerCall;

    /** The variable that overrides {@link #DEFAULT_BUCKET_BYTES} for adept train (as DDP's bucket_cap_mb, in bytes). */
    public static final String BUCKET_BYTES_VARIABLE = "ADEPT_DIST_BUCKET_BYTES";

    /** The bucket size env gives in {@link #BUCKET_BYTES_VARIABLE} (a positive integer), else {@link #DEFAULT_BUCKET_BYTES}. */
    public static long bucketBytes(Map<String, String> env) {
        String text = env.get(BUCKET_BYTES_VARIABLE);
        if (text == null || text.isBlank()) return DEFAULT_BUCKET_BYTES;
        try {
            long bytes = Long.parseLong(text.trim());
            if (bytes >= 1) return bytes;
        } catch (NumberFormatException e) {
            // the message below
        }
        throw new DistException(BUCKET_BYTES_VARIABLE + " '" + text.trim() + "' is not a positive number of bytes");
    }

    /** Buckets of at most bucketBytes, all-reduced over group. */
    public GradientBuckets(ProcessGroup group, long bucketBytes) {
        if (bucketBytes < 1) throw new IllegalArgumentException("bucket size must be positive, got " + bucketBytes);
        this.group = group;
        this.bucketBytes = bucketBytes;
    }

    /** Buckets of {@link #DEFAULT_BUCKET_BYTES} (25 MiB, as DistributedDataParallel). */
    public GradientBuckets(ProcessGroup group) {
        this(group, DEFAULT_BUCKET_BYTES);
    }

    /** Replaces flat (1-D, contiguous) by its average over the ranks. */
    public void averageInPlace(Tensor flat) {
        if (flat.dim() != 1 || !flat.isContiguous()) throw new IllegalArgumentException("gradient buckets need a flat contiguous tensor");
        long total = flat.numel();
        long elementBytes = flat.dtype().byteSize();
        long perBucket = Math.max(1, bucketBytes / elementBytes);
        try (Scope scope = Scope.open()) {
            List<Tensor> buckets = new ArrayList<>();
            for (long start = 0; start < total; start += perBucket) buckets.add(flat.narrow(0, start, Math.min(perBucket, total - start)));
            try (Work work = group.allReduceAsync(buckets, Reduction.AVG)) {
                work.await();
            }
        }
        bytesPerCall = total * elementBytes;
    }

    /** Bytes the last call all-reduced (the trainable tensors' gradient in the optimizer's state type). */
    public long bytesPerCall() {
        return bytesPerCall;
    }
}
