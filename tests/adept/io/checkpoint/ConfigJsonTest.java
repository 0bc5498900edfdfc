package adept.io.checkpoint;

import static adept.io.checkpoint.SafetensorsTest.assertMentions;
import static org.junit.jupiter.api.Assertions.*;

import adept.nn.Architecture;
import adept.nn.ModelConfig;
import adept.nn.RopeScaling;
import adept.tensor.DType;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

class ConfigJsonTest {
    static final String LLAMA = """
            {
              "architectures": ["LlamaForCausalLM"],
              "model_type": "llama",
              "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48,
              "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
              "hidden_act": "silu", "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
              "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 16, "rope_type": "llama3"},
              "max_position_embeddings": 128, "tie_word_embeddings": true,
              "bos_token_id": 1, "eos_token_id": [2, 3], "torch_dtype": "bfloat16",
              "layer_types": ["full_attention", "full_attention", "full_attention"],
              "my_per_layer": [10, 11, 12],
              "transformers_version": "4.56.0", "custom": {"keep": [1, 2]}
            }
            """;

    static String with(String json, String key, String value) {
        JsonObject o = JsonParser.parseString(json).getAsJsonObject();
        if (value == null) o.remove(key);
        else o.add(key, JsonParser.parseString(value));
        return o.toString();
    }

    static CheckpointException fails(String json) {
        return assertThrows(CheckpointException.class, () -> ConfigJson.parse(json, "dir/config.json"));
    }

    @Test
    void readsLlamaWithDefaults() {
        ConfigJson c = ConfigJson.parse(LLAMA, "config.json");
        ModelConfig m = c.modelConfig();
        assertEquals(ModelConfig.builder(Architecture.LLAMA).vocabSize(64).hiddenSize(32).intermediateSize(48).numHiddenLayers(3)
                .numAttentionHeads(4).numKeyValueHeads(2).headDim(8).rmsNormEps(1e-5).ropeTheta(500000.0)
                .ropeScaling(new RopeScaling("llama3", 8, 1, 4, 16)).maxPositionEmbeddings(128).tieWordEmbeddings(true).build(), m);
        assertEquals(DType.BFLOAT16, c.dtype());
        assertEquals(OptionalInt.of(1), c.bosTokenId());
        assertEquals(List.of(2, 3), c.eosTokenIds());
        assertEquals(List.of("layer_types", "my_per_layer"), c.perLayerFields());

        ModelConfig minimal = ConfigJson.parse("""
                {"model_type": "llama", "vocab_size": 10, "hidden_size": 16, "intermediate_size": 8,
                 "num_hidden_layers": 1, "num_attention_heads": 2, "eos_token_id": 5}""", "config.json").modelConfig();
        assertEquals(2, minimal.numKeyValueHeads(), "kv heads default to heads");
        assertEquals(8, minimal.headDim(), "head_dim defaults to hidden / heads");
        assertEquals(10000.0, minimal.ropeTheta());
        assertEquals(1e-6, minimal.rmsNormEps());
        assertEquals(2048, minimal.maxPositionEmbeddings());
        assertFalse(minimal.tieWordEmbeddings());
        assertNull(minimal.ropeScaling());
    }

    @Test
    void qwen3DefaultsHeadDimTo128AndReadsTransformers5Layout() {
        ConfigJson c = ConfigJson.parse("""
                {"architectures": ["Qwen3ForCausalLM"], "vocab_size": 10, "hidden_size": 64, "intermediate_size": 8,
                 "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": null,
                 "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}, "dtype": "float32",
                 "use_sliding_window": false, "layer_types": ["full_attention", "full_attention"]}""", "config.json");
        assertEquals(128, c.modelConfig().headDim());
        assertEquals(2, c.modelConfig().numKeyValueHeads());
        assertEquals(1e6, c.modelConfig().ropeTheta());
        assertEquals(32768, c.modelConfig().maxPositionEmbeddings());
        assertEquals(DType.FLOAT32, c.dtype());
        ModelConfig changed = ModelConfig.builder(Architecture.QWEN3).vocabSize(10).hiddenSize(64).intermediateSize(8)
                .numHiddenLayers(2).numAttentionHeads(2).numKeyValueHeads(2).headDim(128).ropeTheta(5e5)
                .maxPositionEmbeddings(32768).build();
        ConfigJson written = c.with(changed).withDtype(DType.BFLOAT16);
        JsonObject o = written.json();
        assertEquals(5e5, o.getAsJsonObject("rope_parameters").get("rope_theta").getAsDouble());
        assertFalse(o.has("rope_theta"), "stays in the transformers 5 layout");
        assertEquals("bfloat16", o.get("dtype").getAsString());
        assertFalse(o.has("torch_dtype"));
        assertEquals(changed, ConfigJson.parse(written.toJson(), "x").modelConfig());
    }

    @Test
    void writingKeepsUnknownFieldsAndSpelling() {
        ConfigJson c = ConfigJson.parse(LLAMA, "config.json");
        String text = c.with(c.modelConfig()).toJson();
        JsonObject o = JsonParser.parseString(text).getAsJsonObject();
        assertEquals(JsonParser.parseString(LLAMA), o, "an unchanged config writes back the same JSON");
        assertTrue(text.contains("1e-05"), "unchanged numbers keep their spelling: " + text);

        ModelConfig m = c.modelConfig();
        ModelConfig wider = ModelConfig.builder(m.architecture()).vocabSize(80).hiddenSize(m.hiddenSize()).intermediateSize(96)
                .numHiddenLayers(m.numHiddenLayers()).numAttentionHeads(m.numAttentionHeads())
                .numKeyValueHeads(m.numKeyValueHeads()).headDim(m.headDim()).rmsNormEps(m.rmsNormEps()).ropeTheta(m.ropeTheta())
                .maxPositionEmbeddings(m.maxPositionEmbeddings()).tieWordEmbeddings(false).attentionBias(true).build();
        JsonObject w = c.with(wider).json();
        assertEquals(80, w.get("vocab_size").getAsInt());
        assertEquals(96, w.get("intermediate_size").getAsInt());
        assertTrue(w.get("rope_scaling").isJsonNull());
        assertFalse(w.get("tie_word_embeddings").getAsBoolean());
        assertTrue(w.get("attention_bias").getAsBoolean());
        assertEquals("4.56.0", w.get("transformers_version").getAsString());
        assertEquals(JsonParser.parseString("{\"keep\": [1, 2]}"), w.get("custom"));
        assertEquals(wider, ConfigJson.parse(w.toString(), "x").modelConfig());
    }

    @Test
    void freshConfigRoundTrips() {
        ModelConfig m = ModelConfig.builder(Architecture.QWEN2).vocabSize(50).hiddenSize(24).intermediateSize(40)
                .numHiddenLayers(2).numAttentionHeads(6).numKeyValueHeads(3).headDim(4).ropeTheta(1e6).maxPositionEmbeddings(256)
                .tieWordEmbeddings(true).build();
        ConfigJson c = ConfigJson.of(m, DType.FLOAT16);
        ConfigJson back = ConfigJson.parse(c.toJson(), "config.json");
        assertEquals(m, back.modelConfig());
        assertEquals(DType.FLOAT16, back.dtype());
        assertEquals("qwen2", back.json().get("model_type").getAsString());
    }

    @Test
    void layerCountHookCopiesPerLayerEntries() {
        ConfigJson c = ConfigJson.parse(LLAMA, "config.json");
        ConfigJson grown = c.withLayerCount(5, new int[] {0, 1, 1, 2, 2});
        JsonObject o = grown.json();
        assertEquals(5, o.get("num_hidden_layers").getAsInt());
        assertEquals(5, grown.modelConfig().numHiddenLayers());
        assertEquals(JsonParser.parseString("[10, 11, 11, 12, 12]"), o.get("my_per_layer"));
        assertEquals(5, o.getAsJsonArray("layer_types").size());
        assertEquals(JsonParser.parseString("[2, 3]"), o.get("eos_token_id"), "token lists are not per-layer");
        assertMentions(assertThrows(CheckpointException.class, () -> c.withLayerCount(2, new int[] {0, 3})), "source layer 3");

        // with() resizes uniform per-layer lists, and refuses to guess for the others.
        ModelConfig four = c.modelConfig().withNumHiddenLayers(4);
        assertMentions(assertThrows(CheckpointException.class, () -> c.with(four)), "config.json", "my_per_layer", "withLayerCount");
        ConfigJson uniform = ConfigJson.parse(with(LLAMA, "my_per_layer", null), "config.json");
        assertEquals(4, uniform.with(four).json().getAsJsonArray("layer_types").size());
    }

    @Test
    void errorsNameTheFileAndTheField() {
        assertMentions(fails(with(LLAMA, "hidden_size", null)), "dir/config.json", "hidden_size", "missing");
        assertMentions(fails(with(LLAMA, "hidden_size", "\"32\"")), "dir/config.json", "hidden_size", "integer");
        assertMentions(fails(with(LLAMA, "num_hidden_layers", "2.5")), "dir/config.json", "num_hidden_layers");
        assertMentions(fails(with(LLAMA, "tie_word_embeddings", "1")), "dir/config.json", "tie_word_embeddings");
        assertMentions(fails(with(with(LLAMA, "architectures", "[\"GPT2LMHeadModel\"]"), "model_type", "\"gpt2\"")),
                "dir/config.json", "architectures", "GPT2LMHeadModel");
        assertMentions(fails(with(LLAMA, "hidden_act", "\"gelu\"")), "dir/config.json", "hidden_act", "gelu");
        assertMentions(fails(with(LLAMA, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4.0}")),
                "dir/config.json", "rope_scaling.rope_type", "yarn");
        assertMentions(fails(with(LLAMA, "rope_scaling", "{\"type\": \"linear\", \"factor\": 4.0}")), "rope_scaling", "linear");
        assertMentions(fails(with(LLAMA, "rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 4.0}")),
                "dir/config.json", "rope_scaling.low_freq_factor");
        assertMentions(fails(with(LLAMA, "torch_dtype", "\"float8_e4m3fn\"")), "dir/config.json", "torch_dtype", "float8_e4m3fn");
        assertMentions(fails(with(LLAMA, "layer_types", "[\"full_attention\"]")), "dir/config.json", "layer_types", "1 entries");
        assertMentions(fails(with(LLAMA, "layer_types", "[\"full_attention\", \"sliding_attention\", \"full_attention\"]")),
                "layer_types", "sliding_attention");
        assertMentions(fails(with(LLAMA, "use_sliding_window", "true")), "use_sliding_window");
        assertMentions(fails(with(LLAMA, "num_key_value_heads", "3")), "dir/config.json", "num_key_value_heads");
        assertMentions(fails("{\"vocab_size\": 1,}"), "dir/config.json", "malformed JSON");
        assertMentions(fails("[]"), "dir/config.json", "not a JSON object");
        assertMentions(assertThrows(CheckpointException.class, () -> ConfigJson.parse(with(LLAMA, "eos_token_id", "\"x\""), "c.json").eosTokenIds()),
                "c.json", "eos_token_id");
    }
}
