package adept.optim;

import static org.junit.jupiter.api.Assertions.*;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Foreach;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.tensor.TorchOptimizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The split-rate AdamW against libtorch's torch::optim::AdamW (all rates equal) and the fast flat path
 * against the plain per-tensor loop {@link ReferenceAdamW} (per-tensor rates, per-row and per-column rates,
 * frozen units, a parameter without gradient on some steps, clipping).
 */
class AdamWTest {
    /** Three parameters: a matrix, a vector, and a matrix that gets no gradient on odd steps. */
    static List<Tensor> params(long seed, DType dtype) {
        Torch.manualSeed(seed);
        List<Tensor> ps = new ArrayList<>();
        try (Scope scope = Scope.open()) {
            ps.add(Tensor.randn(DType.FLOAT64, Device.CPU, 5, 3).to(dtype).keep().requiresGrad(true));
            ps.add(Tensor.randn(DType.FLOAT64, Device.CPU, 7).to(dtype).keep().requiresGrad(true));
            ps.add(Tensor.randn(DType.FLOAT64, Device.CPU, 4, 6).to(dtype).keep().requiresGrad(true));
        }
        return ps;
    }

    /** A loss with a different gradient every step; ps[2] takes part on even steps only. */
    static void backward(List<Tensor> ps, int step) {
        try (Scope scope = Scope.open()) {
            DType dtype = ps.get(0).dtype();
            Tensor x = Tensor.arange(0, 3, 1, dtype, Device.CPU).add(step * 0.1);
            Tensor loss = ps.get(0).matmul(x).sin().square().sum().add(ps.get(1).exp().mul(0.1 * (step + 1)).sum());
            if (step % 2 == 0) loss = loss.add(ps.get(2).mul(0.3 + 0.01 * step).cos().sum());
            loss.backward();
        }
    }

    static List<Parameter> named(List<Tensor> ps, boolean... decay) {
        List<Parameter> out = new ArrayList<>();
        for (int i = 0; i < ps.size(); i++) out.add(new Parameter("p" + i, ps.get(i), decay[i]));
        return out;
    }

    static double maxRelativeDifference(Tensor a, Tensor b) {
        try (Scope scope = Scope.open()) {
            Tensor x = a.to(DType.FLOAT64);
            Tensor y = b.to(DType.FLOAT64);
            return x.sub(y).abs().div(y.abs().clamp(1, 1e30)).max().item();
        }
    }

    static void close(List<Tensor> ts) {
        ts.forEach(Tensor::close);
    }

    /** Group A (p0, p2): rate 0.05, weight decay 0.1; group B (p1): rate 0.02, no decay. 20 steps. */
    void matchesLibtorch(DType dtype, double tolerance) {
        List<Tensor> ours = params(3, dtype);
        List<Tensor> theirs = params(3, dtype);
        List<Tensor> initial = params(3, dtype);
        AdamWSettings settings = new AdamWSettings(0.9, 0.999, 1e-8, 0.1, 0);
        try (AdamW adam = new AdamW(named(ours, true, false, true), settings);
             TorchOptimizer groupA = TorchOptimizer.adamW(List.of(theirs.get(0), theirs.get(2)), 0.05, 0.9, 0.999, 1e-8, 0.1);
             TorchOptimizer groupB = TorchOptimizer.adamW(List.of(theirs.get(1)), 0.02, 0.9, 0.999, 1e-8, 0.0)) {
            adam.setMultiplier(adam.indexOf("p1"), 0, 0, 7, 0.02 / 0.05);
            for (int step = 0; step < 20; step++) {
                backward(ours, step);
                backward(theirs, step);
                adam.step(0.05);
                groupA.step();
                groupB.step();
                adam.zeroGrad();
                for (Tensor p : theirs) p.setGrad(null);
            }
            for (int i = 0; i < ours.size(); i++) {
                double diff = maxRelativeDifference(ours.get(i), theirs.get(i));
                assertTrue(diff < tolerance, dtype + " param " + i + " differs from torch::optim::AdamW by " + diff);
                assertTrue(maxRelativeDifference(ours.get(i), initial.get(i)) > 0.05, "param " + i + " moved");
            }
        } finally {
            close(ours);
            close(theirs);
            close(initial);
        }
    }

    @Test
    void matchesLibtorchAdamWInFloat64() {
        matchesLibtorch(DType.FLOAT64, 1e-6);
    }

    @Test
    void matchesLibtorchAdamWInFloat32() {
        matchesLibtorch(DType.FLOAT32, 1e-6);
    }

    /** The same rates and frozen units on both optimizers: per-tensor, per-row (dim 0) and per-column (dim 1). */
    static void configure(SplitRateOptimizer o) {
        o.setMultiplier(0, 0, 0, 5, 1.7);         // a whole tensor
        o.setMultiplier(0, 0, 1, 2, 0.3);         // rows 1-2 of it
        o.setMultiplier(2, 1, 0, 2, 0.0);         // columns 0-1: rate 0 but not frozen (moments still move)
        o.setMultiplier(2, 1, 4, 2, 1.4);
        o.setFrozen(2, 0, 1, 1, true);            // row 1 frozen
        o.setFrozen(1, 0, 5, 2, true);            // elements 5, 6 of the vector
    }

    void fastEqualsPlainLoop(DType dtype, double tolerance, boolean clip) {
        fastEqualsPlainLoop(dtype, tolerance, clip, AdamWPath.ONE_PASS_KERNEL);
        fastEqualsPlainLoop(dtype, tolerance, clip, AdamWPath.TENSOR_OPS);
    }

    void fastEqualsPlainLoop(DType dtype, double tolerance, boolean clip, AdamWPath path) {
        List<Tensor> fastParams = params(9, dtype);
        List<Tensor> plainParams = params(9, dtype);
        List<Tensor> initial = params(9, dtype);
        AdamWSettings settings = new AdamWSettings(0.9, 0.99, 1e-8, 0.2, clip ? 0.5 : 0);
        try (AdamW fast = new AdamW(named(fastParams, true, false, true), settings.withPath(path));
             ReferenceAdamW plain = new ReferenceAdamW(named(plainParams, true, false, true), settings)) {
            // the fast optimizer orders decayed parameters first; look indices up by name
            configureByName(fast, plain);
            for (int step = 0; step < 50; step++) {
                backward(fastParams, step);
                backward(plainParams, step);
                double lr = 0.03 * (1 + Math.cos(step * 0.1));
                fast.step(lr);
                plain.step(lr);
                fast.zeroGrad();
                plain.zeroGrad();
                if (step == 20) {  // rates change at a refresh
                    fast.resetRates(0.5);
                    plain.resetRates(0.5);
                    configureByName(fast, plain);
                }
            }
            for (int i = 0; i < fastParams.size(); i++) {
                double diff = maxRelativeDifference(fastParams.get(i), plainParams.get(i));
                assertTrue(diff < tolerance, dtype + " param " + i + ": fast path " + path + " differs from the plain loop by " + diff);
            }
            try (Scope scope = Scope.open()) {
                Tensor frozenRow = fastParams.get(2).narrow(0, 1, 1);
                assertEquals(0.0, frozenRow.sub(initial.get(2).narrow(0, 1, 1)).abs().max().item(), "a frozen row is bit-identical");
                assertEquals(0.0, fastParams.get(1).narrow(0, 5, 2).sub(initial.get(1).narrow(0, 5, 2)).abs().max().item());
                assertTrue(fastParams.get(2).narrow(0, 0, 1).sub(initial.get(2).narrow(0, 0, 1)).abs().max().item() > 1e-3,
                        "unfrozen rows move");
            }
        } finally {
            close(fastParams);
            close(plainParams);
            close(initial);
        }
    }

    static void configureByName(AdamW fast, ReferenceAdamW plain) {
        configure(byName(fast));
        configure(plain);
    }

    /** fast's setMultiplier and setFrozen under the plain loop's parameter indices ("p" + index). */
    static SplitRateOptimizer byName(AdamW fast) {
        return new SplitRateOptimizer() {
            public List<Parameter> parameters() { return fast.parameters(); }
            public void setMultiplier(int index, int dim, long start, long length, double m) {
                fast.setMultiplier(fast.indexOf("p" + index), dim, start, length, m);
            }
            public void setFrozen(int index, int dim, long start, long length, boolean f) {
                fast.setFrozen(fast.indexOf("p" + index), dim, start, length, f);
            }
            public void resetRates(double v) { throw new UnsupportedOperationException(); }
            public void step(double lr, GradientSource source) { throw new UnsupportedOperationException(); }
            public FlatGradient flatGradient() { return fast.flatGradient(); }
            public Tensor lastGradNorm() { return null; }
            public adept.optim.RateStats rateStats() { return fast.rateStats(); }
            public void zeroGrad() {}
            public java.util.Map<String, Tensor> exportState() { return java.util.Map.of(); }
            public void importState(java.util.Map<String, Tensor> state) {}
            public void close() {}
        };
    }

    @Test
    void fastPathEqualsPlainLoopInFloat64() {
        fastEqualsPlainLoop(DType.FLOAT64, 1e-7, true);
        fastEqualsPlainLoop(DType.FLOAT64, 1e-7, false);
    }

    @Test
    void fastPathEqualsPlainLoopInFloat32() {
        fastEqualsPlainLoop(DType.FLOAT32, 1e-5, true);
    }

    /**
     * The one-pass CPU kernel against the plain loop and against the tensor-op path, in lockstep: per-tensor,
     * per-row and per-column rates, frozen units, a parameter without gradient on odd steps, clipping, a
     * rate refresh; frozen elements bit-identical.
     */
    void onePassKernelEqualsPlainLoopAndTensorOps(DType dtype, double tolerance) {
        List<Tensor> kernelParams = params(11, dtype);
        List<Tensor> opsParams = params(11, dtype);
        List<Tensor> plainParams = params(11, dtype);
        List<Tensor> initial = params(11, dtype);
        AdamWSettings settings = new AdamWSettings(0.9, 0.99, 1e-8, 0.2, 0.5);
        try (AdamW kernel = new AdamW(named(kernelParams, true, false, true), settings.withPath(AdamWPath.ONE_PASS_KERNEL));
             AdamW ops = new AdamW(named(opsParams, true, false, true), settings.withPath(AdamWPath.TENSOR_OPS));
             ReferenceAdamW plain = new ReferenceAdamW(named(plainParams, true, false, true), settings)) {
            Tensor[] frozenRow = new Tensor[1];
            Tensor[] frozenElements = new Tensor[1];
            for (int step = 0; step < 40; step++) {
                if (step == 3 || step == 15) {  // rates (re)written at a refresh; steps 0-2 run uniform
                    for (AdamW a : List.of(kernel, ops)) a.resetRates(step == 3 ? 1.0 : 0.5);
                    plain.resetRates(step == 3 ? 1.0 : 0.5);
                    configureByName(kernel, plain);
                    configure(byName(ops));
                    if (step == 3) {  // frozen from here on: kept as they are now
                        try (Scope scope = Scope.open()) {
                            frozenRow[0] = kernelParams.get(2).narrow(0, 1, 1).clone().keep();
                            frozenElements[0] = kernelParams.get(1).narrow(0, 5, 2).clone().keep();
                        }
                    }
                }
                for (List<Tensor> ps : List.of(kernelParams, opsParams, plainParams)) backward(ps, step);
                double lr = 0.03 * (1 + Math.cos(step * 0.1));
                kernel.step(lr);
                ops.step(lr);
                plain.step(lr);
                kernel.zeroGrad();
                ops.zeroGrad();
                plain.zeroGrad();
            }
            for (int i = 0; i < kernelParams.size(); i++) {
                double toPlain = maxRelativeDifference(kernelParams.get(i), plainParams.get(i));
                double toOps = maxRelativeDifference(kernelParams.get(i), opsParams.get(i));
                assertTrue(toPlain < tolerance, dtype + " param " + i + ": the kernel differs from the plain loop by " + toPlain);
                assertTrue(toOps < tolerance, dtype + " param " + i + ": the kernel differs from the tensor-op path by " + toOps);
                assertTrue(maxRelativeDifference(kernelParams.get(i), initial.get(i)) > 1e-3, "param " + i + " moved");
            }
            Map<String, Tensor> a = kernel.exportState();
            Map<String, Tensor> b = ops.exportState();
            try (Scope scope = Scope.open()) {
                assertEquals(0.0, a.get("step").sub(b.get("step")).abs().max().item(), "the same per-element step counts");
                for (String key : List.of("exp_avg", "exp_avg_sq")) {
                    double d = a.get(key).sub(b.get(key)).abs().max().item() / (b.get(key).abs().max().item() + 1e-30);
                    assertTrue(d < tolerance, key + " differs by " + d);
                }
                assertEquals(0.0, kernelParams.get(2).narrow(0, 1, 1).sub(frozenRow[0]).abs().max().item(), "a frozen row is bit-identical");
                assertEquals(0.0, kernelParams.get(1).narrow(0, 5, 2).sub(frozenElements[0]).abs().max().item(),
                        "frozen elements are bit-identical");
                assertTrue(frozenRow[0].sub(initial.get(2).narrow(0, 1, 1)).abs().max().item() > 0, "the row moved before it froze");
            } finally {
                frozenRow[0].close();
                frozenElements[0].close();
                a.values().forEach(Tensor::close);
                b.values().forEach(Tensor::close);
            }
        } finally {
            close(kernelParams);
            close(opsParams);
            close(plainParams);
            close(initial);
        }
    }

    @Test
    void onePassKernelEqualsPlainLoopAndTensorOpsInFloat64() {
        onePassKernelEqualsPlainLoopAndTensorOps(DType.FLOAT64, 1e-7);
    }

    @Test
    void onePassKernelEqualsPlainLoopAndTensorOpsInFloat32() {
        onePassKernelEqualsPlainLoopAndTensorOps(DType.FLOAT32, 1e-5);
    }

    /** The kernel takes flat contiguous float CPU tensors of one dtype and length only. */
    @Test
    void onePassKernelRejectsOtherTensors() {
        try (Scope scope = Scope.open()) {
            Tensor p = Tensor.zeros(DType.FLOAT32, Device.CPU, 6);
            Tensor ok = Tensor.ones(DType.FLOAT32, Device.CPU, 6);
            Foreach.adamWFlatStep(p, ok, ok.clone(), ok.clone(), ok, null, null, null, 6, 0.1, 0.9, 0.999, 1e-8, 0.1, 1);
            assertTrue(p.abs().max().item() > 0, "a valid call moves the parameters");
            Tensor matrix = Tensor.zeros(DType.FLOAT32, Device.CPU, 2, 3);
            Tensor doubles = Tensor.ones(DType.FLOAT64, Device.CPU, 6);
            Tensor shorter = Tensor.ones(DType.FLOAT32, Device.CPU, 5);
            assertThrows(adept.tensor.TorchException.class, () -> Foreach.adamWFlatStep(matrix, matrix, matrix, matrix, matrix, null, null, null, 0, 0.1, 0.9, 0.999, 1e-8, 0, 1));
            assertThrows(adept.tensor.TorchException.class, () -> Foreach.adamWFlatStep(p, doubles, ok, ok, ok, null, null, null, 0, 0.1, 0.9, 0.999, 1e-8, 0, 1));
            assertThrows(adept.tensor.TorchException.class, () -> Foreach.adamWFlatStep(p, shorter, ok, ok, ok, null, null, null, 0, 0.1, 0.9, 0.999, 1e-8, 0, 1));
            assertThrows(adept.tensor.TorchException.class, () -> Foreach.adamWFlatStep(p, ok, ok, ok, ok, ok, null, null, 0, 0.1, 0.9, 0.999, 1e-8, 0, 1),
                    "frozen must be bool");
        }
    }

    /** Uniform steps (scalar step count, multipliers) equal the plain loop on either CPU path, and the state round-trips. */
    @Test
    void uniformPathAndStateRoundTrip() {
        uniformPathAndStateRoundTrip(AdamWPath.ONE_PASS_KERNEL);
        uniformPathAndStateRoundTrip(AdamWPath.TENSOR_OPS);
    }

    void uniformPathAndStateRoundTrip(AdamWPath path) {
        List<Tensor> a = params(4, DType.FLOAT64);
        List<Tensor> b = params(4, DType.FLOAT64);
        List<Tensor> c = params(4, DType.FLOAT64);
        AdamWSettings settings = new AdamWSettings(0.9, 0.999, 1e-8, 0.1, 1.0, path);
        try (AdamW fast = new AdamW(named(a, true, false, true), settings);
             ReferenceAdamW plain = new ReferenceAdamW(named(b, true, false, true), settings)) {
            fast.setMultiplier(fast.indexOf("p0"), 0, 0, 5, 0.5);
            plain.setMultiplier(0, 0, 0, 5, 0.5);
            for (int step = 0; step < 10; step++) {
                for (List<Tensor> ps : List.of(a, b)) {
                    try (Scope scope = Scope.open()) {
                        Tensor loss = ps.get(0).sum().add(ps.get(1).square().sum()).add(ps.get(2).mul(step).sin().sum());
                        loss.backward();
                    }
                }
                fast.step(0.01);
                plain.step(0.01);
                fast.zeroGrad();
                plain.zeroGrad();
            }
            for (int i = 0; i < 3; i++) assertTrue(maxRelativeDifference(a.get(i), b.get(i)) < 1e-7, path + ": param " + i);
            // export, continue in a fresh optimizer over copies: the same trajectory
            java.util.Map<String, Tensor> state = fast.exportState();
            try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
                for (int i = 0; i < 3; i++) c.get(i).copyFrom(a.get(i));
            }
            try (AdamW resumed = new AdamW(named(c, true, false, true), settings)) {
                resumed.importState(state);
                for (List<Tensor> ps : List.of(a, c)) {
                    try (Scope scope = Scope.open()) {
                        ps.get(0).square().sum().add(ps.get(1).sum()).add(ps.get(2).cos().sum()).backward();
                    }
                }
                fast.step(0.01);
                resumed.step(0.01);
                for (int i = 0; i < 3; i++) {
                    try (Scope scope = Scope.open()) {
                        assertEquals(0.0, a.get(i).sub(c.get(i)).abs().max().item(), "param " + i + " after resume");
                    }
                }
            } finally {
                state.values().forEach(Tensor::close);
            }
        } finally {
            close(a);
            close(b);
            close(c);
        }
    }

    /**
     * Rates all 1 hold no multiplier vector (one live tensor fewer; made when a rate first differs, dropped by
     * resetRates(1)), and take the same bits as an optimizer whose vector exists and holds ones, on both CPU paths,
     * with frozen elements and a parameter without gradient; its exported state and rate statistics are the same too.
     */
    @Test
    void ratesOfOneHoldNoVectorAndGiveTheSameBits() {
        for (AdamWPath path : List.of(AdamWPath.ONE_PASS_KERNEL, AdamWPath.TENSOR_OPS)) {
            List<Tensor> a = params(6, DType.FLOAT32);
            List<Tensor> b = params(6, DType.FLOAT32);
            AdamWSettings settings = new AdamWSettings(0.9, 0.999, 1e-8, 0.1, 1.0, path);
            try (AdamW lazy = new AdamW(named(a, true, false, true), settings)) {
                try (AdamW ones = new AdamW(named(b, true, false, true), settings)) {
                    long beforeRate = Torch.liveTensors();
                    lazy.setMultiplier(1, 0, 0, 7, 1.0);  // a rate of 1 makes nothing
                    assertEquals(beforeRate, Torch.liveTensors(), path + ": rates of 1 hold no vector");
                    ones.setMultiplier(0, 0, 0, 5, 2.0);
                    assertEquals(beforeRate + 1, Torch.liveTensors(), path + ": a rate other than 1 makes the vector");
                    ones.setMultiplier(0, 0, 0, 5, 1.0);  // back to ones, the vector kept
                    for (AdamW o : List.of(lazy, ones)) o.setFrozen(0, 0, 1, 2, true);
                    for (int step = 0; step < 6; step++) {
                        backward(a, step);
                        backward(b, step);
                        lazy.step(0.01);
                        ones.step(0.01);
                        lazy.zeroGrad();
                        ones.zeroGrad();
                    }
                    try (Scope scope = Scope.open()) {
                        for (int i = 0; i < 3; i++) {
                            assertTrue(java.util.Arrays.equals(a.get(i).reshape(-1).toDoubleArray(), b.get(i).reshape(-1).toDoubleArray()),
                                    path + ": param " + i + " differs");
                        }
                    }
                    assertEquals(ones.rateStats(), lazy.rateStats(), path + ": rate statistics");
                    java.util.Map<String, Tensor> lazyState = lazy.exportState();
                    java.util.Map<String, Tensor> onesState = ones.exportState();
                    try (Scope scope = Scope.open()) {
                        assertEquals(0.0, lazyState.get("multiplier").sub(onesState.get("multiplier")).abs().max().item(), path + ": exported multipliers");
                        // both import the same state (all ones): the same tensors change hands, and the vector goes
                        long beforeImport = Torch.liveTensors();
                        lazy.importState(lazyState);
                        long lazyDelta = Torch.liveTensors() - beforeImport;
                        ones.importState(lazyState);
                        assertEquals(lazyDelta - 1, Torch.liveTensors() - beforeImport - lazyDelta, path + ": importing ones drops the vector");
                    } finally {
                        lazyState.values().forEach(Tensor::close);
                        onesState.values().forEach(Tensor::close);
                    }
                    ones.resetRates(3.0);
                    long made = Torch.liveTensors();
                    ones.resetRates(1.0);
                    assertEquals(made - 1, Torch.liveTensors(), path + ": resetRates(1) drops the vector");
                }
            } finally {
                close(a);
                close(b);
            }
        }
    }

    /**
     * After zeroGrad each .grad is the flat gradient's own memory, zeroed, and a backward accumulates into it (no
     * second copy of the gradients); a parameter the backward did not reach keeps a zero view but takes no step, a
     * gradient of exactly zero that did arrive does, and the gradients count until zeroGrad (torch's set_to_none
     * semantics); close gives the .grads back.
     */
    @Test
    void gradientsAccumulateInTheFlatBufferAndArrivalsDecideTheStep() {
        List<Tensor> ps = params(8, DType.FLOAT32);
        try (AdamW adam = new AdamW(named(ps, true, true, true), AdamWSettings.DEFAULT.withWeightDecay(0.5).withMaxGradNorm(0))) {
            adam.zeroGrad();
            try (Scope scope = Scope.open()) {
                for (int i = 0; i < ps.size(); i++) {  // in the optimizer's order (decayed parameters first)
                    Tensor g = adam.parameters().get(i).tensor().grad();
                    assertEquals(adam.flatGradient().view(i).dataPointer(), g.dataPointer(), "grad " + i + " is the buffer's view");
                    assertEquals(0.0, g.abs().max().item(), "zeroed");
                }
                double[] p1 = ps.get(1).reshape(-1).toDoubleArray();
                double[] p2 = ps.get(2).reshape(-1).toDoubleArray();
                // p0 gets a gradient, p1 none, p2 one of exactly zero (all three decayed)
                ps.get(0).square().sum().add(ps.get(2).mul(0).sum()).backward();
                assertEquals(adam.flatGradient().view(adam.indexOf("p0")).dataPointer(), ps.get(0).grad().dataPointer(), "accumulated in place");
                assertEquals(0.0, ps.get(0).grad().sub(ps.get(0).mul(2)).abs().max().item(), 1e-6, "the gradient itself");
                adam.step(0.1);
                assertTrue(java.util.Arrays.equals(p1, ps.get(1).reshape(-1).toDoubleArray()), "no gradient: untouched");
                assertFalse(java.util.Arrays.equals(p2, ps.get(2).reshape(-1).toDoubleArray()), "a zero gradient that arrived: decayed");
                // until zeroGrad the gradients stay: a second step without backward steps again, as torch's
                double[] p0 = ps.get(0).reshape(-1).toDoubleArray();
                adam.step(0.1);
                assertFalse(java.util.Arrays.equals(p0, ps.get(0).reshape(-1).toDoubleArray()), "stepped again");
                assertTrue(java.util.Arrays.equals(p1, ps.get(1).reshape(-1).toDoubleArray()), "still no gradient: untouched");
                adam.zeroGrad();
                p0 = ps.get(0).reshape(-1).toDoubleArray();
                adam.step(0.1);
                assertTrue(java.util.Arrays.equals(p0, ps.get(0).reshape(-1).toDoubleArray()), "after zeroGrad: no gradient, no step");
            }
        } finally {
            try (Scope scope = Scope.open()) {
                for (Tensor p : ps) assertNull(p.grad(), "close gives the gradient buffer back");
            }
            close(ps);
        }
    }

    /** libtorch's fused kernel (2.4+; skipped where absent, e.g. Debian 12's 1.13) equals the plain loop. */
    @Test
    void fusedKernelEqualsThePlainLoop() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Torch.hasFusedAdamW(Device.CPU), "this libtorch has no fused AdamW on the CPU");
        List<Tensor> a = params(6, DType.FLOAT32);
        List<Tensor> b = params(6, DType.FLOAT32);
        AdamWSettings settings = new AdamWSettings(0.9, 0.999, 1e-8, 0.1, 1.0);
        try (AdamW fused = new AdamW(named(a, true, false, true), settings.withPath(AdamWPath.FUSED));
             ReferenceAdamW plain = new ReferenceAdamW(named(b, true, false, true), settings)) {
            for (int step = 0; step < 20; step++) {
                for (List<Tensor> ps : List.of(a, b)) {
                    try (Scope scope = Scope.open()) {
                        ps.get(0).sin().sum().add(ps.get(1).square().sum()).add(ps.get(2).mul(0.1 * step).cos().sum()).backward();
                    }
                }
                fused.step(0.01);
                plain.step(0.01);
                fused.zeroGrad();
                plain.zeroGrad();
            }
            for (int i = 0; i < 3; i++) assertTrue(maxRelativeDifference(a.get(i), b.get(i)) < 1e-5, "param " + i);
        } finally {
            close(a);
            close(b);
        }
    }

    /** bf16 parameters keep fp32 master weights: with the same gradients, the master follows the fp32 run exactly. */
    @Test
    void bfloat16ParametersHaveFloat32MasterWeights() {
        List<Tensor> half = params(8, DType.BFLOAT16);
        List<Tensor> full = new ArrayList<>();
        try (Scope scope = Scope.open()) {
            for (Tensor t : half) full.add(t.detach().to(DType.FLOAT32).keep().requiresGrad(true));
        }
        AdamWSettings settings = new AdamWSettings(0.9, 0.999, 1e-8, 0.1, 0);
        try (AdamW a = new AdamW(named(half, true, false, true), settings); AdamW b = new AdamW(named(full, true, false, true), settings)) {
            for (int step = 0; step < 30; step++) {
                for (int i = 0; i < 3; i++) {
                    try (Scope scope = Scope.open()) {
                        // gradient = a fixed bf16-exact tensor, whatever the parameter's precision
                        Tensor g = Tensor.arange(0, half.get(i).numel(), 1, DType.FLOAT32, Device.CPU).add(-3).mul(0.25 * (step % 3 + 1));
                        half.get(i).setGrad(g.reshape(half.get(i).shape()).to(DType.BFLOAT16));
                        full.get(i).setGrad(g.reshape(full.get(i).shape()));
                    }
                }
                a.step(1e-3);
                b.step(1e-3);
                a.zeroGrad();
                b.zeroGrad();
            }
            Map<String, Tensor> state = a.exportState();
            try (Scope scope = Scope.open()) {
                Tensor master = state.get("master");
                for (int i = 0; i < 3; i++) {
                    Parameter p = a.parameters().get(i);
                    int j = Integer.parseInt(p.name().substring(1));
                    long offset = 0;
                    for (int k = 0; k < i; k++) offset += a.parameters().get(k).tensor().numel();
                    Tensor m = master.narrow(0, offset, p.tensor().numel()).view(p.tensor().shape());
                    assertEquals(0.0, m.sub(full.get(j)).abs().max().item(), "master of " + p.name() + " follows fp32 AdamW exactly");
                    assertEquals(0.0, p.tensor().to(DType.FLOAT32).sub(m.to(DType.BFLOAT16).to(DType.FLOAT32)).abs().max().item(),
                            "the bf16 parameter is its master rounded");
                    assertTrue(m.sub(m.to(DType.BFLOAT16).to(DType.FLOAT32)).abs().max().item() > 0, "the master holds more than bf16 does");
                }
            } finally {
                state.values().forEach(Tensor::close);
            }
        } finally {
            close(half);
            close(full);
        }
    }

    @Test
    void parametersBecomeViewsOfOneBuffer() {
        List<Tensor> ps = params(5, DType.FLOAT32);
        double[] before = ps.get(1).toDoubleArray();
        long live = adept.testing.LiveTensors.settled();
        try (AdamW adam = new AdamW(named(ps, true, false, true), AdamWSettings.DEFAULT)) {
            assertArrayEquals(before, ps.get(1).toDoubleArray(), "values kept");
            assertEquals(ps.get(0).dataPointer() + 4L * 15, ps.get(2).dataPointer(), "decayed parameters first, contiguous");
            assertTrue(ps.get(0).requiresGrad() && ps.get(0).isLeaf());
        } finally {
            close(ps);
        }
        assertEquals(live - 3, Torch.liveTensors(), "every handle freed");
    }
}
