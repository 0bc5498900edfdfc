package adept.bench;

import static org.junit.jupiter.api.Assertions.*;

import adept.expand.LayerExpansion;
import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Tensor;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** bench mfu's model FLOPs, recounted from the weights of a real expanded model rather than from the shape's sizes. */
class BenchMfuFlopsTest {
    @Test
    void modelFlopsMatchACountOverTheExpandedModelsWeights() {
        BenchMfuCommand.Shape shape = new BenchMfuCommand.Shape("test", 96, 32, 80, 5, 4, 2);
        int copies = 2;
        long batch = 3;
        long seq = 16;
        ModelConfig config = ModelConfig.builder(Architecture.LLAMA).vocabSize(shape.vocab()).hiddenSize(shape.hidden())
                .intermediateSize(shape.intermediate()).numHiddenLayers(shape.layers()).numAttentionHeads(shape.heads())
                .numKeyValueHeads(shape.kvHeads()).headDim(shape.headDim()).maxPositionEmbeddings(64).build();
        try (CausalLM model = CausalLM.random(config, 1, 0.02, DType.FLOAT32, Device.CPU)) {
            List<String> trainable = LayerExpansion.apply(model, LayerExpansion.explicit(shape.layers(), List.of(3, 4)));
            assertEquals(shape.layers() + copies, model.layers().size());
            // the lowest trainable layer: autograd records from there up
            int first = trainable.stream().mapToInt(n -> Integer.parseInt(n.split("\\.")[2])).min().orElseThrow();
            Map<String, Tensor> weights = model.namedParameters();
            long tokens = batch * seq;
            double forward = 0;
            double inputGradients = 0;
            double weightGradients = 0;
            for (var e : weights.entrySet()) {
                String name = e.getKey();
                if (e.getValue().dim() != 2 || name.contains("embed_tokens")) continue;  // lookups and norms: no matrix products
                double flops = 2.0 * tokens * e.getValue().numel();
                forward += flops;
                int layer = name.startsWith("model.layers.") ? Integer.parseInt(name.split("\\.")[2]) : Integer.MAX_VALUE;  // lm_head: top
                if (layer >= first) inputGradients += flops;
                if (trainable.contains(name)) weightGradients += flops;
            }
            double attention = 2.0 * batch * seq * seq * shape.heads() * shape.headDim();  // causal QK^T and AV
            forward += model.layers().size() * attention;
            inputGradients += (model.layers().size() - first) * 2 * attention;
            assertTrue(weightGradients > 0 && inputGradients > weightGradients, "copies train, the stack above the first copy backpropagates");
            assertEquals(forward + inputGradients + weightGradients, BenchMfuCommand.modelFlops(shape, copies, batch, seq),
                    1e-9 * forward, "model FLOPs per step");
        }
    }
}
