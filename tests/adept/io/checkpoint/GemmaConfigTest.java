package adept.io.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import adept.nn.Activation;
import adept.nn.Architecture;
import adept.nn.LayerType;
import adept.nn.ModelConfig;
import com.google.gson.JsonObject;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Gemma 2 / Gemma 3 config.json: the family's defaults for absent fields, and writing back what was read. */
class GemmaConfigTest {
    static final LayerType S = LayerType.SLIDING_ATTENTION, F = LayerType.FULL_ATTENTION;

    @Test
    void gemma2DefaultsFollowGemma2Config() {
        ConfigJson c = ConfigJson.parse("""
                {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "vocab_size": 64, "hidden_size": 32,
                 "intermediate_size": 48, "num_hidden_layers": 4, "num_attention_heads": 4}""", "config.json");
        ModelConfig m = c.modelConfig();
        assertEquals(Architecture.GEMMA2, m.architecture());
        assertEquals(256, m.headDim());
        assertTrue(m.tieWordEmbeddings());
        assertEquals(8192, m.maxPositionEmbeddings());
        ModelConfig.Extras x = m.extras();
        assertEquals(Activation.GELU_TANH, x.activation());
        assertEquals(50.0, x.attnLogitSoftcapping());
        assertEquals(30.0, x.finalLogitSoftcapping());
        assertEquals(4096, x.slidingWindow());
        assertEquals(List.of(S, F, S, F), x.layerTypes());
        assertEquals(1 / Math.sqrt(256), m.attentionScale());
        assertEquals(m.ropeTheta(), m.localRopeTheta());
        assertEquals(m, ConfigJson.of(m, null).modelConfig(), "a fresh config.json reads back");
    }

    @Test
    void gemma3DefaultsAndNullCaps() {
        ConfigJson c = ConfigJson.parse("""
                {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "vocab_size": 64, "hidden_size": 32,
                 "intermediate_size": 48, "num_hidden_layers": 6, "num_attention_heads": 4, "num_key_value_heads": 1,
                 "attn_logit_softcapping": null, "final_logit_softcapping": null}""", "config.json");
        ModelConfig m = c.modelConfig();
        assertEquals(Architecture.GEMMA3, m.architecture());
        assertEquals(1e6, m.ropeTheta());
        assertEquals(10000.0, m.localRopeTheta());
        assertEquals(List.of(S, S, S, S, S, F), m.extras().layerTypes());
        assertEquals(0.0, m.extras().finalLogitSoftcapping());
        assertEquals(m, ConfigJson.of(m, null).modelConfig());
    }

    @Test
    void gemma2WithoutCapsWritesNull() {
        ModelConfig m = ConfigJson.parse("""
                {"model_type": "gemma2", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "final_logit_softcapping": null}""", "config.json").modelConfig();
        JsonObject json = ConfigJson.of(m, null).json();
        assertTrue(json.get("final_logit_softcapping").isJsonNull(), "absent would mean Gemma2Config's 30");
        assertEquals(50.0, json.get("attn_logit_softcapping") == null ? 50.0 : json.get("attn_logit_softcapping").getAsDouble());
    }

    @Test
    void slidingLayersOnlyWhereTheFamilyHasThem() {
        var e = assertThrows(CheckpointException.class, () -> ConfigJson.parse("""
                {"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "layer_types": ["sliding_attention", "full_attention"]}""", "config.json"));
        assertTrue(e.getMessage().contains("sliding_attention"), e.getMessage());
    }
}
