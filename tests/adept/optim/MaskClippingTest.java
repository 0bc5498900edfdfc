package adept.optim;

import static org.junit.jupiter.api.Assertions.*;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Mask mode: a frozen unit's gradient is not in the clipping norm. The plain reference is the same step with
 * the frozen rows' gradient set to zero by hand; a frozen gradient 1000x larger must change nothing.
 */
class MaskClippingTest {
    static List<Tensor> params() {
        Torch.manualSeed(5);
        List<Tensor> ps = new ArrayList<>();
        try (Scope scope = Scope.open()) {
            ps.add(Tensor.randn(DType.FLOAT64, Device.CPU, 4, 3).keep().requiresGrad(true));
            ps.add(Tensor.randn(DType.FLOAT64, Device.CPU, 5).keep().requiresGrad(true));
        }
        return ps;
    }

    /** Gradients: row 1 of p0 (the frozen unit) scaled by frozenScale. */
    static void setGrads(List<Tensor> ps, int step, double frozenScale) {
        try (Scope scope = Scope.open()) {
            Tensor g0 = Tensor.arange(0, 12, 1, DType.FLOAT64, Device.CPU).add(step).sin().view(4, 3).mul(3);
            Tensor rowScale = Tensor.ones(DType.FLOAT64, Device.CPU, 4, 1);
            rowScale.narrow(0, 1, 1).fill(frozenScale);
            ps.get(0).setGrad(g0.mul(rowScale));
            ps.get(1).setGrad(Tensor.arange(0, 5, 1, DType.FLOAT64, Device.CPU).add(step).cos().mul(2));
        }
    }

    static List<Tensor> train(SplitRateOptimizerFactory make, double frozenScale) {
        List<Tensor> ps = params();
        List<Parameter> named = List.of(new Parameter("a", ps.get(0), true), new Parameter("b", ps.get(1), false));
        try (SplitRateOptimizer o = make.create(named, new AdamWSettings(0.9, 0.999, 1e-8, 0.1, 0.5))) {
            int a = o.parameters().get(0).name().equals("a") ? 0 : 1;
            o.setFrozen(a, 0, 1, 1, true);
            for (int step = 0; step < 5; step++) {
                setGrads(ps, step, frozenScale);
                o.step(0.01);
                assertTrue(o.lastGradNorm().item() > 0.5, "the step was clipped");
                o.zeroGrad();
            }
        }
        return ps;
    }

    interface SplitRateOptimizerFactory {
        SplitRateOptimizer create(List<Parameter> ps, AdamWSettings settings);
    }

    @Test
    void frozenGradientsDoNotShrinkTheOthersClippedStep() {
        for (AdamWPath path : new AdamWPath[] {AdamWPath.ONE_PASS_KERNEL, AdamWPath.TENSOR_OPS}) {
            SplitRateOptimizerFactory fast = (ps, s) -> new AdamW(ps, s.withPath(path));
            for (SplitRateOptimizerFactory make : List.of(fast, ReferenceAdamW::new)) {
                List<Tensor> zeroed = train(make, 0.0);     // the plain reference: nothing in the frozen rows
                List<Tensor> large = train(make, 1000.0);   // the frozen rows' gradient dominates the raw norm
                for (int i = 0; i < 2; i++) {
                    try (Scope scope = Scope.open()) {
                        double diff = zeroed.get(i).sub(large.get(i)).abs().max().item();
                        assertTrue(diff < 1e-14, path + ", " + make + ": param " + i + " differs by " + diff);
                    }
                }
                zeroed.forEach(Tensor::close);
                large.forEach(Tensor::close);
            }
        }
    }
}
