package adept.optim;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.GradientArrivals;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Split-rate AdamW (decoupled weight decay, bias correction, clipping by the global gradient norm), fast.
 * This class holds the state; the arithmetic is {@link AdamWStep}'s functions, the path picked per step by
 * {@link AdamWStep#choose} from the settings' {@link AdamWPath}.
 *
 * <p>The parameters are moved into one flat buffer and left as views of it ({@link Tensor#setData}, as
 * Apex's flat optimizers do), so a step is a dozen elementwise ops over one tensor whatever the number of
 * units, all on the parameters' device with no host round trip. Per-unit rates are a per-element
 * multiplier vector on the device (per-row and per-column units are ranges of it), written at each
 * importance refresh, never per step, and made only when a rate first differs from 1 (full training, LoRA and
 * uniform-rate baselines never hold it: one parameters' worth of memory less). Step counts are per element: a frozen element, or a parameter that
 * got no gradient, does not advance (one host counter stands for all of them until they first diverge).
 * Moments (and master weights for 16-bit parameters) are float32 at least. The step gradient is a
 * {@link FlatGradient} the caller may fill itself (data parallel); {@link ReferenceAdamW} is the plain loop
 * every path is tested against.
 */
public final class AdamW implements SplitRateOptimizer {
    private final List<Parameter> parameters;  // decayed ones first: two contiguous regions
    private final long[] offsets;
    private final long total;
    private final long decayedElements;
    private final AdamWSettings settings;
    private final DType stateType;
    private final Device device;
    private final boolean fusedKernelHere;  // libtorch's fused kernel exists for these parameters (no master weights)
    private final Tensor flat;       // the parameters' storage, in their dtype
    private final Tensor master;     // float32 master weights when the parameters are 16-bit, else flat itself
    private final Tensor expAvg;
    private final Tensor expAvgSq;
    private Tensor multiplier;       // null while every multiplier is 1 (then multipliersAreOne)
    private final FlatGradient gradient; // the step's flat gradient (state type): copied in or filled by the caller, clipped in place
    private final GradientArrivals arrivals; // non-null: zeroGrad makes the .grads views of the flat gradient (see zeroGrad)
    private Tensor frozen;           // bool, null when nothing was ever frozen
    private Tensor activeScale;      // state type: 0 where frozen, 1 elsewhere; null until a step needs it after the mask changed
    private Tensor stepCount;        // per element, null while every element has taken uniformSteps steps
    private long uniformSteps;
    private boolean multipliersAreOne = true;
    private boolean anyFrozen;
    private Tensor lastGradNorm;

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
        fusedKernelHere = stateType == dtype && Torch.hasFusedAdamW(device);
        checkPath(settings.path(), dtype);
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
        }
        gradient = new FlatGradient(this.parameters, stateType, device);
        boolean leaves = true;
        for (Parameter p : this.parameters) leaves &= p.tensor().requiresGrad();
        arrivals = stateType == dtype && leaves ? new GradientArrivals(this.parameters.stream().map(Parameter::tensor).toList()) : null;
        // from the first backward on, not only after the first step: that step's separate .grads would set the peak
        if (arrivals != null) attachGradientViews(false);
    }

    /** Makes each parameter's .grad its view of the flat gradient: where it has none, or (replace) wherever it is another tensor. */
    private void attachGradientViews(boolean replace) {
        try (Scope scope = Scope.open()) {
            for (int i = 0; i < parameters.size(); i++) {
                Tensor p = parameters.get(i).tensor();
                Tensor g = p.grad();
                if (g == null || (replace && !gradient.holds(i, g))) p.setGrad(gradient.view(i));
            }
        }
    }

    /** A path the parameters cannot take fails here, once, rather than at a step. */
    private void checkPath(AdamWPath path, DType dtype) {
        if (path == AdamWPath.ONE_PASS_KERNEL && device.isCuda()) {
            throw new IllegalArgumentException("AdamW path ONE_PASS_KERNEL runs on the CPU only, the parameters are on " + device);
        }
        if (path == AdamWPath.FUSED && !fusedKernelHere) {
            throw new IllegalArgumentException("AdamW path FUSED: no fused AdamW kernel for " + dtype + " parameters on " + device
                    + (stateType != dtype ? " (16-bit parameters keep master weights)" : " in this libtorch (2.4+ has it)"));
        }
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

    /** What the method is given to make its optimizer: AdamW with these settings. */
    public static SplitRateOptimizer.Factory factory(AdamWSettings settings) {
        return parameters -> new AdamW(parameters, settings);
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

    @Override
    public long trainableElements() {
        return total;
    }

    @Override
    public FlatGradient flatGradient() {
        return gradient;
    }

    private Tensor shaped(Tensor flatVector, int index) {
        Tensor p = parameters.get(index).tensor();
        return flatVector.narrow(0, offsets[index], p.numel()).view(p.shape());
    }

    @Override
    public void setMultiplier(int index, int dim, long start, long length, double value) {
        checkRate(value);
        if (multiplier == null && value == 1) return;  // already 1
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            SplitRateOptimizer.unitView(shaped(multipliers(), index), dim, start, length).fill(value);
        }
        if (value != 1) multipliersAreOne = false;
    }

    private static void checkRate(double value) {
        if (!(value >= 0) || Double.isInfinite(value)) throw new IllegalArgumentException("rate multiplier must be finite and >= 0, got " + value);
    }

    /** The multiplier vector, made (all ones) on first need. */
    private Tensor multipliers() {
        if (multiplier == null) {
            try (Scope scope = Scope.open()) {
                multiplier = Tensor.ones(stateType, device, total).keep();
            }
        }
        return multiplier;
    }

    /** Drops the multiplier vector: every multiplier 1 again. */
    private void dropMultipliers() {
        if (multiplier != null) multiplier.close();
        multiplier = null;
        multipliersAreOne = true;
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
        checkRate(value);
        try (var noGrad = Torch.noGrad()) {
            if (value == 1) dropMultipliers();
            else multipliers().fill(value);
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
    public void step(double lr, GradientSource source) {
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            boolean[] hasGradient = new boolean[parameters.size()];
            boolean[] arrived = arrivals == null ? null : arrivals.arrived();
            boolean any = false;
            boolean all = true;
            for (int i = 0; i < parameters.size(); i++) {
                // a .grad that is the flat gradient's view counts where a backward reached it since zeroGrad
                Tensor g = parameters.get(i).tensor().grad();
                hasGradient[i] = g != null && (arrived == null || arrived[i] || !gradient.holds(i, g));
                any |= hasGradient[i];
                all &= hasGradient[i];
            }
            if (!any) return;  // nothing has a gradient: no step, as torch.optim
            // Into a persistent buffer (the copy converts to the state type) rather than a fresh cat: a new
            // multi-MiB tensor per step comes back from malloc as fresh pages, page-faulted in on every step
            // (1.45 M floats: cat 1-16 ms depending on the malloc settings, the copies 0.45 ms).
            if (source == GradientSource.PARAMETER_GRADS) gradient.collect();
            Tensor grad = gradient.tensor();
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
            boolean uniform = stepCount == null && all && !anyFrozen;
            if (uniform) uniformSteps++;
            else if (stepCount == null) stepCount = Tensor.full(uniformSteps, DType.FLOAT64, device, total).keep();
            AdamWOperands operands = new AdamWOperands(master, grad, expAvg, expAvgSq, multiplier, anyFrozen ? frozen : null, stepCount,
                    uniformSteps, offsets, hasGradient, decayedElements, multipliersAreOne, clip);
            AdamWPath path = AdamWStep.choose(settings.path(), device, fusedKernelHere, uniform, multipliersAreOne);
            AdamWStep.run(path, operands, lr, settings);
            if (master != flat) flat.copyFrom(master);
        }
    }

    @Override
    public RateStats rateStats() {
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            if (multiplier == null) {  // every rate 1, frozen elements 0: no full-size vector for it
                double frozenShare = anyFrozen ? frozen.to(DType.FLOAT64).mean().item() : 0;
                return new RateStats(1 - frozenShare, frozenShare > 0 ? 0 : 1, frozenShare < 1 ? 1 : 0, frozenShare, 0);
            }
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

    /**
     * Clears the gradients. Where the parameters are float32 / float64 leaves, each .grad becomes (stays) a zeroed
     * view of the flat gradient, so the next backward accumulates straight into the buffer the step reads (as DDP's
     * gradient_as_bucket_view): no second copy of the gradients and no copy per step. A parameter no backward
     * reached still takes no step (its gradient arrivals are tracked), as with torch's set_to_none.
     */
    @Override
    public void zeroGrad() {
        if (arrivals == null) {
            for (Parameter p : parameters) p.tensor().setGrad(null);
            return;
        }
        try (var noGrad = Torch.noGrad()) {
            gradient.tensor().zero();
        }
        arrivals.clear();
        attachGradientViews(true);
    }

    @Override
    public Map<String, Tensor> exportState() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (Scope scope = Scope.open()) {
            out.put("exp_avg", expAvg.clone().keep());
            out.put("exp_avg_sq", expAvgSq.clone().keep());
            out.put("multiplier", (multiplier != null ? multiplier.clone() : Tensor.ones(stateType, device, total)).keep());
            out.put("frozen", (frozen != null ? frozen.clone() : Tensor.zeros(DType.BOOL, device, total)).to(DType.UINT8).keep());
            out.put("step", (stepCount != null ? stepCount.clone() : Tensor.full(uniformSteps, DType.FLOAT64, device, total)).keep());
            out.put("uniform_steps", Tensor.of(new long[] {stepCount == null ? uniformSteps : -1}, 1).keep());
            if (master != flat) out.put("master", master.clone().keep());
        }
        return out;
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
            Tensor rates = state.get("multiplier");
            if (rates.eq(1).to(DType.FLOAT32).min().item() == 1) {
                dropMultipliers();
            } else {
                multipliers().copyFrom(rates);
                multipliersAreOne = false;
            }
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
        if (arrivals != null) {
            arrivals.close();
            // the parameters outlive the optimizer: they must not keep its gradient buffer alive
            try (Scope scope = Scope.open()) {
                for (int i = 0; i < parameters.size(); i++) {
                    Tensor p = parameters.get(i).tensor();
                    Tensor g = p.grad();
                    if (g != null && gradient.holds(i, g)) p.setGrad(null);
                }
            }
        }
        for (Tensor t : new Tensor[] {expAvg, expAvgSq, multiplier, frozen, activeScale, stepCount, lastGradNorm}) {
            if (t != null) t.close();
        }
        gradient.close();
        if (master != flat) master.close();
        flat.close();
    }
}
