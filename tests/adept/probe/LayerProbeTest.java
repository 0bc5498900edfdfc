package adept.probe;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.Safetensors;
import adept.io.data.Batch;
import adept.io.data.Example;
import adept.nn.CausalLM;
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

}
