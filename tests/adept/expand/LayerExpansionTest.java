package adept.expand;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.SaveOptions;
import adept.io.checkpoint.Safetensors;
import adept.nn.CausalLM;
import adept.probe.LayerImportance;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LayerExpansionTest {
    static final Path FIXTURE = Path.of("tests/fixtures/golden/qwen2");

    @Test
    void indexMappingOfThePaperExample() {
        ExpansionPlan plan = LayerExpansion.explicit(28, List.of(22, 23, 25, 27));
        assertEquals(32, plan.expandedLayers());
        assertEquals(List.of(23, 25, 28, 31), plan.copyIndices());
        int[] source = plan.sourceOfEachLayer();
        assertEquals(22, source[22]);
        assertEquals(22, source[23]);
        assertEquals(23, source[24]);
        assertEquals(23, source[25]);
        assertEquals(24, source[26]);
        assertEquals(27, source[30]);
        assertEquals(27, source[31]);
    }

    @Test
    void llamaProCopiesTheTopOfEachGroup() {
        assertEquals(List.of(6, 13, 20, 27), LayerExpansion.uniform(28, 4).sources());
        // uneven: groups [0], [1, 2], [3, 4] (boundaries at floor((g+1) * M / P))
        assertEquals(List.of(0, 2, 4), LayerExpansion.uniform(5, 3).sources());
    }

    @Test
    void badPlansAreRefused() {
        assertThrows(ExpansionException.class, () -> LayerExpansion.explicit(28, List.of()));
        assertThrows(ExpansionException.class, () -> LayerExpansion.explicit(28, List.of(3, 3)));
        assertThrows(ExpansionException.class, () -> LayerExpansion.explicit(28, List.of(28)));
        assertThrows(ExpansionException.class, () -> LayerExpansion.explicit(28, List.of(-1)));
        LayerImportance imp = new LayerImportance(1, new double[] {1, 2, 3}, 5);
        assertThrows(ExpansionException.class, () -> LayerExpansion.lowest(imp, 0));
        assertThrows(ExpansionException.class, () -> LayerExpansion.lowest(imp, 4));
        assertThrows(ExpansionException.class, () -> LayerExpansion.uniform(3, 0));
        assertThrows(ExpansionException.class, () -> LayerExpansion.uniform(3, 4));
    }

    private static float[] logits(CausalLM model, Tensor ids, Tensor mask) {
        try (var noGrad = Torch.noGrad(); Scope scope = Scope.open()) {
            return model.forward(ids, mask).toFloatArray();
        }
    }

    @Test
    void expandedModelComputesTheSameLogitsAndReloads(@TempDir Path tmp) {
        try (CausalLM model = Checkpoint.load(FIXTURE, DType.FLOAT32, Device.CPU); Scope scope = Scope.open()) {
            Safetensors golden = Safetensors.open(FIXTURE.resolve("golden.safetensors"));
            Tensor ids = golden.tensor("input_ids");
            Tensor mask = golden.tensor("attention_mask");
            float[] before = logits(model, ids, mask);
            int m = model.layers().size();

            ExpansionPlan plan = LayerExpansion.explicit(m, List.of(0, 1));
            List<String> trainable = LayerExpansion.apply(model, plan);
            assertEquals(m + 2, model.layers().size());
            assertEquals(m + 2, model.config().numHiddenLayers());
            assertTrue(trainable.contains("model.layers.1.self_attn.q_proj.weight"));
            assertTrue(trainable.contains("model.layers.3.mlp.down_proj.weight"));
            assertFalse(trainable.stream().anyMatch(n -> n.startsWith("model.layers.0.") || n.startsWith("model.layers.2.")));
            assertArrayEquals(before, logits(model, ids, mask), "max |difference| must be exactly 0");

            // the copy shares no storage with its source: training it leaves the source alone
            Map<String, Tensor> source = model.layers().get(0).parameters();
            Map<String, Tensor> copy = model.layers().get(1).parameters();
            assertNotEquals(source.get("self_attn.q_proj.weight").dataPointer(), copy.get("self_attn.q_proj.weight").dataPointer());
            assertEquals(0.0, copy.get("self_attn.o_proj.weight").abs().max().item());
            assertEquals(0.0, copy.get("mlp.down_proj.weight").abs().max().item());
            assertEquals(source.get("mlp.up_proj.weight").sub(copy.get("mlp.up_proj.weight")).abs().max().item(), 0.0);

            Path out = tmp.resolve("expanded");
            Checkpoint.save(model, out, SaveOptions.defaults().withMetadata(Map.of("adept.test", "copies at 1,3")));
            try (CausalLM reloaded = Checkpoint.load(out, DType.FLOAT32, Device.CPU)) {
                assertEquals(m + 2, reloaded.config().numHiddenLayers());
                assertArrayEquals(before, logits(reloaded, ids, mask));
            }
            assertEquals("copies at 1,3", Checkpoint.open(out).metadata().get("adept.test"));
            assertTrue(Files.exists(out.resolve("config.json")));
        }
    }

    @Test
    void budgetChoosesTheLargestKWithinIt() {
        try (CausalLM model = Checkpoint.load(FIXTURE, DType.FLOAT32, Device.CPU)) {
            var config = model.config();
            LayerImportance imp = new LayerImportance(1, new double[] {0.3, 0.1}, 5);
            long perLayer = LayerExpansion.layerParameters(config);
            long total = config.parameterCount();
            double oneShare = (double) perLayer / (total + perLayer);
            double twoShare = 2.0 * perLayer / (total + 2 * perLayer);
            ExpansionPlan one = LayerExpansion.lowestWithinBudget(imp, config, (oneShare + twoShare) / 2);
            assertEquals(List.of(1), one.sources(), "lowest dL first");
            ExpansionPlan two = LayerExpansion.lowestWithinBudget(imp, config, Math.min(0.99, twoShare + 1e-9));
            assertEquals(List.of(0, 1), two.sources());
            assertTrue(two.reason().contains("K=2"), two.reason());
        }
    }
}
