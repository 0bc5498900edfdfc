package adept.bench;

import static org.junit.jupiter.api.Assertions.*;

import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.tune.DecoupledTuning;
import adept.tune.LoraAdapters;
import adept.tune.LoraSpec;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** bench lora's deterministic side: the rank it picks, and that its step trains the adapters of all seven projections only. */
class BenchLoraSetupTest {
    @Test
    void defaultShapeGetsTheRankLoraMatchAdeptPicks() {
        // the bench's defaults: vocab 8192, hidden 256, intermediate 688, 6 layers, 8 heads, 4 kv heads
        ModelConfig config = ModelShape.llama(8192, 256, 688, 6, 8, 4, 256);
        // a layer: q 256x256, k and v 128x256, o 256x256, gate/up 688x256, down 256x688, two norms of 256 = 725,504;
        // all 8,547,584: K=2 copies are 14.5% of the expanded model, K=3 20.3% > 15%
        assertEquals(2, BenchLoraCommand.adeptK(config, 0.15));
        // per rank and layer: (256+256) + 2 (256+128) + (256+256) + 3 (256+688) = 4,624; x 6 layers = 27,744;
        // 2 x 725,504 = 1,451,008 = 52.3 ranks -> 52
        assertEquals(27_744, LoraAdapters.parametersPerRank(config, LoraAdapters.TARGETS));
        assertEquals(52, BenchLoraCommand.adeptRank(config, 0.15));
    }

    @Test
    void stepTrainsEveryAdapterAndNothingElse() {
        int layers = 3;
        ModelConfig config = ModelShape.llama(64, 32, 48, layers, 4, 2, 16);
        LoraSpec spec = new LoraSpec(4, 8.0, 0, LoraAdapters.TARGETS);
        Random random = new Random(7);
        long[] values = new long[2 * 16];
        for (int i = 0; i < values.length; i++) values[i] = random.nextInt(64);
        try (Scope scope = Scope.open();
             CausalLM model = CausalLM.random(config, 3, 0.02, DType.FLOAT32, Device.CPU)) {
            Tensor ids = Tensor.of(values, 2, 16);
            double baseLoss;
            try (var noGrad = Torch.noGrad()) {
                baseLoss = CausalLM.loss(model.forward(ids, null), ids).item();
            }
            Map<String, Tensor> before = new HashMap<>();
            for (var e : model.namedParameters().entrySet()) before.put(e.getKey(), e.getValue().detach().clone());
            try (DecoupledTuning tuning = BenchLoraCommand.loraTuning(model, spec, 5)) {
                assertEquals(2 * LoraAdapters.TARGETS.size() * layers, tuning.trainable().size(), "A and B on 7 projections of every layer");
                assertTrue(tuning.trainable().keySet().stream().allMatch(n -> n.endsWith(".lora_A.weight") || n.endsWith(".lora_B.weight")));
                assertEquals(spec.rank() * LoraAdapters.parametersPerRank(config, LoraAdapters.TARGETS), tuning.trainableParameters());
                assertEquals(0, tuning.firstRecordedLayer(), "autograd records from layer 0, whose projections carry adapters");
                assertTrue(model.namedParameters().values().stream().noneMatch(Tensor::requiresGrad), "the base is frozen");

                Map<String, List<Double>> times = BenchSupport.series(BenchLoraCommand.PHASES);
                double first = BenchLoraCommand.step(model, tuning, ids, 1e-2, times);
                assertEquals(baseLoss, first, 1e-6, "B starts at zero: the first step's loss is the base model's");
                for (String p : BenchLoraCommand.PHASES) assertEquals(1, times.get(p).size(), p);
                for (var e : model.namedParameters().entrySet()) {
                    assertEquals(0.0, e.getValue().sub(before.get(e.getKey())).abs().max().item(), "base tensor moved: " + e.getKey());
                }
                for (var e : tuning.trainable().entrySet()) {
                    if (e.getKey().endsWith(".lora_B.weight")) assertTrue(e.getValue().abs().max().item() > 0, "B trained: " + e.getKey());
                    assertFalse(e.getValue().grad() != null && e.getValue().grad().abs().max().item() != 0, "gradients dropped: " + e.getKey());
                }
            }
        }
    }
}
