package adept.optim;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Foreach;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Split-rate AdamW (decoupled weight decay, bias correction, clipping by the global gradient norm), fast.
 *
 * <p>The parameters are moved into one flat buffer and left as views of it ({@link Tensor#setData}, as
 * Apex's flat optimizers do), so a step is a dozen elementwise ops over one tensor whatever the number of
 * units, all on the parameters' device with no host round trip. Per-unit rates are a per-element
 * multiplier vector on the device (per-row and per-column units are ranges of it), written at each
 * importance refresh, never per step. Step counts are per element: a frozen element, or a parameter that
 * got no gradient, does not advance (one host counter stands for all of them until they first diverge).
 * Moments (and master weights for 16-bit parameters) are float32 at least. On libtorch 2.x with every
 * multiplier 1, nothing frozen and equal step counts, the step is libtorch's fused AdamW kernel over the
 * decayed and the undecayed region (two calls). On the CPU the whole update (clip factor, decay, moments,
 * bias corrections, frozen mask, step counts) is instead one pass of the shim's kernel
 * ({@link Foreach#adamWFlatStep}); the tensor-op paths remain for CUDA and as the kernel's reference
 * ({@link #useOnePassKernel}). {@link ReferenceAdamW} is the plain loop all of them are tested against.
 */
public final class AdamW implements SplitRateOptimizer {
    /** CPU: elements per slice of the update, so a slice's p, g, m, v stay in cache across its passes. */
    static final long CPU_CHUNK = 1 << 18;

    private final List<Parameter> parameters;  // decayed ones first: two contiguous regions
    private final long[] offsets;
    private final long total;
    private final long decayedElements;
    private final AdamWSettings settings;
    private final DType stateType;
    private final Device device;
    private final Tensor flat;       // the parameters' storage, in their dtype
    private final Tensor master;     // float32 master weights when the parameters are 16-bit, else flat itself
    private final Tensor expAvg;
    private final Tensor expAvgSq;
    private final Tensor multiplier;
    private final Tensor gradBuffer; // the step's flat gradient (state type): copied in, clipped in place
    private Tensor frozen;           // bool, null when nothing was ever frozen
    private Tensor activeScale;      // state type: 0 where frozen, 1 elsewhere; null until a step needs it after the mask changed
    private Tensor stepCount;        // per element, null while every element has taken uniformSteps steps
    private long uniformSteps;
    private boolean multipliersAreOne = true;
    private boolean anyFrozen;
    private boolean useFused;
    private boolean useKernel;       // CPU: the shim's one-pass kernel instead of the tensor ops
    private Tensor fusedSteps;       // float step counters for the fused kernel, one per region
    private Tensor lastGradNorm;
    private java.util.function.Consumer<Tensor> gradientReducer;  // data parallel: averages the flat gradient over ranks
    private boolean gradientsInSlots; // data parallel, overlapped: the gradient is already in gradBuffer (averaged)

    /** AdamW over the parameters, which become views of one flat buffer; zero moments, every rate multiplier 1. */
    public AdamW(List<Parameter> parameters, AdamWSettings settings) {
        if (parameters.isEmpty()) throw new IllegalArgumentException("AdamW needs at least one parameter");
        List<Parameter> ordered = new ArrayList<>();
        for (Parameter p : parameters) if (p.decay()) ordered.add(p);
        for (Parameter p : parameters) if (!p.decay()) ordered.add(p);
        this.parameters = List.copyOf(ordered);
        this.settings = settings;
        Tensor first = this.parameters.get(0).tensor();
        DType dtype = first.dtype();
        this.device = first.device();
        this.stateType = stateType(dtype);
        offsets = new long[this.parameters.size() + 1];
        long decayed = 0;
        for (int i = 0; i < this.parameters.size(); i++) {
            Tensor t = this.parameters.get(i).tensor();
            if (t.dtype() != dtype || !t.device().equals(device)) {
                throw new IllegalArgumentException("AdamW: parameter " + this.parameters.get(i).name() + " is " + t.dtype() + " on "
                        + t.device() + ", the others " + dtype + " on " + device);
            }
            offsets[i + 1] = offsets[i] + t.numel();
            if (this.parameters.get(i).decay()) decayed = offsets[i + 1];
        }
        total = offsets[offsets.length - 1];
        decayedElements = decayed;
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            flat = Tensor.empty(dtype, device, total).keep();
            for (int i = 0; i < this.parameters.size(); i++) {
                Tensor p = this.parameters.get(i).tensor();
                Tensor view = flat.narrow(0, offsets[i], p.numel()).view(p.shape());
                view.copyFrom(p);
                p.setData(view);
            }
            master = stateType == dtype ? flat : flat.to(stateType).keep();
            expAvg = Tensor.zeros(stateType, device, total).keep();
            expAvgSq = Tensor.zeros(stateType, device, total).keep();
            multiplier = Tensor.ones(stateType, device, total).keep();
            gradBuffer = Tensor.empty(stateType, device, total).keep();
        }
        useFused = stateType == dtype && Torch.hasFusedAdamW(device);
        useKernel = !device.isCuda();
    }

    /** Moments and master weights: float32 for 16-bit parameters, the parameters' own type otherwise. */
    static DType stateType(DType dtype) {
        return dtype == DType.FLOAT64 ? DType.FLOAT64 : DType.FLOAT32;
    }

    /** As PyTorch's adamw: every parameter at one rate multiplier of 1, weight decay on all of them. */
    public static AdamW of(List<Tensor> tensors, double weightDecay) {
        List<Parameter> ps = new ArrayList<>();
        for (int i = 0; i < tensors.size(); i++) ps.add(new Parameter("p" + i, tensors.get(i), true));
        return new AdamW(ps, AdamWSettings.DEFAULT.withWeightDecay(weightDecay).withMaxGradNorm(0));
    }

    /** Turns libtorch's fused kernel off (for tests that compare paths) or back on where it exists. */
    public void useFusedKernel(boolean use) {
        useFused = use && stateType == flat.dtype() && Torch.hasFusedAdamW(device);
    }

    /**
     * Turns the one-pass CPU kernel off (the tensor-op paths then run, as on CUDA: for tests that compare
     * paths) or back on; it exists on the CPU only.
     */
    public void useOnePassKernel(boolean use) {
        useKernel = use && !device.isCuda();
    }

    /**
     * Runs reducer on each step's flat gradient (state type, parameter order) before its norm is taken:
     * data-parallel training averages it over the ranks there, so clipping and the update see the global
     * gradient. null: none (one process).
     */
    public void reduceGradientsWith(java.util.function.Consumer<Tensor> reducer) {
        this.gradientReducer = reducer;
    }

    /**
     * The view of the flat gradient buffer that parameter index's gradient goes into at each step (the state type,
     * the parameter's shape; a new handle of the current scope): where an overlapped reducer writes the average of
     * that gradient over the ranks (see {@link #useGradientsInSlots}).
     */
    public Tensor gradientSlot(int index) {
        return shaped(gradBuffer, index);
    }

    /**
     * true: step() takes the flat gradient as already written into the {@link #gradientSlot gradient slots} (by an
     * {@code adept.parallel.OverlappedGradientReducer}, averaged over the ranks during backward) instead of copying each
     * parameter's .grad into it and running the {@link #reduceGradientsWith} reducer; which parameters have a
     * gradient is still read from their .grad. false (the default): the copy.
     */
    public void useGradientsInSlots(boolean inSlots) {
        this.gradientsInSlots = inSlots;
    }

    @Override
    public List<Parameter> parameters() {
        return parameters;
    }

    /** The index of the named parameter; an error when there is none. */
    public int indexOf(String name) {
        for (int i = 0; i < parameters.size(); i++) if (parameters.get(i).name().equals(name)) return i;
        throw new IllegalArgumentException("no parameter " + name + " in the optimizer");
    }

    /** The number of elements the optimizer updates (the flat buffer's length). */
    public long trainableElements() {
        return total;
    }

    private Tensor shaped(Tensor flatVector, int index) {
        Tensor p = parameters.get(index).tensor();
        return flatVector.narrow(0, offsets[index], p.numel()).view(p.shape());
    }

    @Override
    public void setMultiplier(int index, int dim, long start, long length, double value) {
        if (!(value >= 0) || Double.isInfinite(value)) throw new IllegalArgumentException("rate multiplier must be finite and >= 0, got " + value);
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            SplitRateOptimizer.unitView(shaped(multiplier, index), dim, start, length).fill(value);
        }
        if (value != 1) multipliersAreOne = false;
    }

    @Override
    public void setFrozen(int index, int dim, long start, long length, boolean isFrozen) {
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            if (frozen == null) {
                if (!isFrozen) return;
                frozen = Tensor.zeros(DType.BOOL, device, total).keep();
            }
            SplitRateOptimizer.unitView(shaped(frozen, index), dim, start, length).fill(isFrozen ? 1 : 0);
        }
        if (isFrozen) anyFrozen = true;
        dropActiveScale();
    }

    @Override
    public void resetRates(double value) {
        try (var noGrad = Torch.noGrad()) {
            multiplier.fill(value);
            if (frozen != null) frozen.fill(0);
        }
        multipliersAreOne = value == 1;
        anyFrozen = false;
        dropActiveScale();
    }

    /** The frozen mask changed: the next step rebuilds its multiplicative form. */
    private void dropActiveScale() {
        if (activeScale != null) activeScale.close();
        activeScale = null;
    }

    @Override
    public void step(double lr) {
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            List<Tensor> grads = new ArrayList<>(parameters.size());
            List<Integer> missing = new ArrayList<>();
            for (int i = 0; i < parameters.size(); i++) {
                Tensor g = parameters.get(i).tensor().grad();
                if (g == null) missing.add(i);
                grads.add(g);
            }
            if (missing.size() == parameters.size()) return;  // nothing has a gradient: no step, as torch.optim
            // Into a persistent buffer (the copy converts to the state type) rather than a fresh cat: a new
            // multi-MiB tensor per step comes back from malloc as fresh pages, page-faulted in on every step
            // (1.45 M floats: cat 1-16 ms depending on the malloc settings, the copies 0.45 ms).
            Tensor grad = gradBuffer;
            if (!gradientsInSlots) {
                for (int i = 0; i < parameters.size(); i++) {
                    Tensor into = shaped(grad, i);
                    if (grads.get(i) == null) into.zero();
                    else into.copyFrom(grads.get(i));
                }
                if (gradientReducer != null) gradientReducer.accept(grad);
            }
            // Frozen (masked) elements do not move: their gradient must not shrink the others' clipped step either.
            // An in-place product with a mask kept from step to step: no full-size temporary per step.
            if (anyFrozen) {
                if (activeScale == null) activeScale = frozen.eq(0).to(stateType).keep();
                grad.mulInPlace(activeScale);
            }
            Tensor norm = grad.norm(2);
            if (lastGradNorm != null) lastGradNorm.close();
            lastGradNorm = norm.keep();
            // min(1, max_norm / (norm + 1e-6)) on the device, as torch.nn.utils.clip_grad_norm_
            Tensor clip = settings.maxGradNorm() > 0 ? norm.add(1e-6).reciprocal().mul(settings.maxGradNorm()).clamp(0, 1) : null;
            boolean uniform = stepCount == null && missing.isEmpty() && !anyFrozen;
            if (uniform) uniformSteps++;
            if (useKernel) {
                onePassStep(grad, clip, lr, missing, uniform);  // the clip factor is applied inside
            } else {
                if (clip != null) grad.mulInPlace(clip);
                if (!uniform) generalStep(grad, lr, missing);
                else if (useFused && multipliersAreOne) fusedStep(grad, lr);
                else uniformStep(grad, lr);
            }
            if (master != flat) flat.copyFrom(master);
        }
    }

    /**
     * The shim's one-pass CPU kernel over each run of consecutive parameters that have a gradient (those
     * without are left out, so their elements neither move nor count a step); per-element step counts
     * once steps diverge, as {@link #generalStep}. clip: the clipping factor, or null.
     */
    private void onePassStep(Tensor grad, Tensor clip, double lr, List<Integer> missing, boolean uniform) {
        if (!uniform && stepCount == null) stepCount = Tensor.full(uniformSteps, DType.FLOAT64, device, total).keep();
        boolean[] absent = new boolean[parameters.size()];
        for (int i : missing) absent[i] = true;
        Tensor frozenMask = anyFrozen ? frozen : null;
        for (int i = 0; i < parameters.size(); ) {
            if (absent[i]) {
                i++;
                continue;
            }
            int j = i;
            while (j < parameters.size() && !absent[j]) j++;
            long start = offsets[i];
            long n = offsets[j] - start;
            try (Scope run = Scope.open()) {
                Foreach.adamWFlatStep(master.narrow(0, start, n), grad.narrow(0, start, n), expAvg.narrow(0, start, n),
                        expAvgSq.narrow(0, start, n), multiplier.narrow(0, start, n),
                        frozenMask == null ? null : frozenMask.narrow(0, start, n), stepCount == null ? null : stepCount.narrow(0, start, n),
                        clip, Math.max(0, decayedElements - start), lr, settings.beta1(), settings.beta2(), settings.eps(),
                        settings.weightDecay(), uniformSteps);
            }
            i = j;
        }
    }

    /** Every element at step uniformSteps: scalar bias corrections, cache-sized slices on the CPU. */
    private void uniformStep(Tensor grad, double lr) {
        double b1 = settings.beta1();
        double b2 = settings.beta2();
        double bias1 = 1 - Math.pow(b1, uniformSteps);
        double bias2Sqrt = Math.sqrt(1 - Math.pow(b2, uniformSteps));
        long chunk = device.isCuda() ? total : CPU_CHUNK;
        for (long start = 0; start < total; start += chunk) {
            try (Scope slice = Scope.open()) {
                long n = Math.min(chunk, total - start);
                Tensor p = master.narrow(0, start, n);
                Tensor g = grad.narrow(0, start, n);
                Tensor m = expAvg.narrow(0, start, n);
                Tensor v = expAvgSq.narrow(0, start, n);
                Tensor r = multiplier.narrow(0, start, n);
                long decayedHere = Math.max(0, Math.min(n, decayedElements - start));
                if (settings.weightDecay() != 0 && decayedHere > 0) {
                    Tensor pd = p.narrow(0, 0, decayedHere);
                    if (multipliersAreOne) pd.mulInPlace(1 - lr * settings.weightDecay());
                    else pd.addcmulInPlace(pd, r.narrow(0, 0, decayedHere), -lr * settings.weightDecay());
                }
                m.lerpInPlace(g, 1 - b1);
                v.mulInPlace(b2);
                v.addcmulInPlace(g, g, 1 - b2);
                Tensor denominator = v.sqrt();
                denominator.mulInPlace(1 / bias2Sqrt);
                denominator.addInPlace(settings.eps());
                if (multipliersAreOne) p.addcdivInPlace(m, denominator, -lr / bias1);
                else p.addcmulInPlace(m.div(denominator), r, -lr / bias1);
            }
        }
    }

    /** libtorch's fused kernel, one call per region (decayed, undecayed). */
    private void fusedStep(Tensor grad, double lr) {
        if (fusedSteps == null) {
            try (Scope scope = Scope.open()) {
                fusedSteps = Tensor.zeros(DType.FLOAT32, device, 2).keep();
            }
        }
        fusedSteps.fill(uniformSteps - 1);  // the kernel adds one before using it
        long[][] regions = {{0, decayedElements}, {decayedElements, total - decayedElements}};
        double[] decay = {settings.weightDecay(), 0};
        for (int r = 0; r < 2; r++) {
            if (regions[r][1] == 0) continue;
            try (Scope scope = Scope.open()) {
                long s = regions[r][0];
                long n = regions[r][1];
                Foreach.fusedAdamW(List.of(master.narrow(0, s, n)), List.of(grad.narrow(0, s, n)), List.of(expAvg.narrow(0, s, n)),
                        List.of(expAvgSq.narrow(0, s, n)), List.of(fusedSteps.select(0, r)), lr, settings.beta1(), settings.beta2(),
                        decay[r], settings.eps());
            }
        }
    }

    /** Per-element step counts (frozen elements or gradient-less parameters fell behind): masked by where. */
    private void generalStep(Tensor grad, double lr, List<Integer> missing) {
        // Step counts and the per-element scalars derived from them in float64 (rounded once to the state
        // type), so a float32 step rounds as torch's, whose scalars are doubles.
        if (stepCount == null) stepCount = Tensor.full(uniformSteps, DType.FLOAT64, device, total).keep();
        double b1 = settings.beta1();
        double b2 = settings.beta2();
        Tensor active = frozen == null ? Tensor.ones(DType.BOOL, device, total) : frozen.eq(0);
        if (!missing.isEmpty()) {
            if (frozen == null) active = active.clone();
            for (int i : missing) active.narrow(0, offsets[i], parameters.get(i).tensor().numel()).fill(0);
        }
        stepCount.addInPlace(active.to(DType.FLOAT64), 1);
        Tensor counted = stepCount.clamp(1, 1e30);
        Tensor bias1 = Tensor.scalar(b1, DType.FLOAT64, device).pow(counted).neg().add(1);
        Tensor bias2Sqrt = Tensor.scalar(b2, DType.FLOAT64, device).pow(counted).neg().add(1).sqrt().to(stateType);
        Tensor rate = multiplier.to(DType.FLOAT64).mul(lr);
        Tensor stepSize = rate.div(bias1).to(stateType);
        Tensor p = master;
        Tensor decayed = p;
        if (settings.weightDecay() != 0 && decayedElements > 0) {
            decayed = p.clone();
            Tensor pd = decayed.narrow(0, 0, decayedElements);
            pd.mulInPlace(rate.narrow(0, 0, decayedElements).mul(-settings.weightDecay()).add(1).to(stateType));
        }
        Tensor mNew = expAvg.mul(b1);
        mNew.addInPlace(grad, 1 - b1);
        Tensor vNew = expAvgSq.mul(b2);
        vNew.addcmulInPlace(grad, grad, 1 - b2);
        Tensor denominator = vNew.sqrt().div(bias2Sqrt).add(settings.eps());
        Tensor updated = decayed.sub(stepSize.mul(mNew.div(denominator)));
        p.copyFrom(Tensor.where(active, updated, p));
        expAvg.copyFrom(Tensor.where(active, mNew, expAvg));
        expAvgSq.copyFrom(Tensor.where(active, vNew, expAvgSq));
    }

    @Override
    public RateStats rateStats() {
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            Tensor effective = anyFrozen ? multiplier.maskedFill(frozen, 0) : multiplier;
            Tensor half = Tensor.scalar(0.5, stateType, device);
            Tensor oneAndHalf = Tensor.scalar(1.5, stateType, device);
            return new RateStats(effective.to(DType.FLOAT64).mean().item(), effective.min().item(), effective.max().item(),
                    effective.lt(half).to(DType.FLOAT64).mean().item(), effective.gt(oneAndHalf).to(DType.FLOAT64).mean().item());
        }
    }

    @Override
    public Tensor lastGradNorm() {
        return lastGradNorm;
    }

    @Override
    public void zeroGrad() {
        for (Parameter p : parameters) p.tensor().setGrad(null);
    }

    /** Layout check for {@link #importState}: names and sizes in flat order. */
    private String layout() {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < parameters.size(); i++) {
            s.append(parameters.get(i).name()).append(':').append(Arrays.toString(parameters.get(i).tensor().shape())).append(';');
        }
        return s.toString();
    }

    @Override
    public Map<String, Tensor> exportState() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (Scope scope = Scope.open()) {
            out.put("exp_avg", expAvg.clone().keep());
            out.put("exp_avg_sq", expAvgSq.clone().keep());
            out.put("multiplier", multiplier.clone().keep());
            out.put("frozen", (frozen != null ? frozen.clone() : Tensor.zeros(DType.BOOL, device, total)).to(DType.UINT8).keep());
            out.put("step", (stepCount != null ? stepCount.clone() : Tensor.full(uniformSteps, DType.FLOAT64, device, total)).keep());
            out.put("uniform_steps", Tensor.of(new long[] {stepCount == null ? uniformSteps : -1}, 1).keep());
            if (master != flat) out.put("master", master.clone().keep());
        }
        return out;
    }

    /** The parameters' names and shapes in the order of the flat state, for a checkpoint's metadata. */
    public String stateLayout() {
        return layout();
    }

    @Override
    public void importState(Map<String, Tensor> state) {
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            for (String key : List.of("exp_avg", "exp_avg_sq", "multiplier", "frozen", "step")) {
                Tensor t = require(state, key);
                if (t.numel() != total) throw new IllegalArgumentException("optimizer state " + key + " has " + t.numel() + " elements, expected " + total);
            }
            expAvg.copyFrom(state.get("exp_avg"));
            expAvgSq.copyFrom(state.get("exp_avg_sq"));
            multiplier.copyFrom(state.get("multiplier"));
            multipliersAreOne = multiplier.eq(1).to(DType.FLOAT32).min().item() == 1;
            Tensor f = state.get("frozen").to(DType.BOOL, device);
            anyFrozen = f.to(DType.FLOAT32).max().item() > 0;
            if (frozen != null) frozen.close();
            frozen = anyFrozen ? f.clone().keep() : null;
            dropActiveScale();
            long uniform = (long) require(state, "uniform_steps").item();
            if (stepCount != null) stepCount.close();
            stepCount = null;
            if (uniform >= 0) uniformSteps = uniform;
            else stepCount = state.get("step").to(DType.FLOAT64, device).clone().keep();
            if (master != flat) master.copyFrom(require(state, "master"));
        }
    }

    static Tensor require(Map<String, Tensor> state, String key) {
        Tensor t = state.get(key);
        if (t == null) throw new IllegalArgumentException("optimizer state lacks " + key);
        return t;
    }

    @Override
    public void close() {
        for (Tensor t : new Tensor[] {expAvg, expAvgSq, multiplier, gradBuffer, frozen, activeScale, stepCount, fusedSteps, lastGradNorm}) {
            if (t != null) t.close();
        }
        if (master != flat) master.close();
        flat.close();
    }
}
