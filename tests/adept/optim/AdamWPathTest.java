package adept.optim;

import static adept.optim.AdamWTest.backward;
import static adept.optim.AdamWTest.close;
import static adept.optim.AdamWTest.configure;
import static adept.optim.AdamWTest.maxRelativeDifference;
import static adept.optim.AdamWTest.named;
import static adept.optim.AdamWTest.params;
import static org.junit.jupiter.api.Assertions.*;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The one place AdamW picks its path ({@link AdamWStep#choose}), paths a device cannot take, and steps from a
 * flat gradient the caller filled (as data parallel does) against the plain loop.
 */
class AdamWPathTest {
    static final Device CUDA = Device.cuda(0);

    @Test
    void choosePicksThePathAsDocumented() {
        // AUTO: the one-pass kernel on the CPU whatever the step; elsewhere fused where it applies, else tensor ops
        for (boolean fusedHere : new boolean[] {true, false}) {
            for (boolean uniform : new boolean[] {true, false}) {
                for (boolean ones : new boolean[] {true, false}) {
                    assertEquals(AdamWPath.ONE_PASS_KERNEL, AdamWStep.choose(AdamWPath.AUTO, Device.CPU, fusedHere, uniform, ones));
                    assertEquals(AdamWPath.TENSOR_OPS, AdamWStep.choose(AdamWPath.TENSOR_OPS, CUDA, fusedHere, uniform, ones));
                    assertEquals(AdamWPath.ONE_PASS_KERNEL, AdamWStep.choose(AdamWPath.ONE_PASS_KERNEL, Device.CPU, fusedHere, uniform, ones));
                    AdamWPath fusedOrOps = fusedHere && uniform && ones ? AdamWPath.FUSED : AdamWPath.TENSOR_OPS;
                    assertEquals(fusedOrOps, AdamWStep.choose(AdamWPath.AUTO, CUDA, fusedHere, uniform, ones), fusedHere + " " + uniform + " " + ones);
                    assertEquals(fusedOrOps, AdamWStep.choose(AdamWPath.FUSED, Device.CPU, fusedHere, uniform, ones));
                }
            }
        }
    }

    @Test
    void pathsTheParametersCannotTakeFailWhenTheOptimizerIsMade() {
        List<Tensor> half = params(2, DType.BFLOAT16);
        try {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> new AdamW(named(half, true, false, true), AdamWSettings.DEFAULT.withPath(AdamWPath.FUSED)).close());
            assertTrue(e.getMessage().contains("FUSED") && e.getMessage().contains("master weights"), e.getMessage());
        } finally {
            close(half);
        }
        if (!Torch.hasFusedAdamW(Device.CPU)) {
            List<Tensor> ps = params(2, DType.FLOAT32);
            try {
                var e = assertThrows(IllegalArgumentException.class,
                        () -> new AdamW(named(ps, true, false, true), AdamWSettings.DEFAULT.withPath(AdamWPath.FUSED)).close());
                assertTrue(e.getMessage().contains("libtorch"), e.getMessage());
            } finally {
                close(ps);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> AdamWStep.run(AdamWPath.AUTO, null, 0.1, AdamWSettings.DEFAULT));
        assertThrows(IllegalArgumentException.class, () -> new AdamWSettings(0.9, 0.999, 1e-8, 0, 0, null));
    }

    /** The views are the flat buffer's own memory, in parameter order: a reducer writing into them fills the buffer. */
    @Test
    void flatGradientViewsAreTheBuffer() {
        List<Tensor> ps = params(3, DType.FLOAT32);
        try (AdamW adam = new AdamW(named(ps, true, false, true), AdamWSettings.DEFAULT); Scope scope = Scope.open()) {
            FlatGradient g = adam.flatGradient();
            assertEquals(3, g.size());
            long offset = 0;
            for (int i = 0; i < g.size(); i++) {
                Tensor view = g.view(i);
                assertArrayEquals(adam.parameters().get(i).tensor().shape(), view.shape());
                assertEquals(g.tensor().dataPointer() + 4 * offset, view.dataPointer(), "view " + i);
                offset += view.numel();
            }
            assertEquals(adam.trainableElements(), offset);
            assertEquals(offset, g.tensor().numel());
        } finally {
            close(ps);
        }
    }

    /** What another rank's gradient of parameter "p" + index might be at step: a fixed pattern of its shape. */
    static Tensor otherRank(Tensor parameter, int index, int step) {
        return Tensor.arange(0, parameter.numel(), 1, DType.FLOAT64, Device.CPU).add(step + 3 * index).sin().mul(0.3).view(parameter.shape());
    }

    /**
     * gradient = (gradient + the other rank's) / 2 for every parameter the step's backward reached (AdamWTest.backward:
     * p2 on even steps only; a .grad may be a zeroed view of the flat buffer all the same), into o's flat buffer or into .grad.
     */
    static void averageWithOtherRank(SplitRateOptimizer o, int step, boolean inBuffer) {
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            for (int j = 0; j < o.parameters().size(); j++) {
                Parameter p = o.parameters().get(j);
                int index = Integer.parseInt(p.name().substring(1));
                if (p.tensor().grad() == null || (index == 2 && step % 2 == 1)) continue;
                Tensor g = inBuffer ? o.flatGradient().view(j) : p.tensor().grad();
                g.addInPlace(otherRank(p.tensor(), index, step), 1).mulInPlace(0.5);
            }
        }
    }

    /**
     * Data parallel's shape: the caller collects .grad into the flat buffer and averages it there with another
     * rank's (a fixed pattern), then steps from FLAT_BUFFER. Equal to the plain loop given the averaged .grad, and to
     * the plain loop stepping from its own buffer; rates, frozen units, a parameter without gradient on odd steps,
     * clipping. The .grad stays as backward left it: a step that read it would be off.
     */
    void flatBufferStepEqualsPlainLoop(AdamWPath path) {
        List<Tensor> fastParams = params(12, DType.FLOAT64);
        List<Tensor> plainParams = params(12, DType.FLOAT64);
        List<Tensor> bufferedParams = params(12, DType.FLOAT64);
        AdamWSettings settings = new AdamWSettings(0.9, 0.99, 1e-8, 0.2, 0.5);
        try (AdamW fast = new AdamW(named(fastParams, true, false, true), settings.withPath(path));
             ReferenceAdamW plain = new ReferenceAdamW(named(plainParams, true, false, true), settings);
             ReferenceAdamW buffered = new ReferenceAdamW(named(bufferedParams, true, false, true), settings)) {
            configure(AdamWTest.byName(fast));
            configure(plain);
            configure(buffered);
            for (int step = 0; step < 30; step++) {
                for (List<Tensor> ps : List.of(fastParams, plainParams, bufferedParams)) backward(ps, step);
                double lr = 0.03 * (1 + Math.cos(step * 0.1));
                for (SplitRateOptimizer o : List.<SplitRateOptimizer>of(fast, buffered)) {
                    o.flatGradient().collect();
                    averageWithOtherRank(o, step, true);
                    o.step(lr, GradientSource.FLAT_BUFFER);
                }
                averageWithOtherRank(plain, step, false);
                plain.step(lr);
                for (SplitRateOptimizer o : List.<SplitRateOptimizer>of(fast, plain, buffered)) o.zeroGrad();
            }
            for (int i = 0; i < fastParams.size(); i++) {
                double toPlain = maxRelativeDifference(fastParams.get(i), plainParams.get(i));
                assertTrue(toPlain < 1e-7, path + ": param " + i + " differs from the plain loop by " + toPlain);
                double buffers = maxRelativeDifference(bufferedParams.get(i), plainParams.get(i));
                assertTrue(buffers < 1e-12, "the plain loop from its buffer: param " + i + " differs by " + buffers);
            }
        } finally {
            close(fastParams);
            close(plainParams);
            close(bufferedParams);
        }
    }

    @Test
    void flatBufferStepEqualsPlainLoopOnEveryCpuPath() {
        flatBufferStepEqualsPlainLoop(AdamWPath.ONE_PASS_KERNEL);
        flatBufferStepEqualsPlainLoop(AdamWPath.TENSOR_OPS);
    }
}
