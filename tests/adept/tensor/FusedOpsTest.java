package adept.tensor;

import static adept.bindings.adept_torch_h.at_test_rms_norm_plain;
import static adept.bindings.adept_torch_h.at_test_rotary_plain;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

/**
 * The fused CPU float32 RMSNorm and rotary embedding (native/adept_fused.cpp) against their decomposed ATen forms
 * (what autograd differentiates op by op): outputs and every gradient within 1e-6 of the largest reference value.
 */
class FusedOpsTest {
    private static final double TOLERANCE = 1e-6;

    private static Tensor plainRotary(Tensor x, Tensor cos, Tensor sin) {
        return Tensor.wrap(at_test_rotary_plain(x.handle(), cos.handle(), sin.handle()));
    }

    private static Tensor plainNorm(Tensor x, Tensor w, double eps) {
        return Tensor.wrap(at_test_rms_norm_plain(x.handle(), w.handle(), eps));
    }

    private static void assertClose(Tensor expected, Tensor actual, String what) {
        assertEquals(java.util.Arrays.toString(expected.shape()), java.util.Arrays.toString(actual.shape()), what + " shape");
        double scale = expected.abs().max().item();
        double diff = expected.sub(actual).abs().max().item();
        assertTrue(diff <= TOLERANCE * Math.max(scale, 1e-30), what + ": max |diff| " + diff + " against max |value| " + scale);
    }

    /** [B, T, heads, D] projections seen as [B, heads, T, D], as the decoder layer hands them over (a strided view). */
    private static Tensor headsView(long b, long t, long heads, long d, long seed) {
        Torch.manualSeed(seed);
        return Tensor.randn(DType.FLOAT32, Device.CPU, b, t, heads, d).requiresGrad(true);
    }

    private static Tensor[] tables(long t, long d) {
        Tensor positions = Tensor.arange(t).to(DType.FLOAT32).view(t, 1);
        Tensor frequencies = Tensor.randn(DType.FLOAT32, Device.CPU, 1, d / 2).abs();
        Tensor angles = Tensor.cat(java.util.List.of(positions.mul(frequencies), positions.mul(frequencies)), -1);
        return new Tensor[] {angles.cos(), angles.sin()};
    }

    @Test
    void rotaryMatchesTheDecomposedFormForwardAndBackward() {
        for (long[] shape : new long[][] {{2, 7, 3, 8}, {8, 64, 8, 32}, {1, 5, 2, 128}}) {
            try (Scope scope = Scope.open()) {
                long b = shape[0], t = shape[1], heads = shape[2], d = shape[3];
                Tensor[] cs = tables(t, d);
                Tensor fusedIn = headsView(b, t, heads, d, 11);
                Tensor plainIn = headsView(b, t, heads, d, 11);
                Tensor fused = fusedIn.transpose(1, 2).rotary(cs[0], cs[1]);
                Tensor plain = plainRotary(plainIn.transpose(1, 2), cs[0], cs[1]);
                assertTrue(fused.isContiguous(), "a fresh contiguous tensor");
                assertClose(plain, fused, "rotary " + java.util.Arrays.toString(shape));
                Torch.manualSeed(5);
                Tensor upstream = Tensor.randn(DType.FLOAT32, Device.CPU, b, heads, t, d);
                fused.mul(upstream).sum().backward();
                plain.mul(upstream).sum().backward();
                assertClose(plainIn.grad(), fusedIn.grad(), "rotary grad " + java.util.Arrays.toString(shape));
            }
        }
    }

    @Test
    void rmsNormMatchesTheDecomposedFormForwardAndBackward() {
        for (long[] shape : new long[][] {{3, 5, 16}, {8, 256, 256}, {1, 1, 1000}, {130, 64}}) {
            try (Scope scope = Scope.open()) {
                long h = shape[shape.length - 1];
                Torch.manualSeed(3);
                Tensor x = Tensor.randn(DType.FLOAT32, Device.CPU, shape).mul(3.0).detach().requiresGrad(true);
                Tensor w = Tensor.randn(DType.FLOAT32, Device.CPU, h).detach().requiresGrad(true);
                Tensor xp = x.detach().clone().requiresGrad(true);
                Tensor wp = w.detach().clone().requiresGrad(true);
                Tensor fused = x.rmsNorm(w, 1e-6);
                Tensor plain = plainNorm(xp, wp, 1e-6);
                String name = java.util.Arrays.toString(shape);
                assertClose(plain, fused, "rms norm " + name);
                Tensor upstream = Tensor.randn(DType.FLOAT32, Device.CPU, shape);
                fused.mul(upstream).sum().backward();
                plain.mul(upstream).sum().backward();
                assertClose(xp.grad(), x.grad(), "rms norm x grad " + name);
                assertClose(wp.grad(), w.grad(), "rms norm weight grad " + name);
            }
        }
    }

    @Test
    void aFrozenNormWeightGetsNoGradientAndTheInputStillDoes() {
        try (Scope scope = Scope.open()) {
            Torch.manualSeed(4);
            Tensor x = Tensor.randn(DType.FLOAT32, Device.CPU, 4, 32).requiresGrad(true);
            Tensor w = Tensor.randn(DType.FLOAT32, Device.CPU, 32);  // frozen, as stage 2's original layers
            Tensor xp = x.detach().clone().requiresGrad(true);
            x.rmsNorm(w, 1e-5).sum().backward();
            plainNorm(xp, w, 1e-5).sum().backward();
            assertNull(w.grad());
            assertClose(xp.grad(), x.grad(), "x grad with a frozen weight");
        }
    }

    @Test
    void crossEntropySumAndGradientMatchLibtorchsLossAndAutograd() {
        try (Scope scope = Scope.open()) {
            Torch.manualSeed(8);
            Tensor logits = Tensor.randn(DType.FLOAT32, Device.CPU, 9, 50).mul(4.0).detach().requiresGrad(true);
            Tensor targets = Tensor.randint(0, 50, DType.INT64, Device.CPU, 9);
            targets.narrow(0, 3, 2).fill(Tensor.IGNORE_INDEX);  // two ignored rows: no loss, no gradient
            Tensor expected = logits.crossEntropy(targets, Tensor.IGNORE_INDEX, Tensor.Reduction.SUM);
            expected.backward();
            Tensor[] fused = logits.detach().crossEntropySumAndGradient(targets, Tensor.IGNORE_INDEX);
            assertClose(expected.detach(), fused[0], "summed loss");
            assertClose(logits.grad(), fused[1], "logit gradient");
            assertEquals(0.0, fused[1].narrow(0, 3, 2).abs().max().item(), "ignored rows");
        }
    }

    @Test
    void trainingCrossEntropyMatchesLogSoftmaxAndGatherUnderAutograd() {
        for (Tensor.Reduction reduction : new Tensor.Reduction[] {Tensor.Reduction.MEAN, Tensor.Reduction.SUM}) {
            try (Scope scope = Scope.open()) {
                Torch.manualSeed(9);
                Tensor logits = Tensor.randn(DType.FLOAT32, Device.CPU, 12, 70).mul(3.0).detach().requiresGrad(true);
                Tensor reference = logits.detach().clone().requiresGrad(true);
                Tensor targets = Tensor.randint(0, 70, DType.INT64, Device.CPU, 12);
                targets.narrow(0, 5, 3).fill(Tensor.IGNORE_INDEX);
                Tensor fused = logits.crossEntropy(targets, Tensor.IGNORE_INDEX, reduction);  // grad wanted: the fused form
                // the decomposed reference: -sum over kept rows of log_softmax at the target, / kept rows for the mean
                Tensor kept = targets.eq((double) Tensor.IGNORE_INDEX).to(DType.FLOAT32).neg().add(1.0);
                Tensor index = targets.maskedFill(targets.eq((double) Tensor.IGNORE_INDEX), 0).unsqueeze(1);
                Tensor picked = reference.logSoftmax(-1).gather(1, index).reshape(-1).mul(kept);
                Tensor plain = picked.sum().neg();
                if (reduction == Tensor.Reduction.MEAN) plain = plain.div(kept.sum());
                assertClose(plain.detach(), fused.detach(), "loss " + reduction);
                fused.mul(2.5).backward();
                plain.mul(2.5).backward();
                assertClose(reference.grad(), logits.grad(), "logit gradient " + reduction);
                try (var noGrad = Torch.noGrad()) {  // evaluation: libtorch's own, the same value
                    assertClose(plain.detach(), logits.crossEntropy(targets, Tensor.IGNORE_INDEX, reduction), "no-grad loss " + reduction);
                }
            }
        }
    }

    @Test
    void siluMulMatchesTheDecomposedFormForwardAndBackward() {
        for (long[] shape : new long[][] {{8, 256, 688}, {3, 5, 7}, {1, 1}, {40000}}) {
            try (Scope scope = Scope.open()) {
                Torch.manualSeed(9);
                // wide values: sigmoid's both branches, saturation beyond |x| = 87, exact zeros
                Tensor g = Tensor.randn(DType.FLOAT32, Device.CPU, shape).mul(12.0).detach();
                g.reshape(-1).narrow(0, 0, 1).fill(0);
                if (g.numel() > 3) {
                    g.reshape(-1).narrow(0, 1, 1).fill(-120);
                    g.reshape(-1).narrow(0, 2, 1).fill(95);
                }
                Tensor u = Tensor.randn(DType.FLOAT32, Device.CPU, shape).detach();
                Tensor gf = g.clone().requiresGrad(true), uf = u.clone().requiresGrad(true);
                Tensor gp = g.clone().requiresGrad(true), up = u.clone().requiresGrad(true);
                Tensor fused = gf.siluMul(uf);
                Tensor plain = gp.silu().mul(up);
                String name = java.util.Arrays.toString(shape);
                assertClose(plain, fused, "silu * up " + name);
                Tensor upstream = Tensor.randn(DType.FLOAT32, Device.CPU, shape);
                fused.mul(upstream).sum().backward();
                plain.mul(upstream).sum().backward();
                assertClose(gp.grad(), gf.grad(), "gate grad " + name);
                assertClose(up.grad(), uf.grad(), "up grad " + name);
                try (var off = Torch.noGrad()) {
                    assertEquals(0.0, g.siluMul(u).sub(fused.detach()).abs().max().item(), "the same bits without a gradient");
                }
            }
        }
        try (Scope scope = Scope.open()) {  // a NaN stays NaN; a strided gate takes the decomposed path
            Tensor g = Tensor.zeros(DType.FLOAT32, Device.CPU, 4).fill(Double.NaN);
            Tensor r = g.siluMul(Tensor.ones(DType.FLOAT32, Device.CPU, 4));
            assertTrue(Double.isNaN(r.max().item()));
            Tensor m = Tensor.randn(DType.FLOAT32, Device.CPU, 6, 4);
            Tensor u = Tensor.randn(DType.FLOAT32, Device.CPU, 4, 6);
            assertClose(m.transpose(0, 1).silu().mul(u), m.transpose(0, 1).siluMul(u), "strided");
        }
    }

    @Test
    void otherDtypesTakeTheDecomposedPathUnchanged() {
        try (Scope scope = Scope.open()) {
            Torch.manualSeed(6);
            Tensor x = Tensor.randn(DType.FLOAT64, Device.CPU, 2, 3, 5, 8);
            Tensor w = Tensor.randn(DType.FLOAT64, Device.CPU, 8);
            Tensor[] cs = {Tensor.randn(DType.FLOAT64, Device.CPU, 5, 8), Tensor.randn(DType.FLOAT64, Device.CPU, 5, 8)};
            BiFunction<Tensor, Tensor, Double> maxDiff = (a, b) -> a.sub(b).abs().max().item();
            assertEquals(0.0, maxDiff.apply(plainNorm(x, w, 1e-6), x.rmsNorm(w, 1e-6)));
            assertEquals(0.0, maxDiff.apply(plainRotary(x, cs[0], cs[1]), x.rotary(cs[0], cs[1])));
        }
    }
}
