package adept.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A whole float32 model through the blocked causal attention kernel against the same weights in float64 (the
 * decomposed attention, near exact): logits, loss and every parameter gradient within the tolerances GoldenModelTest
 * holds adept to against PyTorch; an attention mask without padding takes the same kernel (it is dropped), and so
 * does a right-padded batch (with each sequence's token count).
 */
class FusedAttentionModelTest {
    private static ModelConfig qwen3() {  // grouped-query heads, q/k norms, a length across the kernel's row blocks
        return ModelConfig.builder(Architecture.QWEN3).vocabSize(96).hiddenSize(64).intermediateSize(96).numHiddenLayers(2)
                .numAttentionHeads(4).numKeyValueHeads(2).headDim(16).rmsNormEps(1e-6).ropeTheta(10000).maxPositionEmbeddings(128)
                .tieWordEmbeddings(false).build();
    }

    private static Map<String, Tensor> run(CausalLM model, Tensor ids, Tensor mask, Scope scope) {
        for (Tensor t : model.namedParameters().values()) t.setGrad(null);
        Map<String, Tensor> out = new LinkedHashMap<>();
        Tensor logits = model.forward(ids, mask);
        // padding positions' logits enter the loss too (unmasked labels): their attention is compared as well
        Tensor loss = CausalLM.loss(logits, CausalLM.labels(ids, null));
        loss.backward();
        out.put("logits", logits.detach().to(DType.FLOAT64));
        out.put("loss", loss.detach().to(DType.FLOAT64));
        for (var e : model.namedParameters().entrySet()) out.put("grad." + e.getKey(), e.getValue().grad().to(DType.FLOAT64));
        return out;
    }

    @Test
    void aModelThroughTheKernelIsAsCloseToFloat64AsGoldenTestsDemand() {
        assumeTrue(Tensor.causalAttentionAvailable(), "no OpenBLAS: the decomposed attention is the only path");
        try (CausalLM model = CausalLM.random(qwen3(), 3, 0.05, DType.FLOAT32, Device.CPU);
             CausalLM exact = CausalLM.random(qwen3(), 3, 0.05, DType.FLOAT64, Device.CPU);
             Scope scope = Scope.open()) {
            try (var noGrad = Torch.noGrad()) {
                for (var e : model.namedParameters().entrySet()) exact.namedParameters().get(e.getKey()).copyFrom(e.getValue());
            }
            model.requiresGrad(true);
            exact.requiresGrad(true);
            Torch.manualSeed(4);
            Tensor ids = Tensor.randint(0, 96, DType.INT64, Device.CPU, 3, 100);
            Tensor padded = Tensor.ones(DType.INT64, Device.CPU, 3, 100);  // right padding: 100, 61 and 1 tokens
            padded.select(0, 1).narrow(0, 61, 39).fill(0);
            padded.select(0, 2).narrow(0, 1, 99).fill(0);
            for (Tensor mask : new Tensor[] {null, Tensor.ones(DType.INT64, Device.CPU, 3, 100), padded}) {
                Map<String, Tensor> reference = run(exact, ids, mask, scope);
                Map<String, Tensor> fused = run(model, ids, mask, scope);
                assertEquals(reference.keySet(), fused.keySet());
                double logitError = reference.get("logits").sub(fused.get("logits")).abs().max().item();
                assertTrue(logitError <= 1e-5, "max |logits difference| " + logitError);
                assertEquals(reference.get("loss").item(), fused.get("loss").item(), 1e-6, "loss");
                for (String name : reference.keySet()) {
                    if (!name.startsWith("grad.")) continue;
                    double scale = reference.get(name).abs().max().item();
                    double error = reference.get(name).sub(fused.get(name)).abs().max().item();
                    assertTrue(error <= 1e-4 * Math.max(scale, 1e-12), name + ": relative difference " + error / scale);
                }
            }
        }
    }

    @Test
    void aMaskWithoutPaddingIsDroppedAndOneWithPaddingKept() {
        try (Scope scope = Scope.open(); Rope rope = new Rope(qwen3())) {
            AttentionContext none = AttentionContext.build(rope, 5, Tensor.ones(DType.INT64, Device.CPU, 2, 5), DType.FLOAT32, Device.CPU, 4);
            assertTrue(none.causalOnly(LayerType.FULL_ATTENTION));
            assertTrue(none.causalUpToLengths(LayerType.FULL_ATTENTION));
            assertNull(none.keyLengths());
            assertEquals(java.util.List.of(1L, 5L, 5L), java.util.Arrays.stream(none.mask().shape()).boxed().toList());
            Tensor padded = Tensor.ones(DType.INT64, Device.CPU, 2, 5);
            padded.select(0, 1).narrow(0, 3, 2).fill(0);
            AttentionContext some = AttentionContext.build(rope, 5, padded, DType.FLOAT32, Device.CPU, 4);
            assertFalse(some.causalOnly(LayerType.FULL_ATTENTION));
            assertEquals(java.util.List.of(8L, 5L, 5L), java.util.Arrays.stream(some.mask().shape()).boxed().toList());
            // right padding: the fused kernel's case, with each sequence's token count
            assertTrue(some.causalUpToLengths(LayerType.FULL_ATTENTION));
            assertArrayEquals(new long[] {5, 3}, some.keyLengths().toLongArray());
        }
    }

    @Test
    void onlyRightPaddingWithATokenInEveryRowGivesKeyLengths() {
        try (Scope scope = Scope.open(); Rope rope = new Rope(qwen3())) {
            Tensor left = Tensor.ones(DType.INT64, Device.CPU, 2, 5);
            left.select(0, 1).narrow(0, 0, 2).fill(0);  // padding before the tokens
            Tensor hole = Tensor.ones(DType.INT64, Device.CPU, 2, 5);
            hole.select(0, 0).select(0, 2).fill(0);  // a token after padding
            Tensor empty = Tensor.ones(DType.INT64, Device.CPU, 2, 5);
            empty.select(0, 1).fill(0);  // a row without a token
            Tensor none = Tensor.zeros(DType.INT64, Device.CPU, 0, 5);  // an empty batch
            for (Tensor mask : new Tensor[] {left, hole, empty, none}) {
                AttentionContext c = AttentionContext.build(rope, 5, mask, DType.FLOAT32, Device.CPU, 4);
                assertFalse(c.causalUpToLengths(LayerType.FULL_ATTENTION), java.util.Arrays.toString(mask.toLongArray()));
                assertNull(c.keyLengths());
            }
            // a window that hides keys keeps its sliding layers on the masked path; one that hides none does not
            Tensor padded = Tensor.ones(DType.INT64, Device.CPU, 1, 5);
            padded.select(0, 0).narrow(0, 4, 1).fill(0);
            AttentionContext narrow = AttentionContext.build(rope, rope, 3, 5, padded, DType.FLOAT32, Device.CPU, 4);
            assertTrue(narrow.causalUpToLengths(LayerType.FULL_ATTENTION));
            assertFalse(narrow.causalUpToLengths(LayerType.SLIDING_ATTENTION));
            AttentionContext wide = AttentionContext.build(rope, rope, 8, 5, padded, DType.FLOAT32, Device.CPU, 4);
            assertTrue(wide.causalUpToLengths(LayerType.SLIDING_ATTENTION));
        }
    }
}
