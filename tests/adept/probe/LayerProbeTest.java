package adept.probe;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.Safetensors;
import adept.io.data.Batch;
import adept.io.data.Example;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LayerProbeTest {
    static final Path QWEN3 = Path.of("tests/fixtures/golden/qwen3");
    static final Path LLAMA = Path.of("tests/fixtures/golden/llama_tied");

    /** Batches of the golden fixture's real, padded batch plus a second, differently padded one. */
    static List<Batch> batches(Path fixture) {
        Safetensors golden = Safetensors.open(fixture.resolve("golden.safetensors"));
        long[] ids = golden.tensor("input_ids").toLongArray();
        long[] mask = golden.tensor("attention_mask").toLongArray();
        int length = 12;
        List<Example> examples = new ArrayList<>();
        for (int row = 0; row < 2; row++) {
            int n = 0;
            while (n < length && mask[row * length + n] == 1) n++;
            long[] e = java.util.Arrays.copyOfRange(ids, row * length, row * length + n);
            boolean[] targets = new boolean[n];
            for (int t = 1; t < n; t++) targets[t] = true;
            examples.add(new Example(e, targets, row + 1));
        }
        // the second batch: the rows reversed and the longer one cut, so both batches differ
        Example cut = new Example(java.util.Arrays.copyOf(examples.get(0).ids(), 10),
                java.util.Arrays.copyOf(examples.get(0).targets(), 10), 3);
        return List.of(Batch.of(examples, 0, Device.CPU), Batch.of(List.of(examples.get(1), cut), 0, Device.CPU));
    }

    @Test
    void cachedProbingEqualsFullPasses() {
        try (CausalLM model = Checkpoint.load(QWEN3, DType.FLOAT32, Device.CPU); Scope scope = Scope.open()) {
            List<Batch> batches = batches(QWEN3);
            LayerImportance cached = new LayerProbe(model).probe(batches, null);
            LayerImportance plain = new LayerProbe(model).probePlain(batches);
            assertEquals(plain.targetTokens(), cached.targetTokens());
            assertEquals(11 + 7 + 7 + 9, cached.targetTokens(), "real target tokens only: padding never counts");
            assertEquals(plain.baseLoss(), cached.baseLoss(), 1e-6);
            for (int l = 0; l < model.layers().size(); l++) assertEquals(plain.deltas()[l], cached.deltas()[l], 1e-6, "layer " + l);
        }
    }

    @Test
    void skippingALayerEqualsZeroingItsParameters() {
        try (CausalLM model = Checkpoint.load(LLAMA, DType.FLOAT32, Device.CPU); Scope scope = Scope.open()) {
            List<Batch> batches = batches(LLAMA);
            LayerImportance importance = new LayerProbe(model).probe(batches, null);
            for (int layer = 0; layer < model.layers().size(); layer++) {
                try (CausalLM zeroed = Checkpoint.load(LLAMA, DType.FLOAT32, Device.CPU); Scope inner = Scope.open()) {
                    try (var noGrad = Torch.noGrad()) {
                        for (Tensor p : zeroed.layers().get(layer).parameters().values()) p.zero();
                    }
                    double loss = new LayerProbe(zeroed).probe(batches, null).baseLoss();
                    assertEquals(loss, importance.skipLoss()[layer], 1e-6, "layer " + layer);
                }
            }
        }
    }

    @Test
    void lowestPicksSmallestDeltaWithTiesToLowerIndex() {
        LayerImportance imp = new LayerImportance(1.0, new double[] {1.5, 1.2, 1.2, 0.9, 2.0}, 10);
        assertEquals(List.of(1, 3), imp.lowest(2));
        assertEquals(List.of(1, 2, 3), imp.lowest(3));
        assertArrayEquals(new double[] {0.5, 0.2, 0.2, -0.1, 1.0}, imp.deltas(), 1e-12);
        assertArrayEquals(new double[] {0.6 / 1.1, 0.3 / 1.1, 0.3 / 1.1, 0, 1}, imp.normalized(), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> imp.lowest(0));
        assertThrows(IllegalArgumentException.class, () -> imp.lowest(6));
    }

    /** A random Qwen3 of the tiny shape with layers layers. */
    static CausalLM deepTiny(int layers, long seed) {
        ModelConfig deep = adept.testing.TinyModel.config().withNumHiddenLayers(layers);
        return CausalLM.random(deep, seed, 0.1, DType.FLOAT32, Device.CPU);
    }

    /** Right-padded batches of rows of random lengths in [4, 14]; the first is the largest (3 x 14). */
    static List<Batch> randomBatches(long seed) {
        java.util.Random random = new java.util.Random(seed);
        List<Batch> out = new ArrayList<>();
        for (int b = 0; b < 3; b++) {
            List<Example> examples = new ArrayList<>();
            for (int r = 0; r < 3 - (b == 2 ? 1 : 0); r++) {
                int length = b == 0 && r == 0 ? 14 : 4 + random.nextInt(10);
                long[] ids = new long[length];
                boolean[] targets = new boolean[length];
                ids[0] = adept.testing.TinyModel.BOS;
                for (int t = 1; t < length; t++) {
                    ids[t] = 4 + random.nextInt(adept.testing.TinyModel.VOCAB - 4);
                    targets[t] = true;
                }
                examples.add(new Example(ids, targets, r + 1));
            }
            out.add(Batch.of(examples, adept.testing.TinyModel.PAD, Device.CPU));
        }
        return out;
    }

    @Test
    void memorySizesParseAndFormat() {
        assertEquals(4L << 30, MemorySize.parse("4GiB"));
        assertEquals(512L << 20, MemorySize.parse(" 512 mib "));
        assertEquals(1_500_000_000L, MemorySize.parse("1.5GB"));
        assertEquals(1536, MemorySize.parse("1.5KiB"));
        assertEquals(123, MemorySize.parse("123"));
        assertEquals(123, MemorySize.parse("123B"));
        for (String bad : new String[] {"", "GiB", "4 GiBs", "-1GiB", "0", "0.1B", "1e3", "99999999999TiB"}) {
            assertThrows(IllegalArgumentException.class, () -> MemorySize.parse(bad), bad);
        }
        assertEquals("4 GiB", MemorySize.format(4L << 30));
        assertEquals("256 MiB", MemorySize.format(256L << 20));
        assertEquals("1.5 KiB", MemorySize.format(1536));
        assertEquals("12 B", MemorySize.format(12));
        assertThrows(IllegalArgumentException.class, () -> new LayerProbe(null, 0, null));
    }

    @Test
    void strideFollowsTheBudget() {
        assertEquals(1, LayerProbe.stride(36, 100, 3600), "all 36 inputs fit: everything cached");
        assertEquals(1, LayerProbe.stride(36, 100, LayerProbe.UNBOUNDED));
        assertEquals(2, LayerProbe.stride(36, 100, 3500), "18 checkpoints + 1 recomputed input fit 35: the least recomputation");
        assertEquals(6, LayerProbe.stride(36, 100, 100), "a budget no stride meets: the fewest inputs, sqrt(36)");
        assertEquals(11, LayerProbe.cachedInputs(36, 6));
        assertEquals(36, LayerProbe.cachedInputs(36, 1));
        // the 8B shape: 36 layers of [8, 2048, 4096] float32 (256 MiB each) under the default 4 GiB: 16 fit
        long input = 8L * 2048 * 4096 * 4;
        int s = LayerProbe.stride(36, input, LayerProbe.DEFAULT_CACHE_BYTES);
        assertEquals(3, s);
        assertTrue(LayerProbe.cachedInputs(36, s) * input <= LayerProbe.DEFAULT_CACHE_BYTES);
        assertEquals(14, LayerProbe.cachedInputs(36, s), "12 checkpoints + 2 recomputed inputs = 3.5 GiB instead of 9 GiB");
        // Qwen3-1.7B's shape fits: no recomputation by default
        assertEquals(1, LayerProbe.stride(28, 8L * 2048 * 2048 * 4, LayerProbe.DEFAULT_CACHE_BYTES));
    }

    @Test
    void boundedProbingGivesExactlyTheUnboundedResult() {
        int layers = 9;
        try (CausalLM model = deepTiny(layers, 5); Scope scope = Scope.open()) {
            List<Batch> batches = randomBatches(6);
            long input = 3L * 14 * model.config().hiddenSize() * 4;  // the largest batch's input
            LayerProbe unbounded = new LayerProbe(model, LayerProbe.UNBOUNDED, null);
            LayerImportance cached = unbounded.probe(batches, null);
            assertEquals(layers, unbounded.peakCachedInputs());
            LayerImportance plain = new LayerProbe(model).probePlain(batches);
            // budgets of 1 and 2 inputs (unmeetable: the fewest, stride 3), 5 (stride 3), 6 (stride 2), 9 (all)
            long[] budgets = {input, 2 * input, 5 * input, 6 * input, 9 * input, LayerProbe.UNBOUNDED};
            int[] strides = {3, 3, 3, 2, 1, 1};
            for (int i = 0; i < budgets.length; i++) {
                List<String> lines = new ArrayList<>();
                LayerProbe probe = new LayerProbe(model, budgets[i], lines::add);
                LayerImportance bounded = probe.probe(batches, null);
                String what = "budget of " + budgets[i] / input + " inputs";
                assertEquals(strides[i], probe.lastStride(), what);
                assertEquals(cached.baseLoss(), bounded.baseLoss(), 0.0, what);
                assertArrayEquals(cached.skipLoss(), bounded.skipLoss(), 0.0, what + ": the same ops on the same tensors");
                assertEquals(cached.targetTokens(), bounded.targetTokens());
                // the largest batch holds the most bytes: over the budget only where no stride meets it
                assertEquals(LayerProbe.cachedInputs(layers, strides[i]) * input, Math.max(probe.peakCachedBytes(),
                        Math.min(budgets[i], layers * input)), what);
                assertTrue(probe.peakCachedBytes() <= Math.max(budgets[i], LayerProbe.cachedInputs(layers, 3) * input), what);
                assertEquals(strides[i] > 1 ? 1 : 0, lines.size(), what + ": " + lines);
                if (strides[i] > 1) assertTrue(lines.get(0).contains("checkpoints every " + strides[i] + " layers"), lines.get(0));
                assertEquals(plain.baseLoss(), bounded.baseLoss(), 1e-6);
                for (int l = 0; l < layers; l++) assertEquals(plain.deltas()[l], bounded.deltas()[l], 1e-6, what + ", layer " + l);
            }
        }
    }

    @Test
    void boundedProbingHoldsFewerInputsAlive() {
        int layers = 9;
        long before = adept.testing.LiveTensors.settled();
        try (CausalLM model = deepTiny(layers, 7); Scope scope = Scope.open()) {
            List<Batch> batches = randomBatches(8).subList(0, 1);  // one batch: a smaller one would hold more, smaller inputs
            long input = 3L * 14 * model.config().hiddenSize() * 4;
            long[] peaks = new long[2];
            long[] starts = new long[2];
            new LayerProbe(model, LayerProbe.UNBOUNDED, null).probe(batches, null);  // the rotary tables of these lengths: the model keeps them
            for (int run = 0; run < 2; run++) {
                LayerProbe probe = new LayerProbe(model, run == 0 ? LayerProbe.UNBOUNDED : 5 * input, null);
                int r = run;
                probe.onSkipPass = () -> peaks[r] = Math.max(peaks[r], Torch.liveTensors());
                starts[run] = Torch.liveTensors();
                probe.probe(batches, null);
                assertEquals(starts[run], Torch.liveTensors(), "every input and pass output is freed");
                assertEquals((run == 0 ? layers : 5) * input, probe.peakCachedBytes(), "the largest batch's inputs");
            }
            long unbounded = peaks[0] - starts[0];
            long bounded = peaks[1] - starts[1];
            System.out.printf("LayerProbeTest: live handles at the fullest skip pass over the probe's start: %d unbounded, %d with stride 3%n",
                    unbounded, bounded);
            assertEquals(layers - 5, unbounded - bounded, "4 fewer inputs held: 9 -> 3 checkpoints + 2 recomputed");
            assertEquals(bounded - 5, unbounded - layers, "beside the held inputs, the same few tensors (attention context, pass outputs)");
            assertTrue(bounded <= 5 + 12, "the held inputs plus a few: " + bounded);
        }
        assertEquals(before, adept.testing.LiveTensors.settled());
    }
}
