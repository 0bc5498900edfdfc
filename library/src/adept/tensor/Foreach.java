package adept.tensor;

import static adept.bindings.adept_torch_h.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/** Multi-tensor (libtorch _foreach_*) updates: one call for a whole list, as optimizers need. */
public final class Foreach {
    private Foreach() {}

    private static void sameLength(List<Tensor> a, List<Tensor> b) {
        if (a.size() != b.size()) throw new TorchException("tensor lists differ in length: " + a.size() + " vs " + b.size());
    }

    /** ts[i] += alpha * others[i] */
    public static void addInPlace(List<Tensor> ts, List<Tensor> others, double alpha) {
        sameLength(ts, others);
        Scratch s = Scratch.get();
        Check.status(at_foreach_add_(s.handles(0, ts), s.handles(1, others), ts.size(), alpha));
    }

    /** Adds value to every tensor, in place. */
    public static void addInPlace(List<Tensor> ts, double value) {
        Check.status(at_foreach_add_scalar_(Scratch.get().handles(0, ts), ts.size(), value));
    }

    /** Multiplies every tensor by value, in place. */
    public static void mulInPlace(List<Tensor> ts, double value) {
        Check.status(at_foreach_mul_scalar_(Scratch.get().handles(0, ts), ts.size(), value));
    }

    /** ts[i] *= factor, a one-element tensor on the tensors' device: no host round trip. */
    public static void mulInPlace(List<Tensor> ts, Tensor factor) {
        Check.status(at_foreach_mul_tensor_(Scratch.get().handles(0, ts), ts.size(), factor.handle()));
    }

    /** Multiplies each tensor by its partner in others, in place. */
    public static void mulInPlace(List<Tensor> ts, List<Tensor> others) {
        sameLength(ts, others);
        Scratch s = Scratch.get();
        Check.status(at_foreach_mul_(s.handles(0, ts), s.handles(1, others), ts.size()));
    }

    /** ts[i] += weight * (ends[i] - ts[i]) */
    public static void lerpInPlace(List<Tensor> ts, List<Tensor> ends, double weight) {
        sameLength(ts, ends);
        Scratch s = Scratch.get();
        Check.status(at_foreach_lerp_(s.handles(0, ts), s.handles(1, ends), ts.size(), weight));
    }

    /** ts[i] += value * a[i] * b[i] */
    public static void addcmulInPlace(List<Tensor> ts, List<Tensor> a, List<Tensor> b, double value) {
        sameLength(ts, a);
        sameLength(ts, b);
        Scratch s = Scratch.get();
        Check.status(at_foreach_addcmul_(s.handles(0, ts), s.handles(1, a), s.handles(2, b), ts.size(), value));
    }

    /** ts[i] += value * a[i] / b[i] */
    public static void addcdivInPlace(List<Tensor> ts, List<Tensor> a, List<Tensor> b, double value) {
        sameLength(ts, a);
        sameLength(ts, b);
        Scratch s = Scratch.get();
        Check.status(at_foreach_addcdiv_(s.handles(0, ts), s.handles(1, a), s.handles(2, b), ts.size(), value));
    }

    /** Sets every element of every tensor to 0. */
    public static void zero(List<Tensor> ts) {
        Check.status(at_foreach_zero_(Scratch.get().handles(0, ts), ts.size()));
    }

    /** The square root of each tensor (new tensors). */
    public static List<Tensor> sqrt(List<Tensor> ts) {
        Scratch s = Scratch.get();
        MemorySegment out = s.pointers(3, ts.size());
        Check.status(at_foreach_sqrt(s.handles(0, ts), ts.size(), out));
        return collect(out, ts.size());
    }

    /** L2 norm of each tensor, as 0-dim tensors. */
    public static List<Tensor> norm(List<Tensor> ts) {
        Scratch s = Scratch.get();
        MemorySegment out = s.pointers(3, ts.size());
        Check.status(at_foreach_norm(s.handles(0, ts), ts.size(), out));
        return collect(out, ts.size());
    }

    /**
     * libtorch's fused AdamW kernel over the lists (steps: float step counts, incremented by the kernel);
     * only where {@link Torch#hasFusedAdamW} says it exists.
     */
    public static void fusedAdamW(List<Tensor> params, List<Tensor> grads, List<Tensor> expAvgs, List<Tensor> expAvgSqs,
                                  List<Tensor> steps, double lr, double beta1, double beta2, double weightDecay, double eps) {
        sameLength(params, grads);
        sameLength(params, expAvgs);
        sameLength(params, expAvgSqs);
        sameLength(params, steps);
        Scratch s = Scratch.get();
        MemorySegment stepHandles = s.handles(4, steps);
        Check.status(at_fused_adamw_(s.handles(0, params), s.handles(1, grads), s.handles(2, expAvgs), s.handles(3, expAvgSqs),
                stepHandles, params.size(), lr, beta1, beta2, weightDecay, eps));
    }

    /**
     * One pass of split-rate AdamW over flat 1-D contiguous CPU tensors of one dtype (float32 or float64):
     * see at_adamw_flat_step_ in native/adept_torch.h. multiplier (null: every rate 1), frozen (bool), stepCount (float64, advanced where
     * not frozen) and clipCoef (one element, multiplies the gradient) may be null; elements below
     * decayedElements get the weight decay; with stepCount null every element is at step uniformStep.
     */
    public static void adamWFlatStep(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, Tensor multiplier, Tensor frozen,
                                     Tensor stepCount, Tensor clipCoef, long decayedElements, double lr, double beta1, double beta2,
                                     double eps, double weightDecay, double uniformStep) {
        Check.status(at_adamw_flat_step_(param.handle(), grad.handle(), expAvg.handle(), expAvgSq.handle(), orNull(multiplier),
                orNull(frozen), orNull(stepCount), orNull(clipCoef), decayedElements, lr, beta1, beta2, eps, weightDecay, uniformStep));
    }

    private static MemorySegment orNull(Tensor t) {
        return t == null ? MemorySegment.NULL : t.handle();
    }

    private static List<Tensor> collect(MemorySegment handles, int n) {
        List<Tensor> result = new ArrayList<>(n);
        for (int i = 0; i < n; i++) result.add(Tensor.wrap(handles.getAtIndex(ValueLayout.ADDRESS, i)));
        return result;
    }
}
