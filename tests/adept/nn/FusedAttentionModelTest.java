package adept.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * A whole model through the blocked causal attention kernel (no attention mask: future keys are all it hides) against
 * the same model through the decomposed attention (an all-ones mask takes that path and hides the same keys): logits,
 * loss and every parameter gradient within the tolerances GoldenModelTest holds adept to against PyTorch.
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
        Tensor loss = CausalLM.loss(logits, CausalLM.labels(ids, null));
        loss.backward();
        out.put("logits", logits.detach());
        out.put("loss", loss.detach());
        for (var e : model.namedParameters().entrySet()) out.put("grad." + e.getKey(), e.getValue().grad().clone());
        return out;
    }

    @Test
    void aModelGivesTheSameLogitsAndGradientsEitherWay() {
        assumeTrue(Tensor.causalAttentionAvailable(), "no OpenBLAS: the decomposed attention is the only path");
        try (CausalLM model = CausalLM.random(qwen3(), 3, 0.05, DType.FLOAT32, Device.CPU); Scope scope = Scope.open()) {
            model.requiresGrad(true);
            Torch.manualSeed(4);
            Tensor ids = Tensor.randint(0, 96, DType.INT64, Device.CPU, 3, 100);
            Map<String, Tensor> fused = run(model, ids, null, scope);
            Map<String, Tensor> plain = run(model, ids, Tensor.ones(DType.INT64, Device.CPU, 3, 100), scope);
            assertEquals(plain.keySet(), fused.keySet());
            double logitError = plain.get("logits").sub(fused.get("logits")).abs().max().item();
            assertTrue(logitError <= 1e-5, "max |logits difference| " + logitError);
            assertEquals(plain.get("loss").item(), fused.get("loss").item(), 1e-6, "loss");
            for (String name : plain.keySet()) {
                if (!name.startsWith("grad.")) continue;
                double scale = plain.get(name).abs().max().item();
                double error = plain.get(name).sub(fused.get(name)).abs().max().item();
                assertTrue(error <= 1e-4 * Math.max(scale, 1e-12), name + ": relative difference " + error / scale);
            }
        }
    }
}
