package adept.nn;

import static org.junit.jupiter.api.Assertions.*;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

/**
 * The chunked (fused linear + cross-entropy) loss against the plain one, loss(head(hidden), labels): the same loss
 * and the same gradient for every trained tensor within 1e-6 in fp32 (relative above magnitude 1), with several uneven chunks, ignored labels,
 * a trained or frozen head, tied embeddings and Gemma 2's logit soft-capping.
 */
class HeadLossTest {
    static final double TOLERANCE = 1e-6;
    static final long CHUNK_ROWS = 7;  // 48 rows: 7 chunks, the last one short

    static ModelConfig qwen(boolean tied) {
        return ModelConfig.builder(Architecture.QWEN3).vocabSize(64).hiddenSize(32).intermediateSize(48).numHiddenLayers(2)
                .numAttentionHeads(4).numKeyValueHeads(2).headDim(8).rmsNormEps(1e-6).ropeTheta(10000).maxPositionEmbeddings(64)
                .tieWordEmbeddings(tied).build();
    }

    /** The loss and every trained tensor's gradient, by name ("loss" for the loss), as host arrays. */
    private static Map<String, double[]> lossAndGradients(CausalLM model, int firstRecorded, BiFunction<Tensor, Tensor, Tensor> lossOf) {
        Map<String, double[]> out = new LinkedHashMap<>();
        for (Tensor t : model.namedParameters().values()) t.setGrad(null);
        try (Scope scope = Scope.open()) {
            Torch.manualSeed(7);
            Tensor ids = Tensor.randint(0, model.config().vocabSize(), DType.INT64, Device.CPU, 2, 24);
            Tensor mask = Tensor.ones(DType.INT64, Device.CPU, 2, 24);
            mask.narrow(1, 20, 4).select(0, 1).fill(0);  // the second row's last four labels ignored
            Tensor labels = CausalLM.labels(ids, mask);
            Tensor loss = lossOf.apply(model.hidden(ids, null, firstRecorded), labels);
            out.put("loss", new double[] {loss.item()});
            loss.backward();
            for (var e : model.namedParameters().entrySet()) {
                Tensor g = e.getValue().grad();
                if (g != null) out.put(e.getKey(), g.to(DType.FLOAT64).reshape(-1).toDoubleArray());
            }
        }
        return out;
    }

    private static void assertSame(CausalLM model, int firstRecorded, int expectedGradients) {
        Map<String, double[]> plain = lossAndGradients(model, firstRecorded, (h, labels) -> CausalLM.loss(model.head(h), labels));
        Map<String, double[]> chunked = lossAndGradients(model, firstRecorded,
                (h, labels) -> model.headLoss(h, labels, model.headWeight(), CHUNK_ROWS));
        assertEquals(plain.keySet(), chunked.keySet(), "the same tensors get gradients");
        assertEquals(expectedGradients + 1, plain.size(), "trained tensors with a gradient, and the loss");
        for (String name : plain.keySet()) {
            double[] a = plain.get(name);
            double[] b = chunked.get(name);
            double worst = 0;
            double scale = 1;  // 1e-6 absolute, relative above magnitude 1 (a loss of 16 has float32 steps of 1.9e-6)
            for (int i = 0; i < a.length; i++) {
                worst = Math.max(worst, Math.abs(a[i] - b[i]));
                scale = Math.max(scale, Math.abs(a[i]));
            }
            assertTrue(worst <= TOLERANCE * scale, name + ": chunked differs from plain by " + worst + " (largest magnitude " + scale + ")");
        }
        for (Tensor t : model.namedParameters().values()) t.setGrad(null);
    }

    @Test
    void everythingTrainedUntiedHead() {
        try (CausalLM model = CausalLM.random(qwen(false), 1, 0.02, DType.FLOAT32, Device.CPU)) {
            model.requiresGrad(true);
            assertSame(model, -1, model.namedParameters().size());
        }
    }

    @Test
    void everythingTrainedTiedHead() {
        try (CausalLM model = CausalLM.random(qwen(true), 2, 0.02, DType.FLOAT32, Device.CPU)) {
            model.requiresGrad(true);
            assertSame(model, -1, model.namedParameters().size());
        }
    }

    @Test
    void onlyTheTopLayerTrainedHeadFrozen() {
        try (CausalLM model = CausalLM.random(qwen(false), 3, 0.02, DType.FLOAT32, Device.CPU)) {
            DecoderLayer top = model.layers().get(1);
            for (Tensor t : top.parameters().values()) t.requiresGrad(true);
            assertSame(model, 1, top.parameters().size());
        }
    }

    @Test
    void gemma2SoftCappedLogits() {
        ModelConfig c = ModelConfig.builder(Architecture.GEMMA2).vocabSize(64).hiddenSize(32).intermediateSize(48).numHiddenLayers(2)
                .numAttentionHeads(4).numKeyValueHeads(2).headDim(8).rmsNormEps(1e-6).ropeTheta(10000).maxPositionEmbeddings(64)
                .tieWordEmbeddings(true).build();
        assertTrue(c.extras().finalLogitSoftcapping() > 0, "Gemma 2 caps its logits");
        try (CausalLM model = CausalLM.random(c, 4, 0.5, DType.FLOAT32, Device.CPU)) {  // large weights: the cap bends the logits
            model.requiresGrad(true);
            assertSame(model, -1, model.namedParameters().size());
        }
    }

    @Test
    void withoutGradientsOnlyTheValue() {
        try (CausalLM model = CausalLM.random(qwen(false), 5, 0.02, DType.FLOAT32, Device.CPU);
             Scope scope = Scope.open();
             var noGrad = Torch.noGrad()) {
            Tensor ids = Tensor.randint(0, 64, DType.INT64, Device.CPU, 2, 24);
            Tensor hidden = model.hidden(ids, null);
            double plain = CausalLM.loss(model.head(hidden), ids).item();
            Tensor chunked = model.headLoss(hidden, ids, model.headWeight(), CHUNK_ROWS);
            assertEquals(plain, chunked.item(), TOLERANCE);
            assertFalse(chunked.requiresGrad(), "no graph under no-grad");
        }
    }
}
