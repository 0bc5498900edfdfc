package adept.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The builder's defaults are the family's config.json defaults; explicit fields win; errors name the field. */
class ModelConfigBuilderTest {
    private static ModelConfig.Builder shape(Architecture a) {
        return ModelConfig.builder(a).vocabSize(64).hiddenSize(32).intermediateSize(48).numHiddenLayers(4).numAttentionHeads(4);
    }

    @Test
    void llamaDefaults() {
        ModelConfig c = shape(Architecture.LLAMA).build();
        // written out by hand from transformers' LlamaConfig defaults as Family records them
        ModelConfig expected = new ModelConfig(Architecture.LLAMA, 64, 32, 48, 4, 4, 4, 8, 1e-6, 10000.0, null, 2048, false, false, false,
                new ModelConfig.Extras(Activation.SILU, 0, 0, 0, 0, List.of(), 0));
        assertEquals(expected, c);
    }

    @Test
    void gemma2DefaultsComeFromTheFamily() {
        ModelConfig c = shape(Architecture.GEMMA2).build();
        assertEquals(256, c.headDim(), "Gemma 2's head_dim default, not hidden / heads");
        assertEquals(8192, c.maxPositionEmbeddings());
        assertTrue(c.tieWordEmbeddings());
        assertEquals(Activation.GELU_TANH, c.extras().activation());
        assertEquals(List.of(LayerType.SLIDING_ATTENTION, LayerType.FULL_ATTENTION, LayerType.SLIDING_ATTENTION, LayerType.FULL_ATTENTION),
                c.extras().layerTypes());
    }

    @Test
    void explicitFieldsAndToBuilderRoundTrip() {
        ModelConfig c = shape(Architecture.QWEN3).numKeyValueHeads(2).headDim(16).rmsNormEps(1e-5).ropeTheta(5e5).maxPositionEmbeddings(128)
                .tieWordEmbeddings(true).attentionBias(true).build();
        assertEquals(2, c.numKeyValueHeads());
        assertEquals(16, c.headDim());
        assertEquals(1e-5, c.rmsNormEps());
        assertEquals(5e5, c.ropeTheta());
        assertEquals(c, c.toBuilder().build());
        assertEquals(96, c.toBuilder().vocabSize(96).build().vocabSize());
    }

    @Test
    void badFieldsAreNamed() {
        assertEquals("num_hidden_layers must be given",
                assertThrows(ModelException.class, () -> ModelConfig.builder(Architecture.LLAMA).vocabSize(8).hiddenSize(8).intermediateSize(8)
                        .numAttentionHeads(2).build()).getMessage());
        assertTrue(assertThrows(ModelException.class, () -> shape(Architecture.LLAMA).numAttentionHeads(0).build()).getMessage()
                .startsWith("num_attention_heads"));
        assertTrue(assertThrows(ModelException.class, () -> shape(Architecture.LLAMA).numKeyValueHeads(3).build()).getMessage()
                .contains("num_key_value_heads 3"));
    }
}
