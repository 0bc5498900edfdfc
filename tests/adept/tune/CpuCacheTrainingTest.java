package adept.tune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import adept.expand.LayerExpansion;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.optim.AdamW;
import adept.tensor.CpuCache;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.testing.TinyModel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Training with adept's CPU block cache gives bit for bit what libtorch's own allocator gives: the same losses and
 * parameters after several steps of stage 2 (copies only) and of full training, on a model whose weights and
 * activations are big enough (256 KiB and up) to go through the cache.
 */
class CpuCacheTrainingTest {
    record Trained(List<Double> losses, Map<String, float[]> parameters, long hits) {}

    @AfterEach
    void cacheOn() {
        CpuCache.setEnabled(true);
    }

    static ModelConfig shape() {
        return ModelConfig.builder(TinyModel.config().architecture()).vocabSize(1024).hiddenSize(256).intermediateSize(512).numHiddenLayers(3)
                .numAttentionHeads(4).numKeyValueHeads(2).headDim(64).ropeTheta(10000).maxPositionEmbeddings(256).tieWordEmbeddings(false).build();
    }

    static Trained train(boolean cache, boolean full) {
        CpuCache.setEnabled(cache);
        CpuCache.Stats before = CpuCache.stats();
        Random random = new Random(5);
        List<Double> losses = new ArrayList<>();
        try (CausalLM model = CausalLM.random(shape(), 17, 0.05, DType.FLOAT32, Device.CPU)) {
            List<String> trainable = LayerExpansion.apply(model, LayerExpansion.explicit(3, List.of(2)));
            if (full) trainable = new ArrayList<>(model.namedParameters().keySet());
            try (DecoupledTuning tuning = new DecoupledTuning(model, trainable, Granularity.TENSOR, new RatePolicy(RateMode.CONTINUOUS, 0.5, 1, 1),
                    AdamW.factory(ActivationCheckpointingTest.ADAM), false)) {
                for (int step = 0; step < 3; step++) {
                    try (Scope scope = Scope.open()) {
                        try (Tensor loss = tuning.accumulate(Stage2Fixture.block(random, 4, 128), 1)) {
                            losses.add(loss.item());
                        }
                        tuning.step(3e-3);
                    }
                }
            }
            Map<String, float[]> parameters = new LinkedHashMap<>();
            try (var noGrad = Torch.noGrad(); Scope scope = Scope.open()) {
                for (var e : model.namedParameters().entrySet()) parameters.put(e.getKey(), e.getValue().detach().toFloatArray());
            }
            return new Trained(losses, parameters, CpuCache.stats().hits() - before.hits());
        }
    }

    private static void assertIdentical(boolean full) {
        Trained cached = train(true, full);
        Trained plain = train(false, full);
        assertTrue(cached.hits() > 0, "the cached run reused blocks");
        assertEquals(0, plain.hits(), "nothing went through the cache while off");
        assertEquals(plain.losses(), cached.losses());
        assertEquals(plain.parameters().keySet(), cached.parameters().keySet());
        for (String name : plain.parameters().keySet()) {
            assertTrue(java.util.Arrays.equals(plain.parameters().get(name), cached.parameters().get(name)), name + " differs");
        }
    }

    @Test
    void stageTwoTrainsBitForBitTheSame() {
        assertIdentical(false);
    }

    @Test
    void fullTrainingTrainsBitForBitTheSame() {
        assertIdentical(true);
    }
}
