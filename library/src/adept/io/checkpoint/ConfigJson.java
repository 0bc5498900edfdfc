package adept.io.checkpoint;

import adept.nn.Activation;
import adept.nn.Architecture;
import adept.nn.Family;
import adept.nn.LayerType;
import adept.nn.ModelConfig;
import adept.nn.ModelException;
import adept.nn.RopeScaling;
import adept.tensor.DType;
import adept.tensor.TorchException;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A Hugging Face config.json: the {@link ModelConfig} adept reads from it plus the whole original JSON
 * object, so that writing it back keeps every field adept does not know (generation settings,
 * transformers_version, ...). Immutable: the {@code with...} methods return a copy.
 *
 * <p>Defaults for absent (or null) fields follow transformers' config classes, as each family's
 * {@link adept.nn.Family.Defaults} records them: num_key_value_heads = num_attention_heads; head_dim = hidden_size /
 * num_attention_heads (Qwen3Config: 128, Gemma: 256); rope_theta 10000 (Gemma 3: 1e6); rms_norm_eps 1e-6;
 * max_position_embeddings 2048 (Llama), 32768 (Qwen), 8192 (Gemma 2), 131072 (Gemma 3); tie_word_embeddings false
 * (Gemma: true); attention_bias and mlp_bias false; hidden_act "silu" (Gemma's hidden_activation: "gelu_pytorch_tanh");
 * Gemma's query_pre_attn_scalar, logit soft-capping, sliding_window, sliding_window_pattern (when layer_types is absent)
 * and rope_local_base_freq as Gemma2Config / Gemma3TextConfig. Both the classic layout
 * (rope_theta and rope_scaling at top level, torch_dtype) and the transformers 5 one (rope_parameters,
 * dtype) are read; writing updates whichever the file uses.
 */
public final class ConfigJson {
    public static final String FILE_NAME = "config.json";
    /** The largest config.json read (Hugging Face's are a few KB; a per-layer list of a 1,000-layer model is still far below). */
    public static final long MAX_BYTES = 16L << 20;

    /** Top-level arrays that are never per-layer lists, whatever their length. */
    private static final Set<String> NOT_PER_LAYER = Set.of("architectures", "eos_token_id", "bos_token_id", "pad_token_id",
            "bad_words_ids", "suppress_tokens", "begin_suppress_tokens", "forced_decoder_ids", "sep_token_id",
            "decoder_start_token_id");
    /** Per-layer lists whose length must equal num_hidden_layers. */
    private static final Set<String> KNOWN_PER_LAYER = Set.of("layer_types", "no_rope_layers", "mlp_layer_types");

    private final JsonObject json;
    private final String source;
    private final ModelConfig config;
    private final DType dtype;

    private ConfigJson(JsonObject json, String source, ModelConfig config, DType dtype) {
        this.json = json;
        this.source = source;
        this.config = config;
        this.dtype = dtype;
    }

    // ---- reading ----

    /** Reads a config.json file (UTF-8); errors name the file. */
    public static ConfigJson read(Path file) {
        String where = file.toString();
        byte[] bytes = FileOps.readBounded(file, MAX_BYTES, "config.json");
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new CheckpointException(where + ": not valid UTF-8", e);
        }
        return parse(text, where);
    }

    /** Parses config.json text; source names it in error messages (a path, or just "config.json"). */
    public static ConfigJson parse(String text, String source) {
        JsonElement root = Json.parse(text, source);
        if (!root.isJsonObject()) throw new CheckpointException(source + ": is " + Json.describe(root) + ", not a JSON object");
        JsonObject json = root.getAsJsonObject();
        Reader r = new Reader(json, source);
        return new ConfigJson(json, source, r.modelConfig(), r.dtype());
    }

    /** A fresh config.json describing config, stored as dtype (null: no torch_dtype field). */
    public static ConfigJson of(ModelConfig config, DType dtype) {
        JsonObject json = new JsonObject();
        JsonArray architectures = new JsonArray();
        architectures.add(config.architecture().className());
        json.add("architectures", architectures);
        json.addProperty("attention_bias", config.attentionBias());
        json.addProperty("head_dim", config.headDim());
        json.addProperty(config.family().activationField(), config.extras().activation().configName());
        json.addProperty("hidden_size", config.hiddenSize());
        json.addProperty("intermediate_size", config.intermediateSize());
        json.addProperty("max_position_embeddings", config.maxPositionEmbeddings());
        json.addProperty("mlp_bias", config.mlpBias());
        json.addProperty("model_type", config.architecture().modelType());
        json.addProperty("num_attention_heads", config.numAttentionHeads());
        json.addProperty("num_hidden_layers", config.numHiddenLayers());
        json.addProperty("num_key_value_heads", config.numKeyValueHeads());
        json.addProperty("rms_norm_eps", config.rmsNormEps());
        json.add("rope_scaling", JsonNull.INSTANCE);
        json.addProperty("rope_theta", config.ropeTheta());
        json.addProperty("tie_word_embeddings", config.tieWordEmbeddings());
        json.addProperty("vocab_size", config.vocabSize());
        return new ConfigJson(json, FILE_NAME, config, null).with(config).withDtype(dtype);
    }

    /** The model's shape and hyper-parameters. */
    public ModelConfig modelConfig() {
        return config;
    }

    /** The stored dtype ("torch_dtype", or "dtype" in transformers 5), or null when the file does not say. */
    public DType dtype() {
        return dtype;
    }

    /** Where this config came from (its path), for messages. */
    public String source() {
        return source;
    }

    /** bos_token_id, when set. */
    public OptionalInt bosTokenId() {
        JsonElement e = json.get("bos_token_id");
        if (e == null || e.isJsonNull()) return OptionalInt.empty();
        return OptionalInt.of(tokenId(e, "bos_token_id"));
    }

    /** eos_token_id as a list (the file may hold one id or several); empty when unset. */
    public List<Integer> eosTokenIds() {
        JsonElement e = json.get("eos_token_id");
        if (e == null || e.isJsonNull()) return List.of();
        if (e.isJsonArray()) {
            List<Integer> ids = new ArrayList<>();
            for (JsonElement id : e.getAsJsonArray()) ids.add(tokenId(id, "eos_token_id"));
            return List.copyOf(ids);
        }
        return List.of(tokenId(e, "eos_token_id"));
    }

    private int tokenId(JsonElement e, String field) {
        Long v = Json.exactLong(e);
        if (v == null || v < 0 || v > Integer.MAX_VALUE) {
            throw new CheckpointException(source + ": field \"" + field + "\" holds " + Json.describe(e) + ", expected a token id");
        }
        return v.intValue();
    }

    /** A copy of the whole JSON object. */
    public JsonObject json() {
        return json.deepCopy();
    }

    /**
     * Names of the top-level lists with one entry per layer: known ones (layer_types, ...) and any other
     * array whose length equals num_hidden_layers (token-id lists and "architectures" excepted).
     */
    public List<String> perLayerFields() {
        List<String> names = new ArrayList<>();
        int layers = config.numHiddenLayers();
        for (var e : json.entrySet()) {
            if (!e.getValue().isJsonArray() || NOT_PER_LAYER.contains(e.getKey())) continue;
            if (KNOWN_PER_LAYER.contains(e.getKey()) || e.getValue().getAsJsonArray().size() == layers) names.add(e.getKey());
        }
        return Collections.unmodifiableList(names);
    }

    // ---- updating ----

    /**
     * This config.json describing config instead: known fields are updated (a field keeps its spelling when
     * its value is unchanged; absent ones are added only when they differ from the default a reader would
     * assume), unknown fields are kept. When the layer count changes, per-layer lists whose entries are all
     * equal are resized; others need {@link #withLayerCount} first (an error says so).
     */
    public ConfigJson with(ModelConfig config) {
        Objects.requireNonNull(config, "config");
        JsonObject out = json.deepCopy();
        Architecture arch = config.architecture();
        JsonElement archs = out.get("architectures");
        if (!(archs != null && archs.isJsonArray() && archs.getAsJsonArray().contains(new JsonPrimitive(arch.className())))) {
            JsonArray a = new JsonArray();
            a.add(arch.className());
            out.add("architectures", a);
        }
        out.addProperty("model_type", arch.modelType());
        putInt(out, "vocab_size", config.vocabSize(), null);
        putInt(out, "hidden_size", config.hiddenSize(), null);
        putInt(out, "intermediate_size", config.intermediateSize(), null);
        putInt(out, "num_attention_heads", config.numAttentionHeads(), null);
        putInt(out, "num_key_value_heads", config.numKeyValueHeads(), config.numAttentionHeads());
        Family family = arch.family();
        Family.Defaults d = family.defaults();
        Integer defaultHeadDim = d.headDim() > 0 ? Integer.valueOf(d.headDim())
                : config.hiddenSize() % config.numAttentionHeads() == 0 ? Integer.valueOf(config.hiddenSize() / config.numAttentionHeads()) : null;
        putInt(out, "head_dim", config.headDim(), defaultHeadDim);
        putDouble(out, "rms_norm_eps", config.rmsNormEps(), 1e-6);
        putInt(out, "max_position_embeddings", config.maxPositionEmbeddings(), d.maxPositionEmbeddings());
        putBoolean(out, "tie_word_embeddings", config.tieWordEmbeddings(), d.tieWordEmbeddings());
        putBoolean(out, "attention_bias", config.attentionBias(), false);
        if (family.mlpBiasField()) putBoolean(out, "mlp_bias", config.mlpBias(), false);
        writeRope(out, config);
        writeExtras(out, config);

        int oldLayers = this.config.numHiddenLayers();
        int newLayers = config.numHiddenLayers();
        if (newLayers != oldLayers) {
            for (String field : perLayerFields()) {
                if (field.equals("layer_types") && family.slidingLayers()) continue;  // writeExtras wrote the model's
                JsonArray list = out.getAsJsonArray(field);
                if (!uniform(list)) {
                    throw new CheckpointException(source + ": field \"" + field + "\" has one entry per layer (" + oldLayers
                            + " layers, not all equal) but the model has " + newLayers + "; use withLayerCount to say which"
                            + " layer each new one copies");
                }
                JsonArray resized = new JsonArray();
                for (int i = 0; i < newLayers && !list.isEmpty(); i++) resized.add(list.get(0).deepCopy());
                out.add(field, resized);
            }
        }
        putInt(out, "num_hidden_layers", newLayers, null);
        ModelConfig back = new Reader(out, source).modelConfig();
        if (!back.equals(config)) {  // guards this writer against drifting from the reader
            throw new CheckpointException(source + ": cannot express " + config + " in config.json (reads back as " + back + ")");
        }
        return new ConfigJson(out, source, config, dtype);
    }

    /** This config.json with the stored dtype set (torch_dtype, or dtype where the file uses that key); null: unchanged. */
    public ConfigJson withDtype(DType dtype) {
        if (dtype == null) return this;
        JsonObject out = json.deepCopy();
        boolean wrote = false;
        for (String key : List.of("torch_dtype", "dtype")) {
            if (out.has(key)) {
                out.addProperty(key, torchName(dtype));
                wrote = true;
            }
        }
        if (!wrote) out.addProperty("torch_dtype", torchName(dtype));
        return new ConfigJson(out, source, config, dtype);
    }

    /**
     * This config.json with newCount layers, new layer i being a copy of old layer sourceOfEachNewLayer[i]:
     * num_hidden_layers is updated and every per-layer list ({@link #perLayerFields()}) rebuilt by copying
     * the source layer's entry.
     */
    public ConfigJson withLayerCount(int newCount, int[] sourceOfEachNewLayer) {
        int oldCount = config.numHiddenLayers();
        if (newCount < 0 || sourceOfEachNewLayer.length != newCount) {
            throw new CheckpointException(source + ": withLayerCount(" + newCount + ") needs one source layer per new layer, got "
                    + sourceOfEachNewLayer.length);
        }
        for (int s : sourceOfEachNewLayer) {
            if (s < 0 || s >= oldCount) {
                throw new CheckpointException(source + ": source layer " + s + " out of range (the config has " + oldCount + " layers)");
            }
        }
        JsonObject out = json.deepCopy();
        for (String field : perLayerFields()) {
            JsonArray old = out.getAsJsonArray(field);
            JsonArray rebuilt = new JsonArray();
            for (int s : sourceOfEachNewLayer) rebuilt.add(old.get(s).deepCopy());
            out.add(field, rebuilt);
        }
        out.addProperty("num_hidden_layers", newCount);
        ModelConfig expanded = config.withLayerSources(sourceOfEachNewLayer);
        // a sliding pattern no longer describes copied layers: name every layer's type
        if (expanded.hasSlidingLayers() && !out.has("layer_types")) out.add("layer_types", layerTypes(expanded));
        return new ConfigJson(out, source, expanded, dtype);
    }

    /** The JSON text as written: two-space indentation, trailing newline. */
    public String toJson() {
        return Json.PRETTY.toJson(json) + "\n";
    }

    /** Writes the file atomically (temporary sibling, fsync, rename). */
    public void write(Path file) {
        try {
            FileOps.writeStringAtomically(file, toJson());
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot write: " + e, e);
        }
    }

    @Override
    public String toString() {
        return "ConfigJson[" + source + ", " + config + "]";
    }

    // ---- helpers ----

    /** PyTorch's name of a dtype, as config.json's torch_dtype spells it. */
    static String torchName(DType dtype) {
        return switch (dtype) {
            case FLOAT32 -> "float32";
            case FLOAT16 -> "float16";
            case BFLOAT16 -> "bfloat16";
            case FLOAT64 -> "float64";
            case INT64 -> "int64";
            case INT32 -> "int32";
            case INT16 -> "int16";
            case INT8 -> "int8";
            case UINT8 -> "uint8";
            case BOOL -> "bool";
        };
    }

    private static boolean uniform(JsonArray list) {
        for (JsonElement e : list) if (!e.equals(list.get(0))) return false;
        return true;
    }

    /**
     * Sets key unless it already holds this value (keeping its spelling, e.g. 1e-06). An absent or null key
     * (readers treat both as the default) stays so when the value is the default.
     */
    private static void putInt(JsonObject o, String key, int value, Integer absentDefault) {
        JsonElement old = o.get(key);
        if (old == null || old.isJsonNull()) {
            if (absentDefault != null && absentDefault == value) return;
        } else {
            Long existing = Json.exactLong(old);
            if (existing != null && existing == value) return;
        }
        o.addProperty(key, value);
    }

    private static void putDouble(JsonObject o, String key, double value, Double absentDefault) {
        JsonElement old = o.get(key);
        if (old == null || old.isJsonNull()) {
            if (absentDefault != null && absentDefault == value) return;
        } else if (old.isJsonPrimitive() && old.getAsJsonPrimitive().isNumber() && old.getAsDouble() == value) {
            return;
        }
        o.addProperty(key, value);
    }

    private static void putBoolean(JsonObject o, String key, boolean value, boolean absentDefault) {
        JsonElement old = o.get(key);
        if ((old == null || old.isJsonNull()) && value == absentDefault) return;
        if (old != null && old.isJsonPrimitive() && old.getAsJsonPrimitive().isBoolean() && old.getAsBoolean() == value) return;
        o.addProperty(key, value);
    }

    /** The family's fields beyond the Llama shape: activation, attention scale, soft-capping, sliding windows. */
    private static void writeExtras(JsonObject out, ModelConfig config) {
        Family family = config.family();
        Family.Defaults d = family.defaults();
        ModelConfig.Extras x = config.extras();
        String act = x.activation().configName();
        JsonElement oldAct = out.get(family.activationField());
        boolean actAbsent = oldAct == null || oldAct.isJsonNull();
        if (!(actAbsent && x.activation() == d.activation())) out.addProperty(family.activationField(), act);
        putDouble(out, "query_pre_attn_scalar", x.queryPreAttnScalar(), d.queryPreAttnScalar());
        putCap(out, "attn_logit_softcapping", x.attnLogitSoftcapping(), d.attnLogitSoftcapping());
        putCap(out, "final_logit_softcapping", x.finalLogitSoftcapping(), d.finalLogitSoftcapping());
        if (!family.slidingLayers()) return;
        putInt(out, "sliding_window", x.slidingWindow(), d.slidingWindow());
        putDouble(out, "rope_local_base_freq", x.localRopeTheta(), d.localRopeTheta());
        JsonElement pattern = out.get("sliding_window_pattern");
        int period = pattern != null && pattern.isJsonPrimitive() ? pattern.getAsInt() : d.slidingWindowPattern();
        if (out.has("layer_types") || !x.layerTypes().equals(ModelConfig.Extras.pattern(config.numHiddenLayers(), period))) {
            out.add("layer_types", layerTypes(config));
        }
    }

    private static JsonArray layerTypes(ModelConfig config) {
        JsonArray a = new JsonArray();
        for (int i = 0; i < config.numHiddenLayers(); i++) a.add(config.layerType(i).configName());
        return a;
    }

    /** A soft-capping value: 0 (none) is written as null where the family's default caps. */
    private static void putCap(JsonObject o, String key, double value, double absentDefault) {
        if (value > 0) {
            putDouble(o, key, value, absentDefault);
            return;
        }
        JsonElement old = o.get(key);
        if (old != null && old.isJsonNull()) return;
        if (old == null && absentDefault == 0) return;
        o.add(key, JsonNull.INSTANCE);
    }

    private static void writeRope(JsonObject out, ModelConfig config) {
        RopeScaling scaling = config.ropeScaling();
        JsonElement params = out.get("rope_parameters");
        boolean v5 = params != null && params.isJsonObject() && !out.has("rope_theta") && !out.has("rope_scaling");
        if (v5) {  // transformers 5: {"rope_parameters": {"rope_type": ..., "rope_theta": ..., scaling fields}}
            JsonObject p = params.getAsJsonObject();
            putDouble(p, "rope_theta", config.ropeTheta(), null);
            if (scaling == null) {
                if (!isDefaultRope(p)) p.addProperty("rope_type", "default");
                for (String k : List.of("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")) p.remove(k);
            } else {
                writeScaling(p, scaling);
            }
            return;
        }
        putDouble(out, "rope_theta", config.ropeTheta(), config.family().defaults().ropeTheta());
        JsonElement old = out.get("rope_scaling");
        if (scaling == null) {
            if (old != null && !old.isJsonNull() && !isDefaultRope(old)) out.add("rope_scaling", JsonNull.INSTANCE);
        } else {
            JsonObject s = old != null && old.isJsonObject() ? old.getAsJsonObject() : new JsonObject();
            writeScaling(s, scaling);
            out.add("rope_scaling", s);
        }
    }

    private static boolean isDefaultRope(JsonElement e) {
        if (!e.isJsonObject()) return false;
        JsonObject o = e.getAsJsonObject();
        JsonElement type = o.has("rope_type") ? o.get("rope_type") : o.get("type");
        return type != null && type.isJsonPrimitive() && "default".equals(type.getAsString());
    }

    private static void writeScaling(JsonObject s, RopeScaling scaling) {
        if (s.has("type") && !s.has("rope_type")) s.addProperty("type", scaling.type());
        else s.addProperty("rope_type", scaling.type());
        putDouble(s, "factor", scaling.factor(), null);
        putDouble(s, "low_freq_factor", scaling.lowFreqFactor(), null);
        putDouble(s, "high_freq_factor", scaling.highFreqFactor(), null);
        putInt(s, "original_max_position_embeddings", scaling.originalMaxPositionEmbeddings(), null);
    }

    /** Typed reads of config.json fields, with errors naming the file and the field. */
    private static final class Reader {
        private final JsonObject json;
        private final String source;

        Reader(JsonObject json, String source) {
            this.json = json;
            this.source = source;
        }

        ModelConfig modelConfig() {
            Architecture arch = architecture();
            Family family = arch.family();
            Family.Defaults d = family.defaults();
            String actField = family.activationField();
            String actName = optString(actField, d.activation().configName());
            Activation act = Activation.fromConfigName(actName);
            if (act == null) {
                throw new CheckpointException(source + ": field \"" + actField + "\" is \"" + actName + "\"; adept supports "
                        + java.util.Arrays.stream(Activation.values()).map(a -> "\"" + a.configName() + "\"").toList());
            }
            if (!family.slidingLayers() && optBoolean("use_sliding_window", false)) {
                throw new CheckpointException(source + ": field \"use_sliding_window\" is true; adept supports sliding windows only in Gemma");
            }
            int layers = requiredInt("num_hidden_layers");
            List<LayerType> layerTypes = checkPerLayerLists(layers, family);
            int hidden = requiredInt("hidden_size");
            int heads = requiredInt("num_attention_heads");
            int kvHeads = optInt("num_key_value_heads", heads);
            int headDim;
            if (present(json, "head_dim")) {
                headDim = requiredInt("head_dim");
            } else if (d.headDim() > 0) {
                headDim = d.headDim();  // Qwen3Config's, Gemma's: not hidden / heads
            } else {
                if (heads <= 0 || hidden % heads != 0) {
                    throw new CheckpointException(source + ": field \"head_dim\" is absent and hidden_size " + hidden
                            + " is not a multiple of num_attention_heads " + heads);
                }
                headDim = hidden / heads;
            }
            JsonObject ropeParams = optObject("rope_parameters");
            double ropeTheta;
            if (present(json, "rope_theta")) ropeTheta = requiredDouble(json, "rope_theta", "rope_theta");
            else if (ropeParams != null && present(ropeParams, "rope_theta")) ropeTheta = requiredDouble(ropeParams, "rope_theta", "rope_parameters.rope_theta");
            else ropeTheta = d.ropeTheta();
            RopeScaling scaling;
            if (present(json, "rope_scaling")) scaling = ropeScaling(optObject("rope_scaling"), "rope_scaling");
            else if (ropeParams != null) scaling = ropeScaling(ropeParams, "rope_parameters");
            else scaling = null;
            try {
                int window = 0;
                if (family.slidingLayers()) {
                    if (layerTypes == null) layerTypes = ModelConfig.Extras.pattern(layers, optInt("sliding_window_pattern", d.slidingWindowPattern()));
                    window = optInt("sliding_window", d.slidingWindow());
                } else {
                    layerTypes = List.of();
                }
                var extras = new ModelConfig.Extras(act, optDouble("query_pre_attn_scalar", d.queryPreAttnScalar()),
                        cap("attn_logit_softcapping", d.attnLogitSoftcapping()), cap("final_logit_softcapping", d.finalLogitSoftcapping()),
                        window, layerTypes, family.slidingLayers() ? optDouble("rope_local_base_freq", d.localRopeTheta()) : 0);
                return ModelConfig.builder(arch).vocabSize(requiredInt("vocab_size")).hiddenSize(hidden)
                        .intermediateSize(requiredInt("intermediate_size")).numHiddenLayers(layers).numAttentionHeads(heads)
                        .numKeyValueHeads(kvHeads).headDim(headDim).rmsNormEps(optDouble("rms_norm_eps", 1e-6)).ropeTheta(ropeTheta)
                        .ropeScaling(scaling).maxPositionEmbeddings(optInt("max_position_embeddings", d.maxPositionEmbeddings()))
                        .tieWordEmbeddings(optBoolean("tie_word_embeddings", d.tieWordEmbeddings()))
                        .attentionBias(optBoolean("attention_bias", false)).mlpBias(family.mlpBiasField() && optBoolean("mlp_bias", false))
                        .extras(extras).build();
            } catch (ModelException e) {
                throw new CheckpointException(source + ": " + e.getMessage(), e);
            }
        }

        DType dtype() {
            for (String key : List.of("torch_dtype", "dtype")) {
                JsonElement e = json.get(key);
                if (e == null || e.isJsonNull()) continue;
                if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) fail(key, e, "a dtype name");
                String name = e.getAsString();
                if (name.equals("auto")) return null;
                try {
                    return DType.parse(name.startsWith("torch.") ? name.substring(6) : name);
                } catch (TorchException ex) {
                    throw new CheckpointException(source + ": field \"" + key + "\" names dtype \"" + name + "\", which adept does not support");
                }
            }
            return null;
        }

        private Architecture architecture() {
            List<String> names = null;
            JsonElement archs = json.get("architectures");
            if (archs != null && !archs.isJsonNull()) {
                if (!archs.isJsonArray()) fail("architectures", archs, "a list of class names");
                names = new ArrayList<>();
                for (JsonElement a : archs.getAsJsonArray()) {
                    if (!a.isJsonPrimitive() || !a.getAsJsonPrimitive().isString()) fail("architectures", archs, "a list of class names");
                    names.add(a.getAsString());
                }
            }
            String modelType = optString("model_type", null);
            try {
                return Architecture.fromNames(names, modelType);
            } catch (ModelException e) {
                throw new CheckpointException(source + ": field \"architectures\": " + e.getMessage(), e);
            }
        }

        /** A soft-capping field: absent, the family's default; null, none (0). */
        private double cap(String key, double familyDefault) {
            if (!json.has(key)) return familyDefault;
            return optDouble(key, 0);
        }

        /** Checks the per-layer lists' lengths; returns layer_types when the file has it, else null. */
        private List<LayerType> checkPerLayerLists(int layers, Family family) {
            for (String key : KNOWN_PER_LAYER) {
                JsonElement e = json.get(key);
                if (e == null || e.isJsonNull()) continue;
                if (!e.isJsonArray()) fail(key, e, "a list with one entry per layer");
                if (e.getAsJsonArray().size() != layers) {
                    throw new CheckpointException(source + ": field \"" + key + "\" has " + e.getAsJsonArray().size()
                            + " entries but num_hidden_layers is " + layers);
                }
            }
            JsonElement types = json.get("layer_types");
            if (types == null || !types.isJsonArray()) return null;
            List<LayerType> out = new ArrayList<>();
            for (JsonElement t : types.getAsJsonArray()) {
                LayerType type = t.isJsonPrimitive() ? LayerType.fromConfigName(t.getAsString()) : null;
                if (type == null || type == LayerType.SLIDING_ATTENTION && !family.slidingLayers()) {
                    throw new CheckpointException(source + ": field \"layer_types\" contains " + Json.describe(t) + "; adept supports "
                            + (family.slidingLayers() ? "\"full_attention\" and \"sliding_attention\"" : "only \"full_attention\"")
                            + " layers here");
                }
                out.add(type);
            }
            return out;
        }

        private RopeScaling ropeScaling(JsonObject s, String field) {
            if (s == null) return null;
            JsonElement typeElement = s.has("rope_type") ? s.get("rope_type") : s.get("type");
            String type = typeElement != null && typeElement.isJsonPrimitive() ? typeElement.getAsString() : null;
            if (type == null) {
                if (field.equals("rope_parameters")) return null;  // rope_theta only
                throw new CheckpointException(source + ": field \"" + field + ".rope_type\" is missing");
            }
            if (type.equals("default")) return null;
            if (!type.equals("llama3")) {
                throw new CheckpointException(source + ": field \"" + field + ".rope_type\" is \"" + type
                        + "\"; adept supports only \"llama3\" rope scaling");
            }
            try {
                return new RopeScaling(type, requiredDouble(s, "factor", field + ".factor"),
                        requiredDouble(s, "low_freq_factor", field + ".low_freq_factor"),
                        requiredDouble(s, "high_freq_factor", field + ".high_freq_factor"),
                        intOf(s.get("original_max_position_embeddings"), field + ".original_max_position_embeddings"));
            } catch (ModelException e) {
                throw new CheckpointException(source + ": field \"" + field + "\": " + e.getMessage(), e);
            }
        }

        private static boolean present(JsonObject o, String key) {
            JsonElement e = o.get(key);
            return e != null && !e.isJsonNull();
        }

        private int requiredInt(String key) {
            return intOf(json.get(key), key);
        }

        private int optInt(String key, int fallback) {
            return present(json, key) ? requiredInt(key) : fallback;
        }

        private int intOf(JsonElement e, String field) {
            if (e == null || e.isJsonNull()) throw new CheckpointException(source + ": required field \"" + field + "\" is missing");
            Long v = Json.exactLong(e);
            if (v == null || v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) fail(field, e, "an integer");
            return v.intValue();
        }

        private double requiredDouble(JsonObject o, String key, String field) {
            JsonElement e = o.get(key);
            if (e == null || e.isJsonNull()) throw new CheckpointException(source + ": required field \"" + field + "\" is missing");
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) fail(field, e, "a number");
            return e.getAsDouble();
        }

        private double optDouble(String key, double fallback) {
            return present(json, key) ? requiredDouble(json, key, key) : fallback;
        }

        private boolean optBoolean(String key, boolean fallback) {
            if (!present(json, key)) return fallback;
            JsonElement e = json.get(key);
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) fail(key, e, "true or false");
            return e.getAsBoolean();
        }

        private String optString(String key, String fallback) {
            if (!present(json, key)) return fallback;
            JsonElement e = json.get(key);
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) fail(key, e, "a string");
            return e.getAsString();
        }

        private JsonObject optObject(String key) {
            if (!present(json, key)) return null;
            JsonElement e = json.get(key);
            if (!e.isJsonObject()) fail(key, e, "an object");
            return e.getAsJsonObject();
        }

        private void fail(String field, JsonElement e, String expected) {
            throw new CheckpointException(source + ": field \"" + field + "\" is " + Json.describe(e) + ", expected " + expected);
        }
    }
}
