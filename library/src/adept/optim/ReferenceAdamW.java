package adept.optim;

import adept.tensor.DType;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The plain per-tensor loop the fast {@link AdamW} is tested against: torch.optim.AdamW's single-tensor
 * arithmetic, one parameter at a time, with whole-shape tensors for the rate multipliers, the frozen mask
 * and the step counts. Written to be obviously right, not fast.
 */
public final class ReferenceAdamW implements SplitRateOptimizer {
    private final List<Parameter> parameters;
    private final AdamWSettings settings;
    private final List<Tensor> expAvg = new ArrayList<>();
    private final List<Tensor> expAvgSq = new ArrayList<>();
    private final List<Tensor> steps = new ArrayList<>();
    private final List<Tensor> multipliers = new ArrayList<>();
    private final List<Tensor> frozen = new ArrayList<>();
    private Tensor lastGradNorm;
    private FlatGradient gradient;  // made on first use

    /** A plain per-tensor AdamW over the parameters, with zero moments. */
    public ReferenceAdamW(List<Parameter> parameters, AdamWSettings settings) {
        this.parameters = List.copyOf(parameters);
        this.settings = settings;
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            for (Parameter p : this.parameters) {
                DType state = AdamW.stateType(p.tensor().dtype());
                long[] shape = p.tensor().shape();
                expAvg.add(Tensor.zeros(state, p.tensor().device(), shape).keep());
                expAvgSq.add(Tensor.zeros(state, p.tensor().device(), shape).keep());
                steps.add(Tensor.zeros(state, p.tensor().device(), shape).keep());
                multipliers.add(Tensor.ones(state, p.tensor().device(), shape).keep());
                frozen.add(Tensor.zeros(DType.BOOL, p.tensor().device(), shape).keep());
            }
        }
    }

    @Override
    public List<Parameter> parameters() {
        return parameters;
    }

    @Override
    public FlatGradient flatGradient() {
        if (gradient == null) {
            Tensor first = parameters.get(0).tensor();
            gradient = new FlatGradient(parameters, AdamW.stateType(first.dtype()), first.device());
        }
        return gradient;
    }

    @Override
    public void setMultiplier(int index, int dim, long start, long length, double multiplier) {
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            SplitRateOptimizer.unitView(multipliers.get(index), dim, start, length).fill(multiplier);
        }
    }

    @Override
    public void setFrozen(int index, int dim, long start, long length, boolean isFrozen) {
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            SplitRateOptimizer.unitView(frozen.get(index), dim, start, length).fill(isFrozen ? 1 : 0);
        }
    }

    @Override
    public void resetRates(double value) {
        try (var noGrad = Torch.noGrad()) {
            for (Tensor m : multipliers) m.fill(value);
            for (Tensor f : frozen) f.fill(0);
        }
    }

    @Override
    public void step(double lr, GradientSource source) {
        double b1 = settings.beta1();
        double b2 = settings.beta2();
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            List<Tensor> grads = new ArrayList<>();
            Tensor sumSquares = null;
            for (int i = 0; i < parameters.size(); i++) {
                Tensor g = parameters.get(i).tensor().grad();
                if (g != null && source == GradientSource.FLAT_BUFFER) g = flatGradient().view(i);
                if (g != null) {
                    g = g.to(AdamW.stateType(g.dtype()));
                    Tensor s = g.maskedFill(frozen.get(i), 0).square().sum();  // frozen elements are not in the clipping norm
                    sumSquares = sumSquares == null ? s : sumSquares.add(s);
                }
                grads.add(g);
            }
            if (sumSquares == null) return;
            Tensor norm = sumSquares.sqrt();
            if (lastGradNorm != null) lastGradNorm.close();
            lastGradNorm = norm.clone().keep();
            Tensor clip = null;
            if (settings.maxGradNorm() > 0) clip = norm.add(1e-6).reciprocal().mul(settings.maxGradNorm()).clamp(0, 1);
            for (int i = 0; i < parameters.size(); i++) {
                Tensor g = grads.get(i);
                if (g == null) continue;  // no gradient: the parameter and its state stay as they are
                if (clip != null) g = g.mul(clip);
                Parameter p = parameters.get(i);
                Tensor param = p.tensor();
                Tensor theta = param.to(AdamW.stateType(param.dtype()));
                Tensor active = frozen.get(i).eq(0);
                Tensor step = steps.get(i);
                step.copyFrom(step.add(active.to(step.dtype())));
                Tensor rate = multipliers.get(i).mul(lr);
                Tensor m = expAvg.get(i);
                Tensor v = expAvgSq.get(i);
                Tensor decayed = p.decay() ? theta.sub(theta.mul(rate).mul(settings.weightDecay())) : theta;
                Tensor mNew = m.add(g.sub(m).mul(1 - b1));
                Tensor vNew = v.mul(b2).add(g.square().mul(1 - b2));
                Tensor counted = step.clamp(1, 1e30);
                Tensor bias1 = Tensor.scalar(b1, step.dtype(), step.device()).pow(counted).neg().add(1);
                Tensor bias2 = Tensor.scalar(b2, step.dtype(), step.device()).pow(counted).neg().add(1);
                Tensor denominator = vNew.sqrt().div(bias2.sqrt()).add(settings.eps());
                Tensor updated = decayed.sub(rate.div(bias1).mul(mNew.div(denominator)));
                param.copyFrom(Tensor.where(active, updated, theta).to(param.dtype()));
                m.copyFrom(Tensor.where(active, mNew, m));
                v.copyFrom(Tensor.where(active, vNew, v));
            }
        }
    }

    @Override
    public RateStats rateStats() {
        List<Double> all = new ArrayList<>();
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            for (int i = 0; i < parameters.size(); i++) {
                double[] w = multipliers.get(i).to(DType.FLOAT64).contiguous().toDoubleArray();
                double[] f = frozen.get(i).to(DType.FLOAT64).contiguous().toDoubleArray();
                for (int j = 0; j < w.length; j++) all.add(f[j] != 0 ? 0.0 : w[j]);
            }
        }
        return RateStats.of(all.stream().mapToDouble(Double::doubleValue).toArray());
    }

    @Override
    public Tensor lastGradNorm() {
        return lastGradNorm;
    }

    @Override
    public void zeroGrad() {
        for (Parameter p : parameters) p.tensor().setGrad(null);
    }

    @Override
    public Map<String, Tensor> exportState() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (Scope scope = Scope.open()) {
            for (int i = 0; i < parameters.size(); i++) {
                String n = parameters.get(i).name();
                out.put("exp_avg." + n, expAvg.get(i).clone().keep());
                out.put("exp_avg_sq." + n, expAvgSq.get(i).clone().keep());
                out.put("step." + n, steps.get(i).clone().keep());
            }
        }
        return out;
    }

    @Override
    public void importState(Map<String, Tensor> state) {
        try (var noGrad = Torch.noGrad()) {
            for (int i = 0; i < parameters.size(); i++) {
                String n = parameters.get(i).name();
                expAvg.get(i).copyFrom(AdamW.require(state, "exp_avg." + n));
                expAvgSq.get(i).copyFrom(AdamW.require(state, "exp_avg_sq." + n));
                steps.get(i).copyFrom(AdamW.require(state, "step." + n));
            }
        }
    }

    @Override
    public void close() {
        for (List<Tensor> list : List.of(expAvg, expAvgSq, steps, multipliers, frozen)) list.forEach(Tensor::close);
        if (lastGradNorm != null) lastGradNorm.close();
        if (gradient != null) gradient.close();
    }
}
