package adept.tune;

import static org.junit.jupiter.api.Assertions.*;

import adept.expand.LayerExpansion;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.optim.AdamW;
import adept.optim.AdamWSettings;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.testing.LiveTensors;
import adept.testing.ProcessMemory;
import adept.testing.TinyModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Activation checkpointing (segment-wise recomputation in backward) trains exactly as the plain backward: the same
 * losses and parameters after several steps, in adept mode (copies only), full mode (the embedding too, tied or not)
 * and with gradient accumulation; it frees every tensor it makes, and it holds less memory at the loss.
 */
class ActivationCheckpointingTest {
    static final AdamWSettings ADAM = new AdamWSettings(0.9, 0.999, 1e-8, 0.1, 1.0);

    record Trained(List<Double> losses, Map<String, Tensor> parameters) {}

    /** A fresh model: the tiny Qwen3 expanded by copies of 1 and 3 (adept), or whole (full), tied or not. */
    static CausalLM model(boolean full, boolean tied, List<String> trainable) {
        ModelConfig c = TinyModel.config();
        if (tied) {
            c = c.toBuilder().tieWordEmbeddings(true).build();
        }
        CausalLM model = CausalLM.random(c, 30, 0.1, DType.FLOAT32, Device.CPU);
        List<String> names = LayerExpansion.apply(model, LayerExpansion.explicit(TinyModel.LAYERS, List.of(1, 3)));
        if (full) {
            try (var noGrad = Torch.noGrad(); Scope scope = Scope.open()) {  // copies with nonzero o/down, so every path carries gradient
                for (Tensor p : model.namedParameters().values()) if (p.dim() == 2) p.addInPlace(Tensor.randn(DType.FLOAT32, Device.CPU, p.shape()), 0.01);
            }
            names = new ArrayList<>(model.namedParameters().keySet());
        }
        trainable.addAll(names);
        return model;
    }

    /** steps optimizer steps of accum micro-batches each (2 x 16 blocks of a fixed seed), checkpointing every `every` layers (0: off). */
    static Trained train(boolean full, boolean tied, int every, int steps, int accum) {
        List<String> trainable = new ArrayList<>();
        Random random = new Random(7);
        List<Double> losses = new ArrayList<>();
        try (CausalLM model = model(full, tied, trainable);
             DecoupledTuning tuning = new DecoupledTuning(model, trainable, Granularity.TENSOR, new RatePolicy(RateMode.CONTINUOUS, 0.5, 1, 1),
                     AdamW.factory(ADAM), false).activationCheckpointing(every)) {
            for (int step = 0; step < steps; step++) {
                try (Scope scope = Scope.open()) {
                    for (int a = 0; a < accum; a++) {
                        try (Tensor loss = tuning.accumulate(Stage2Fixture.block(random, 2, 16), accum)) {
                            losses.add(loss.item());
                        }
                    }
                    tuning.step(3e-3);
                }
            }
            Map<String, Tensor> out = new java.util.LinkedHashMap<>();
            try (var noGrad = Torch.noGrad(); Scope scope = Scope.open()) {
                for (var e : model.namedParameters().entrySet()) out.put(e.getKey(), e.getValue().detach().clone().keep());
            }
            return new Trained(losses, out);
        }
    }

    static double maxDifference(Map<String, Tensor> a, Map<String, Tensor> b) {
        double max = 0;
        try (Scope scope = Scope.open()) {
            for (var e : a.entrySet()) max = Math.max(max, e.getValue().sub(b.get(e.getKey())).abs().max().item());
        }
        return max;
    }

    static void close(Trained t) {
        t.parameters().values().forEach(Tensor::close);
    }

    @Test
    void checkpointedTrainingEqualsPlainTraining() {
        long live = LiveTensors.settled();
        String[][] cases = {{"adept", "untied", "1"}, {"adept", "untied", "2"}, {"full", "untied", "1"}, {"full", "tied", "1"}, {"full", "tied", "4"}};
        for (int accum : new int[] {1, 2}) {
            for (String[] c : cases) {
                boolean full = c[0].equals("full");
                boolean tied = c[1].equals("tied");
                int every = Integer.parseInt(c[2]);
                Trained plain = train(full, tied, 0, 4, accum);
                Trained segmented = train(full, tied, every, 4, accum);
                double diff = maxDifference(plain.parameters(), segmented.parameters());
                String what = String.format(Locale.ROOT, "%s, %s, segments of %d, grad_accum %d", c[0], c[1], every, accum);
                System.out.printf(Locale.ROOT, "ActivationCheckpointingTest: %s: max |parameter difference| %.3g after 4 steps%n", what, diff);
                assertEquals(plain.losses(), segmented.losses(), what + ": the same losses");
                assertTrue(diff <= 1e-6, what + ": parameters differ by " + diff);  // seen: exactly 0 on the CPU
                Trained initial = train(full, tied, 0, 0, accum);
                double moved = maxDifference(plain.parameters(), initial.parameters());
                assertTrue(moved > 1e-4, what + ": the steps moved the parameters (" + moved + ")");
                close(initial);
                close(plain);
                close(segmented);
            }
        }
        assertEquals(live, LiveTensors.settled(), "every tensor freed");
    }

    @Test
    void checkpointingLeaksNothingPerStep() {
        List<String> trainable = new ArrayList<>();
        Random random = new Random(3);
        try (CausalLM model = model(true, true, trainable);
             DecoupledTuning tuning = new DecoupledTuning(model, trainable, Granularity.TENSOR, new RatePolicy(RateMode.CONTINUOUS, 0.5, 1, 1),
                     AdamW.factory(ADAM), false).activationCheckpointing(1)) {
            long before = -1;
            for (int step = 0; step < 6; step++) {
                if (step == 2) before = Torch.liveTensors();
                try (Scope scope = Scope.open()) {
                    tuning.accumulate(Stage2Fixture.block(random, 2, 16), 2).close();
                    tuning.accumulate(Stage2Fixture.block(random, 2, 16), 2).close();
                    tuning.step(1e-3);
                }
            }
            assertEquals(before, Torch.liveTensors(), "the same live tensors after 4 more checkpointed steps");
        }
    }

    /** A small model of its own: 8 layers of hidden 128, batches of 4 x 128 tokens. */
    static ModelConfig small() {
        ModelConfig c = TinyModel.config();
        return ModelConfig.builder(c.architecture()).vocabSize(512).hiddenSize(128).intermediateSize(352).numHiddenLayers(8)
                .numAttentionHeads(4).numKeyValueHeads(2).headDim(32).ropeTheta(10000).maxPositionEmbeddings(256)
                .tieWordEmbeddings(false).build();
    }

    record Measured(long peakBytes, double secondsPerStep, double loss) {}

    /** Full training of small(): the most malloc'd bytes over the start seen at the loss and before each segment's backward, and the time a step takes. */
    static Measured measure(int every, int steps) {
        List<String> trainable;
        Random random = new Random(11);
        try (CausalLM model = CausalLM.random(small(), 4, 0.05, DType.FLOAT32, Device.CPU);
             DecoupledTuning tuning = new DecoupledTuning(model, trainable = new ArrayList<>(model.namedParameters().keySet()), Granularity.TENSOR,
                     new RatePolicy(RateMode.CONTINUOUS, 0.5, 1, 1), AdamW.factory(ADAM), false).activationCheckpointing(every)) {
            long[] peak = {0};
            long[] start = {0};
            tuning.onMemoryPeak = () -> peak[0] = Math.max(peak[0], ProcessMemory.nativeInUseBytes() - start[0]);
            double loss = 0;
            long t0 = 0;
            for (int step = 0; step < steps + 2; step++) {
                if (step == 2) {
                    t0 = System.nanoTime();
                    peak[0] = 0;
                }
                try (Scope scope = Scope.open()) {
                    long[] ids = new long[4 * 128];
                    for (int i = 0; i < ids.length; i++) ids[i] = 4 + random.nextInt(500);
                    Tensor batch = Tensor.of(ids, 4, 128);
                    start[0] = ProcessMemory.nativeInUseBytes();
                    try (Tensor value = tuning.accumulate(batch, 1)) {
                        loss = value.item();
                    }
                    tuning.step(1e-3);
                }
            }
            return new Measured(peak[0], (System.nanoTime() - t0) / 1e9 / steps, loss);
        }
    }

    @Test
    void checkpointingHoldsLessAtTheLoss() {
        int steps = Integer.getInteger("adept.checkpointingSteps", 2);  // more for the step times: -Dadept.checkpointingSteps=20
        Measured off = measure(0, steps);
        Measured on = measure(1, steps);
        Measured two = measure(2, steps);
        System.out.printf(Locale.ROOT, "ActivationCheckpointingTest: full training, 8 layers x hidden 128, batch 4 x 128 (fp32): peak bytes over the "
                        + "step's start %.1f MiB off, %.1f MiB every layer, %.1f MiB every 2 layers; step %.1f ms off, %.1f ms on, %.1f ms every 2%n",
                off.peakBytes() / 1048576.0, on.peakBytes() / 1048576.0, two.peakBytes() / 1048576.0, 1e3 * off.secondsPerStep(),
                1e3 * on.secondsPerStep(), 1e3 * two.secondsPerStep());
        assertEquals(off.loss(), on.loss(), "the same losses");
        assertTrue(on.peakBytes() < off.peakBytes() / 2, "checkpointing every layer holds less than half: " + on.peakBytes() + " vs " + off.peakBytes());
        assertTrue(on.peakBytes() <= two.peakBytes(), "longer segments hold more");
    }
}
