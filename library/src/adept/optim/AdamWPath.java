package adept.optim;

/**
 * Which arithmetic runs an {@link AdamW} step over the flat buffer (all of them equal {@link ReferenceAdamW},
 * the plain per-tensor loop). {@link AdamWStep#choose} is the one place a step's path is picked from this.
 */
public enum AdamWPath {
    /** The fastest that applies: {@link #ONE_PASS_KERNEL} on the CPU; elsewhere {@link #FUSED}, which falls back to {@link #TENSOR_OPS}. */
    AUTO,
    /**
     * A dozen elementwise tensor ops over the flat buffer (PyTorch's multi-tensor arithmetic): scalar bias
     * corrections in cache-sized slices while every element has taken the same number of steps, per-element
     * step counts masked by where once they diverge.
     */
    TENSOR_OPS,
    /** The shim's one-pass kernel (clip factor, decay, moments, bias corrections, frozen mask, step counts in one loop); CPU only. */
    ONE_PASS_KERNEL,
    /**
     * libtorch's fused AdamW kernel, one call per region (decayed, undecayed), on the steps it can do: every
     * element at the same step count, every multiplier 1, nothing frozen. Other steps run {@link #TENSOR_OPS}.
     * Needs libtorch 2.4+ ({@code Torch.hasFusedAdamW}) and parameters without master weights (not 16-bit).
     */
    FUSED
}
