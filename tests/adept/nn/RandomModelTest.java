package adept.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** CausalLM.random draws, per tensor, what the plain construction draws: the same values, bit for bit. */
class RandomModelTest {
    @Test
    void randomModelEqualsThePlainDrawInTensorOrder() {
        ModelConfig config = ModelConfig.builder(Architecture.QWEN3).vocabSize(96).hiddenSize(32).intermediateSize(48).numHiddenLayers(2)
                .numAttentionHeads(4).numKeyValueHeads(2).headDim(8).maxPositionEmbeddings(64).build();
        try (Scope scope = Scope.open(); CausalLM model = CausalLM.random(config, 7, 0.02, DType.FLOAT32, Device.CPU)) {
            // The reference: every draw in one scope, as random() did before it freed each tensor's temporaries at once.
            Torch.manualSeed(7);
            Map<String, Tensor> params = model.namedParameters();
            int checked = 0;
            for (var e : config.tensorShapes().entrySet()) {
                long[] shape = e.getValue();
                Tensor expected = shape.length == 1
                        ? Tensor.zeros(DType.FLOAT32, Device.CPU, shape).add(Family.isNorm(e.getKey()) ? config.family().norm().identityWeight() : 0.0)
                        : Tensor.randn(DType.FLOAT32, Device.CPU, shape).mul(0.02);
                Tensor actual = params.get(e.getKey());
                assertTrue(actual != null, "no parameter " + e.getKey());
                assertArrayEquals(expected.toFloatArray(), actual.toFloatArray(), e.getKey() + " differs from the plain draw");
                checked++;
            }
            assertEquals(params.size(), checked);
        }
    }
}
