package adept.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class AutogradTest {
    /** A composite of the ops a decoder uses: linear, silu, rms-norm, attention-like softmax, cross-entropy. */
    private static Tensor composite(Tensor x, Tensor w, Tensor b, Tensor norm, Tensor targets) {
        Tensor h = x.linear(w, b).silu();                       // [4, 5]
        h = h.rmsNorm(norm, 1e-6);
        Tensor attention = h.matmul(h.transpose(0, 1)).mul(0.3).softmax(-1);  // [4, 4]
        Tensor mixed = attention.matmul(h).add(h.tanh());
        return mixed.crossEntropy(targets).add(x.square().add(1).rsqrt().sum().mul(0.1));
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        try (Scope scope = Scope.open()) {
            Torch.manualSeed(7);
            Tensor x = Tensor.randn(DType.FLOAT64, Device.CPU, 4, 3).requiresGrad(true);
            Tensor w = Tensor.randn(DType.FLOAT64, Device.CPU, 5, 3).requiresGrad(true);
            Tensor b = Tensor.randn(DType.FLOAT64, Device.CPU, 5).requiresGrad(true);
            Tensor norm = Tensor.rand(DType.FLOAT64, Device.CPU, 5).add(0.5).detach().requiresGrad(true);
            Tensor targets = Tensor.of(new long[] {0, 4, 2, -100});
            Supplier<Tensor> f = () -> composite(x, w, b, norm, targets);

            f.get().backward();
            for (Tensor p : List.of(x, w, b, norm)) {
                double[] analytic = p.grad().toDoubleArray();
                double[] numeric = finiteDifference(f, p);
                for (int i = 0; i < analytic.length; i++) {
                    double scale = Math.max(1e-3, Math.abs(numeric[i]));
                    assertEquals(numeric[i], analytic[i], 1e-6 * scale + 1e-9, "d loss / d param element " + i + " of " + p);
                }
            }
        }
    }

    /** Central differences in float64, perturbing the tensor's own storage through its segment. */
    private static double[] finiteDifference(Supplier<Tensor> f, Tensor p) {
        MemorySegment data = p.asSegment();
        double[] out = new double[(int) p.numel()];
        double eps = 1e-6;
        try (var noGrad = Torch.noGrad()) {
            for (int i = 0; i < out.length; i++) {
                double original = data.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
                data.setAtIndex(ValueLayout.JAVA_DOUBLE, i, original + eps);
                double plus;
                double minus;
                try (Scope s = Scope.open()) {
                    plus = f.get().item();
                }
                data.setAtIndex(ValueLayout.JAVA_DOUBLE, i, original - eps);
                try (Scope s = Scope.open()) {
                    minus = f.get().item();
                }
                data.setAtIndex(ValueLayout.JAVA_DOUBLE, i, original);
                out[i] = (plus - minus) / (2 * eps);
            }
        }
        return out;
    }

    @Test
    void backwardAccumulatesAndGradCanBeReplaced() {
        try (Scope scope = Scope.open()) {
            Tensor x = Tensor.of(new double[] {1, 2, 3}).requiresGrad(true);
            assertTrue(x.isLeaf());
            assertNull(x.grad(), "no gradient before backward");
            x.square().sum().backward();  // d/dx sum x^2 = 2x
            assertArrayEquals(new double[] {2, 4, 6}, x.grad().toDoubleArray());
            x.mul(3).sum().backward();  // accumulates +3
            assertArrayEquals(new double[] {5, 7, 9}, x.grad().toDoubleArray());
            x.setGrad(null);
            assertNull(x.grad());
            x.setGrad(Tensor.ones(DType.FLOAT64, Device.CPU, 3));
            assertArrayEquals(new double[] {1, 1, 1}, x.grad().toDoubleArray());
            Tensor y = x.mul(2);
            assertFalse(y.isLeaf());
            y.backward(Tensor.of(new double[] {1, 10, 100}), false);  // vector-Jacobian product
            assertArrayEquals(new double[] {3, 21, 201}, x.grad().toDoubleArray());
        }
    }

    @Test
    void autogradGradLeavesDotGradUntouched() {
        try (Scope scope = Scope.open()) {
            Tensor w = Tensor.of(new double[] {1, -2}).requiresGrad(true);
            Tensor u = Tensor.of(new double[] {3}).requiresGrad(true);
            w.mul(w).sum().backward();
            double[] trainingGrad = w.grad().toDoubleArray();  // 2w = [2, -4]

            Tensor probeLoss = w.mul(5).sum().add(w.pow(3).sum());  // d/dw = 5 + 3w^2 = [8, 17]
            List<Tensor> side = Autograd.grad(List.of(probeLoss), List.of(w, u), null, false, true);
            assertArrayEquals(new double[] {8, 17}, side.get(0).toDoubleArray());
            assertNull(side.get(1), "u is unused");
            assertArrayEquals(trainingGrad, w.grad().toDoubleArray(), "training gradient must be untouched");
            assertNull(u.grad());
            assertThrows(TorchException.class, () -> Autograd.grad(w.sum(), List.of(w, u)), "unused input without allowUnused");
        }
    }

    @Test
    void noGradScopeRecordsNothing() {
        try (Scope scope = Scope.open()) {
            Tensor x = Tensor.ones(DType.FLOAT32, Device.CPU, 2).requiresGrad(true);
            assertTrue(Torch.isGradEnabled());
            try (var noGrad = Torch.noGrad()) {
                assertFalse(Torch.isGradEnabled());
                Tensor y = x.mul(2);
                assertFalse(y.requiresGrad());
                try (var enable = Torch.enableGrad()) {
                    assertTrue(x.mul(2).requiresGrad());
                }
                assertFalse(Torch.isGradEnabled(), "nested guard restores the outer mode");
            }
            assertTrue(Torch.isGradEnabled());
            assertTrue(x.mul(2).requiresGrad());
            assertFalse(x.detach().requiresGrad());
        }
    }
}
