package adept.optim;

/** Where a {@link SplitRateOptimizer#step} takes the gradients from. */
public enum GradientSource {
    /** Each parameter's .grad, copied into the optimizer's {@link FlatGradient} by the step (one process). */
    PARAMETER_GRADS,
    /**
     * Already in the optimizer's {@link FlatGradient}, written there by the caller (data parallel: averaged over
     * the ranks, by buckets after backward or by an overlapped reducer during it). Which parameters have a
     * gradient this step is still read from their .grad.
     */
    FLAT_BUFFER
}
