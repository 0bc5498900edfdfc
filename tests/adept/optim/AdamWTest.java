package adept.optim;

import static org.junit.jupiter.api.Assertions.*;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.TorchOptimizer;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** adept's AdamW against libtorch's torch::optim::AdamW over several steps. */
class AdamWTest {
    private static List<Tensor> params(long seed) {
        Torch.manualSeed(seed);
        List<Tensor> ps = new ArrayList<>();
        try (Scope scope = Scope.open()) {
            ps.add(Tensor.randn(DType.FLOAT64, Device.CPU, 5, 3).keep().requiresGrad(true));
            ps.add(Tensor.randn(DType.FLOAT64, Device.CPU, 7).keep().requiresGrad(true));
        }
        return ps;
    }

    private static void backward(List<Tensor> ps, int step) {
        try (Scope scope = Scope.open()) {
            Tensor x = Tensor.arange(0, 3, 1, DType.FLOAT64, Device.CPU).add(step * 0.1);
            Tensor loss = ps.get(0).matmul(x).sin().square().sum().add(ps.get(1).exp().mul(0.1 * (step + 1)).sum());
            loss.backward();
        }
    }

    @Test
    void matchesLibtorchAdamWOverSteps() {
        List<Tensor> ours = params(3);
        List<Tensor> theirs = params(3);
        try (AdamW adam = AdamW.of(ours, 0.05, 0.1);
             TorchOptimizer reference = TorchOptimizer.adamW(theirs, 0.05, 0.9, 0.999, 1e-8, 0.1)) {
            for (int step = 0; step < 6; step++) {
                backward(ours, step);
                backward(theirs, step);
                adam.step();
                reference.step();
                adam.zeroGrad();
                for (Tensor p : theirs) p.setGrad(null);
                for (int i = 0; i < ours.size(); i++) {
                    try (Scope scope = Scope.open()) {
                        double diff = ours.get(i).sub(theirs.get(i)).abs().max().item();
                        assertTrue(diff < 1e-12, "step " + step + " param " + i + " differs by " + diff);
                    }
                }
            }
            List<Tensor> initial = params(3);
            try (Scope scope = Scope.open()) {
                assertTrue(ours.get(0).sub(initial.get(0)).abs().max().item() > 0.1, "parameters moved");
            } finally {
                initial.forEach(Tensor::close);
            }
        } finally {
            ours.forEach(Tensor::close);
            theirs.forEach(Tensor::close);
        }
    }

    @Test
    void groupsKeepTheirOwnRates() {
        List<Tensor> ps = params(5);
        List<Tensor> before = new ArrayList<>();
        try (Scope scope = Scope.open()) {
            for (Tensor p : ps) before.add(p.detach().clone().keep());
        }
        try (AdamW adam = new AdamW(List.of(new AdamW.Group(List.of(ps.get(0)), 0.01, 0), new AdamW.Group(List.of(ps.get(1)), 0, 0)),
                0.9, 0.999, 1e-8)) {
            backward(ps, 0);
            adam.step();
            try (Scope scope = Scope.open()) {
                // first Adam step moves every element by lr (m/sqrt(v) = sign(g) after bias correction)
                assertEquals(0.01, ps.get(0).sub(before.get(0)).abs().max().item(), 1e-8);
                assertEquals(0.0, ps.get(1).sub(before.get(1)).abs().max().item(), "rate 0 leaves the group unchanged");
            }
        } finally {
            ps.forEach(Tensor::close);
            before.forEach(Tensor::close);
        }
    }
}
