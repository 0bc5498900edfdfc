package adept.optim;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Foreach;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import java.util.List;

/**
 * AdamW's step paths as plain functions over explicit {@link AdamWOperands} (as torch/optim/adamw.py's
 * functional core), and {@link #choose}, the one place that picks a step's path. The functions run under
 * no-grad inside the caller's scope; each is tested equal to {@link ReferenceAdamW}.
 */
public final class AdamWStep {
    /** CPU: elements per slice of the update, so a slice's p, g, m, v stay in cache across its passes. */
    static final long CPU_CHUNK = 1 << 18;

    private AdamWStep() {
    }

    /**
     * The path a step runs (never {@link AdamWPath#AUTO}): requested where it applies, else the tensor ops.
     * fusedKernelHere: libtorch's fused kernel exists for the parameters (their device, no master weights).
     */
    public static AdamWPath choose(AdamWPath requested, Device device, boolean fusedKernelHere, boolean uniform, boolean multipliersAreOne) {
        boolean fusedApplies = fusedKernelHere && uniform && multipliersAreOne;
        return switch (requested) {
            case AUTO -> !device.isCuda() ? AdamWPath.ONE_PASS_KERNEL : fusedApplies ? AdamWPath.FUSED : AdamWPath.TENSOR_OPS;
            case ONE_PASS_KERNEL -> AdamWPath.ONE_PASS_KERNEL;
            case FUSED -> fusedApplies ? AdamWPath.FUSED : AdamWPath.TENSOR_OPS;
            case TENSOR_OPS -> AdamWPath.TENSOR_OPS;
        };
    }

    /** Runs path (one {@link #choose} gave) over s at base rate lr. */
    public static void run(AdamWPath path, AdamWOperands s, double lr, AdamWSettings h) {
        switch (path) {
            case ONE_PASS_KERNEL -> onePassKernel(s, lr, h);
            case FUSED -> fused(s, lr, h);
            case TENSOR_OPS -> {
                if (s.clip() != null) s.grad().mulInPlace(s.clip());
                if (s.uniform()) uniformOps(s, lr, h);
                else perElementOps(s, lr, h);
            }
            case AUTO -> throw new IllegalArgumentException("AdamWStep.run needs a concrete path, not AUTO (see choose)");
        }
    }

    /**
     * The shim's one-pass CPU kernel over each run of consecutive parameters that have a gradient (those
     * without are left out, so their elements neither move nor count a step); the clip factor is applied inside.
     */
    static void onePassKernel(AdamWOperands s, double lr, AdamWSettings h) {
        long[] offsets = s.offsets();
        boolean[] has = s.hasGradient();
        for (int i = 0; i < has.length; ) {
            if (!has[i]) {
                i++;
                continue;
            }
            int j = i;
            while (j < has.length && has[j]) j++;
            long start = offsets[i];
            long n = offsets[j] - start;
            try (Scope run = Scope.open()) {
                Foreach.adamWFlatStep(s.params().narrow(0, start, n), s.grad().narrow(0, start, n), s.expAvg().narrow(0, start, n),
                        s.expAvgSq().narrow(0, start, n), s.multiplier() == null ? null : s.multiplier().narrow(0, start, n),
                        s.frozen() == null ? null : s.frozen().narrow(0, start, n), s.uniform() ? null : s.stepCount().narrow(0, start, n),
                        s.clip(), Math.max(0, s.decayedElements() - start), lr, h.beta1(), h.beta2(), h.eps(), h.weightDecay(), s.uniformSteps());
            }
            i = j;
        }
    }

    /** Every element at step uniformSteps: scalar bias corrections, cache-sized slices on the CPU. The gradient is clipped already. */
    static void uniformOps(AdamWOperands s, double lr, AdamWSettings h) {
        double b1 = h.beta1();
        double b2 = h.beta2();
        double bias1 = 1 - Math.pow(b1, s.uniformSteps());
        double bias2Sqrt = Math.sqrt(1 - Math.pow(b2, s.uniformSteps()));
        long total = s.total();
        long chunk = s.params().device().isCuda() ? total : CPU_CHUNK;
        for (long start = 0; start < total; start += chunk) {
            try (Scope slice = Scope.open()) {
                long n = Math.min(chunk, total - start);
                Tensor p = s.params().narrow(0, start, n);
                Tensor g = s.grad().narrow(0, start, n);
                Tensor m = s.expAvg().narrow(0, start, n);
                Tensor v = s.expAvgSq().narrow(0, start, n);
                Tensor r = s.multipliersAreOne() ? null : s.multiplier().narrow(0, start, n);
                long decayedHere = Math.max(0, Math.min(n, s.decayedElements() - start));
                if (h.weightDecay() != 0 && decayedHere > 0) {
                    Tensor pd = p.narrow(0, 0, decayedHere);
                    if (s.multipliersAreOne()) pd.mulInPlace(1 - lr * h.weightDecay());
                    else pd.addcmulInPlace(pd, r.narrow(0, 0, decayedHere), -lr * h.weightDecay());
                }
                m.lerpInPlace(g, 1 - b1);
                v.mulInPlace(b2);
                v.addcmulInPlace(g, g, 1 - b2);
                Tensor denominator = v.sqrt();
                denominator.mulInPlace(1 / bias2Sqrt);
                denominator.addInPlace(h.eps());
                if (s.multipliersAreOne()) p.addcdivInPlace(m, denominator, -lr / bias1);
                else p.addcmulInPlace(m.div(denominator), r, -lr / bias1);
            }
        }
    }

    /** libtorch's fused kernel, one call per region (decayed, undecayed); only on a uniform step with every multiplier 1. */
    static void fused(AdamWOperands s, double lr, AdamWSettings h) {
        if (!s.uniform() || !s.multipliersAreOne() || s.frozen() != null) {
            throw new IllegalArgumentException("the fused AdamW kernel takes uniform steps with every multiplier 1 and nothing frozen");
        }
        if (s.clip() != null) s.grad().mulInPlace(s.clip());
        long total = s.total();
        long decayed = s.decayedElements();
        Tensor steps = Tensor.full(s.uniformSteps() - 1, DType.FLOAT32, s.params().device(), 2);  // the kernel adds one before using it
        long[][] regions = {{0, decayed}, {decayed, total - decayed}};
        double[] decay = {h.weightDecay(), 0};
        for (int r = 0; r < 2; r++) {
            if (regions[r][1] == 0) continue;
            try (Scope scope = Scope.open()) {
                long start = regions[r][0];
                long n = regions[r][1];
                Foreach.fusedAdamW(List.of(s.params().narrow(0, start, n)), List.of(s.grad().narrow(0, start, n)),
                        List.of(s.expAvg().narrow(0, start, n)), List.of(s.expAvgSq().narrow(0, start, n)), List.of(steps.select(0, r)), lr,
                        h.beta1(), h.beta2(), decay[r], h.eps());
            }
        }
    }

    /**
     * Per-element step counts (frozen elements or gradient-less parameters fell behind): the update computed
     * everywhere, kept where active (where). The gradient is clipped already.
     */
    static void perElementOps(AdamWOperands s, double lr, AdamWSettings h) {
        // Step counts and the per-element scalars derived from them in float64 (rounded once to the state
        // type), so a float32 step rounds as torch's, whose scalars are doubles.
        DType stateType = s.params().dtype();
        Device device = s.params().device();
        long total = s.total();
        double b1 = h.beta1();
        double b2 = h.beta2();
        Tensor active = s.frozen() == null ? Tensor.ones(DType.BOOL, device, total) : s.frozen().eq(0);
        for (int i = 0; i < s.hasGradient().length; i++) {
            if (!s.hasGradient()[i]) active.narrow(0, s.offsets()[i], s.offsets()[i + 1] - s.offsets()[i]).fill(0);
        }
        Tensor stepCount = s.stepCount();
        stepCount.addInPlace(active.to(DType.FLOAT64), 1);
        Tensor counted = stepCount.clamp(1, 1e30);
        Tensor bias1 = Tensor.scalar(b1, DType.FLOAT64, device).pow(counted).neg().add(1);
        Tensor bias2Sqrt = Tensor.scalar(b2, DType.FLOAT64, device).pow(counted).neg().add(1).sqrt().to(stateType);
        Tensor rate = s.multiplier() == null ? Tensor.full(lr, DType.FLOAT64, device, total) : s.multiplier().to(DType.FLOAT64).mul(lr);
        Tensor stepSize = rate.div(bias1).to(stateType);
        Tensor p = s.params();
        Tensor decayed = p;
        long decayedElements = s.decayedElements();
        if (h.weightDecay() != 0 && decayedElements > 0) {
            decayed = p.clone();
            Tensor pd = decayed.narrow(0, 0, decayedElements);
            pd.mulInPlace(rate.narrow(0, 0, decayedElements).mul(-h.weightDecay()).add(1).to(stateType));
        }
        Tensor mNew = s.expAvg().mul(b1);
        mNew.addInPlace(s.grad(), 1 - b1);
        Tensor vNew = s.expAvgSq().mul(b2);
        vNew.addcmulInPlace(s.grad(), s.grad(), 1 - b2);
        Tensor denominator = vNew.sqrt().div(bias2Sqrt).add(h.eps());
        Tensor updated = decayed.sub(stepSize.mul(mNew.div(denominator)));
        p.copyFrom(Tensor.where(active, updated, p));
        s.expAvg().copyFrom(Tensor.where(active, mNew, s.expAvg()));
        s.expAvgSq().copyFrom(Tensor.where(active, vNew, s.expAvgSq()));
    }
}
