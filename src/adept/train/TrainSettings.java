package adept.train;

import com.google.gson.FieldNamingPolicy;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Every knob of a training run, with its default; the same names (snake_case) in `adept run` configs,
 * `adept train` options (kebab-case) and the run's run.json. Null means "derived" (see each field).
 * {@link #validate} rejects impossible values before any work. Every field carries its description ({@link Doc}),
 * from which {@link #reference} lists the keys (`adept run --keys`, README.md).
 */
public final class TrainSettings {
    /** A setting's one-line description, and its default in words where the field's initial value does not say it. */
    @java.lang.annotation.Retention(java.lang.annotation.RetentionPolicy.RUNTIME)
    @java.lang.annotation.Target(java.lang.annotation.ElementType.FIELD)
    public @interface Doc {
        /** The description. */
        String value();

        /** The default as text ("required", "5% of steps"); empty = the field's initial value. */
        String defaultText() default "";
    }

    /** One documented key: snake_case name, default (as text) and description. */
    public record KeyDoc(String key, String defaultValue, String description) {}

    // ---- what
    @Doc(value = "Model folder (Hugging Face layout); an unexpanded one is probed and expanded when the mode needs it.", defaultText = "required")
    public String model;
    @Doc(value = "Domain corpus: text or JSON Lines with a \"text\" field, gzip or not.", defaultText = "required")
    public String data;
    @Doc(value = "General-competence probe corpus (adept probe's formats); needed by the modes that probe or refresh importance.", defaultText = "none")
    public String probe;
    @Doc(value = "Held-out file for the loss curve during training (text or JSON Lines).", defaultText = "none (no held-out curve)")
    public String eval;
    @Doc(value = "Output folder.", defaultText = "required")
    public String out;
    @Doc(value = "adept, full, llama-pro, adept-no-stage1, adept-no-stage2 or lora.")
    public String mode = "adept";

    // ---- expansion (layer choice)
    @Doc(value = "Layers to copy (or tune, adept-no-stage1).", defaultText = "the largest K within expand_budget")
    public Integer k;
    @Doc(value = "Explicit layers to copy / tune instead of probing, e.g. [3, 7].", defaultText = "none (probe)")
    public List<Integer> layers;
    @Doc(value = "Trainable-parameter share that picks K when k is not given.")
    public double expandBudget = 0.15;

    // ---- data
    @Doc(value = "Optimizer steps.", defaultText = "required")
    public long steps;
    @Doc(value = "Tokens per packed training block.", defaultText = "min(512, max_position_embeddings)")
    public Integer blockSize;
    @Doc(value = "Blocks per micro-batch.")
    public int batchSize = 8;
    @Doc(value = "Micro-batches per optimizer step (gradient accumulation).")
    public int gradAccum = 1;
    @Doc(value = "Seed of the data order.")
    public long seed = 42;

    // ---- optimizer and schedule
    @Doc(value = "Peak base learning rate.")
    public double lr = 1e-4;
    @Doc(value = "Linear warmup steps.", defaultText = "5% of steps")
    public Long warmupSteps;
    @Doc(value = "Learning-rate schedule after warmup: cosine, linear or constant.")
    public String schedule = "cosine";
    @Doc(value = "Decoupled weight decay (not on norms and biases).")
    public double weightDecay = 0.1;
    @Doc(value = "AdamW beta1.")
    public double beta1 = 0.9;
    @Doc(value = "AdamW beta2.")
    public double beta2 = 0.999;
    @Doc(value = "AdamW epsilon.")
    public double eps = 1e-8;
    @Doc(value = "Clip the global gradient norm at this; 0 = no clipping.")
    public double maxGradNorm = 1.0;

    // ---- stage 2
    @Doc(value = "Stage-2 units: tensor (the paper's), head or neuron.")
    public String granularity = "tensor";
    @Doc(value = "How importance sets rates: continuous (the paper's), split or mask.")
    public String rateMode = "continuous";
    @Doc(value = "Rate normalisation: global (the paper's map over all units), per-kind (norm vectors and matrices each within their own range) "
            + "or mean (then rescaled to an element-weighted mean multiplier of 1: rates redistributed, never raised).")
    public String rateNorm = "global";
    @Doc(value = "Refresh unit importance every R optimizer steps.")
    public int refreshEvery = 500;
    @Doc(value = "split / mask: the importance quantile at or above which a unit is general-critical.")
    public double quantile = 0.5;
    @Doc(value = "split: rate of general-critical units.", defaultText = "lr / 10")
    public Double lrLow;
    @Doc(value = "split: rate of the other units.", defaultText = "lr")
    public Double lrHigh;
    @Doc(value = "Probe batches per refresh (and for layer probing); 0 = all.")
    public int probeBatches = 0;
    @Doc(value = "Items per probe batch.")
    public int probeBatchSize = 8;
    @Doc(value = "Layer probing: most memory one batch's cached layer inputs may take (4GiB, 512MiB); over it, inputs are recomputed from checkpoints (same result).")
    public String probeCacheMemory = "4GiB";
    @Doc(value = "Activation checkpointing: backward recomputes the layers from the first trainable one up, N a segment (less memory, ~1 more forward); 0 = off.")
    public int gradCheckpointing = 0;

    // ---- lora
    @Doc(value = "lora: adapter rank r.", defaultText = "from lora_match")
    public Integer loraRank;
    @Doc(value = "lora: without lora_rank, the rank whose adapters' parameter count is closest to adept (what mode adept trains on "
            + "this model: K layer copies, K from k / layers / expand_budget) or to a given count, e.g. 1500000.", defaultText = "adept")
    public String loraMatch;
    @Doc(value = "lora: the adapters add (lora_alpha / r) B A x.", defaultText = "2 * rank")
    public Double loraAlpha;
    @Doc(value = "lora: dropout on the adapters' input while training.")
    public double loraDropout = 0;
    @Doc(value = "lora: projections adapted in every layer, of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.", defaultText = "all seven")
    public List<String> loraTargets = List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    // ---- evaluation, checkpoints, logging
    @Doc(value = "Held-out loss every N steps; 0 = only at the end.", defaultText = "steps / 20; runs under 100 steps: only at the end")
    public Long evalEvery;
    @Doc(value = "Held-out tokens to evaluate on; 0 = the whole file.")
    public long evalTokens = 0;
    @Doc(value = "Checkpoint every N steps (and always at the last step, which marks the run complete).", defaultText = "steps / 10; runs under 100 steps: only at the end")
    public Long saveEvery;
    @Doc(value = "Checkpoints kept (the newest).")
    public int keepCheckpoints = 2;
    @Doc(value = "Read loss and gradient norm back every N steps (and at checkpoints, the end): a metrics line of their means; "
            + "the steps between make no host round trip.")
    public int logEvery = 1;
    @Doc(value = "Write TensorBoard event files into the run folder (tensorboard --logdir OUT): the metrics as scalars, rates and importances at refreshes, the settings.")
    public boolean tensorboard = true;
    @Doc(value = "Compute dtype: float32, bfloat16 (fp32 master weights and moments) or float64.")
    public String dtype = "float32";
    @Doc(value = "cpu, cuda or cuda:N.")
    public String device = "cpu";

    // ---- data parallel
    @Doc(value = "Data parallel: all-reduce the gradient buckets while backward runs (gradient hooks, as PyTorch DDP); false = after backward.")
    public boolean overlapGradReduce = true;

    /** Runs shorter than this many steps default to no intermediate checkpoints or evaluations (a short library run). */
    public static final long SHORT_RUN = 100;

    /** Settings that may differ between a run and its resumption (where outputs go, how it reports, how much memory it may use, when the gradient is all-reduced). */
    static final Set<String> RESUMABLE_DIFFERENCES = Set.of("out", "device", "keep_checkpoints", "eval_every", "save_every", "log_every",
            "probe_cache_memory", "grad_checkpointing", "overlap_grad_reduce", "tensorboard");

    static final Gson GSON = new GsonBuilder().setFieldNamingPolicy(FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES).serializeNulls()
            .disableHtmlEscaping().setPrettyPrinting().serializeSpecialFloatingPointValues().create();  // NaN copies, then validate names it

    /** mode, parsed. */
    public TrainMode trainMode() {
        return TrainMode.parse(mode);
    }

    /** Warmup steps: warmup_steps, or 5% of steps. */
    public long warmup() {
        return warmupSteps != null ? warmupSteps : Math.round(0.05 * steps);
    }

    /** Steps between held-out evaluations: eval_every, or steps / 20 (0 = only at the end below {@link #SHORT_RUN} steps). */
    public long evalInterval() {
        return evalEvery != null ? evalEvery : steps >= SHORT_RUN ? steps / 20 : 0;
    }

    /** Steps between checkpoints: save_every, or steps / 10 (only the last step's below {@link #SHORT_RUN} steps). */
    public long saveInterval() {
        return saveEvery != null ? saveEvery : steps >= SHORT_RUN ? steps / 10 : steps;
    }

    /** split's rate of general-critical units: lr_low, or lr / 10. */
    public double lowRate() {
        return lrLow != null ? lrLow : lr / 10;
    }

    /** split's rate of the other units: lr_high, or lr. */
    public double highRate() {
        return lrHigh != null ? lrHigh : lr;
    }

    /** lora_alpha, or 2 * rank (Biderman et al. 2024's choice: the scale alpha / r stays 2 whatever the rank). */
    public double loraAlpha(int rank) {
        return loraAlpha != null ? loraAlpha : 2.0 * rank;
    }

    /** lora_match as a parameter count; null for adept (also when neither lora_rank nor lora_match is given). */
    public Long loraMatchCount() {
        if (loraMatch == null || loraMatch.strip().equalsIgnoreCase("adept")) return null;
        double v;
        try {
            v = Double.parseDouble(loraMatch.strip().replace("_", "").replace(",", ""));
        } catch (NumberFormatException e) {
            throw new TrainException("lora_match must be adept or a parameter count, got \"" + loraMatch + "\"");
        }
        if (!(v >= 1) || v > 1e15) throw new TrainException("lora_match must be adept or a parameter count >= 1, got " + loraMatch);
        return Math.round(v);
    }

    /** probe_cache_memory in bytes. */
    public long probeCacheBytes() {
        return adept.probe.MemorySize.parse(probeCacheMemory);
    }

    /** Checks what can be checked without reading any file; the message names the setting. */
    public void validate() {
        requireFinite();
        require(model != null, "model: a model folder is required");
        require(data != null, "data: a training corpus is required");
        require(out != null, "out: an output folder is required");
        TrainMode m;
        try {
            m = trainMode();
            adept.tune.Granularity.parse(granularity);
            adept.tune.RateMode.parse(rateMode);
            adept.tune.RateNorm.parse(rateNorm);
            adept.optim.LrSchedule.parseKind(schedule);
            adept.tensor.DType d = adept.tensor.DType.parse(dtype);
            // float16 would need loss scaling (its gradients underflow); integer types cannot train
            if (d != adept.tensor.DType.FLOAT32 && d != adept.tensor.DType.BFLOAT16 && d != adept.tensor.DType.FLOAT64) {
                throw new TrainException("dtype " + dtype + " cannot train here: use float32, bfloat16 (fp32 master weights) or float64");
            }
            adept.tensor.Device.parse(device);
        } catch (RuntimeException e) {
            throw new TrainException(e.getMessage());
        }
        require(steps > 0, "steps must be > 0, got " + steps);
        require(k == null || k > 0, "k must be > 0, got " + k);
        require(k == null || layers == null, "give k or layers, not both");
        require(expandBudget > 0 && expandBudget < 1, "expand_budget must be in (0, 1), got " + expandBudget);
        require(blockSize == null || blockSize >= 2, "block_size must be >= 2, got " + blockSize);
        require(batchSize > 0, "batch_size must be > 0, got " + batchSize);
        require(gradAccum > 0, "grad_accum must be > 0, got " + gradAccum);
        require(lr > 0 && Double.isFinite(lr), "lr must be > 0, got " + lr);
        require(warmupSteps == null || warmupSteps >= 0, "warmup_steps must be >= 0, got " + warmupSteps);
        require(weightDecay >= 0, "weight_decay must be >= 0, got " + weightDecay);
        require(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1), got " + beta1);
        require(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1), got " + beta2);
        require(eps > 0, "eps must be > 0, got " + eps);
        require(maxGradNorm >= 0, "max_grad_norm must be >= 0 (0 = no clipping), got " + maxGradNorm);
        require(refreshEvery > 0, "refresh_every (R) must be > 0, got " + refreshEvery);
        require(quantile > 0 && quantile < 1, "quantile must be in (0, 1), got " + quantile);
        require(lrLow == null || (lrLow > 0 && Double.isFinite(lrLow)), "lr_low must be > 0, got " + lrLow);
        require(lrHigh == null || (lrHigh > 0 && Double.isFinite(lrHigh)), "lr_high must be > 0, got " + lrHigh);
        require(probeBatches >= 0, "probe_batches must be >= 0 (0 = all), got " + probeBatches);
        require(probeBatchSize > 0, "probe_batch_size must be > 0, got " + probeBatchSize);
        try {
            probeCacheBytes();
        } catch (IllegalArgumentException e) {
            throw new TrainException("probe_cache_memory: " + e.getMessage());
        }
        require(gradCheckpointing >= 0, "grad_checkpointing must be >= 0 (0 = off, N = segments of N layers), got " + gradCheckpointing);
        require(evalEvery == null || evalEvery >= 0, "eval_every must be >= 0, got " + evalEvery);
        require(evalTokens >= 0, "eval_tokens must be >= 0, got " + evalTokens);
        require(saveEvery == null || saveEvery > 0, "save_every must be > 0, got " + saveEvery);
        require(keepCheckpoints > 0, "keep_checkpoints must be > 0, got " + keepCheckpoints);
        require(logEvery > 0, "log_every must be > 0, got " + logEvery);
        require(loraRank == null || loraRank > 0, "lora_rank must be > 0, got " + loraRank);
        require(loraRank == null || loraMatch == null, "give lora_rank or lora_match, not both");
        loraMatchCount();
        require(loraAlpha == null || (loraAlpha > 0 && Double.isFinite(loraAlpha)), "lora_alpha must be > 0, got " + loraAlpha);
        require(loraDropout >= 0 && loraDropout < 1, "lora_dropout must be in [0, 1), got " + loraDropout);
        require(loraTargets != null && !loraTargets.isEmpty(), "lora_targets: give at least one projection (" + String.join(", ", adept.tune.LoraAdapters.TARGETS) + ")");
        for (String t : loraTargets) {
            require(t != null && adept.tune.LoraAdapters.TARGETS.contains(t), "lora_targets: unknown projection \"" + t + "\" ("
                    + String.join(", ", adept.tune.LoraAdapters.TARGETS) + ")");
        }
        require(loraTargets.stream().distinct().count() == loraTargets.size(), "lora_targets: " + loraTargets + " lists a projection twice");
        // activation checkpointing recomputes the forward: a dropout mask drawn twice would differ
        require(m != TrainMode.LORA || loraDropout == 0 || gradCheckpointing == 0, "lora_dropout > 0 does not combine with grad_checkpointing (the recomputed forward would draw other masks)");
        if (m.adaptive()) require(probe != null, "mode " + m.label() + " refreshes unit importance on a probe corpus: give probe (--probe)");
    }

    /** NaN or infinity in any numeric setting (a typo, a YAML .nan) is refused by name before any comparison could let it through. */
    private void requireFinite() {
        for (Field f : TrainSettings.class.getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers()) || (f.getType() != double.class && f.getType() != Double.class)) continue;
            try {
                Object v = f.get(this);
                if (v != null && !Double.isFinite((Double) v)) {
                    throw new TrainException(FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES.translateName(f) + " must be a finite number, got " + v);
                }
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new TrainException(message);
    }

    /** The settings as run.json's text. */
    public String toJson() {
        return GSON.toJson(this) + "\n";
    }

    /** The settings as a JSON object. */
    public JsonObject toJsonObject() {
        return GSON.toJsonTree(this).getAsJsonObject();
    }

    /** Settings from a JSON object; unknown keys are an error naming them and where they came from. */
    public static TrainSettings fromJson(JsonObject object, String where) {
        Set<String> known = keys();
        List<String> unknown = new ArrayList<>();
        for (String key : object.keySet()) if (!known.contains(key)) unknown.add(key);
        if (!unknown.isEmpty()) {
            throw new TrainException(where + ": unknown key" + (unknown.size() > 1 ? "s " : " ") + String.join(", ", unknown)
                    + " (known: " + String.join(", ", known) + ")");
        }
        try {
            TrainSettings s = GSON.fromJson(object, TrainSettings.class);
            return s;
        } catch (JsonParseException | NumberFormatException | IllegalStateException e) {
            throw new TrainException(where + ": a value has the wrong type: " + rootMessage(e));
        }
    }

    private static String rootMessage(Throwable e) {
        while (e.getCause() != null) e = e.getCause();
        return e.getMessage();
    }

    /** Every key with its default and description, in declaration order. */
    public static List<KeyDoc> reference() {
        JsonObject defaults = new TrainSettings().toJsonObject();
        List<KeyDoc> out = new ArrayList<>();
        for (Field f : TrainSettings.class.getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers())) continue;
            String key = FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES.translateName(f);
            Doc doc = f.getAnnotation(Doc.class);
            if (doc == null) throw new IllegalStateException("TrainSettings." + f.getName() + " has no @Doc");
            String value = doc.defaultText().isEmpty() ? formatDefault(defaults.get(key)) : doc.defaultText();
            out.add(new KeyDoc(key, value, doc.value()));
        }
        return out;
    }

    /** A default as a config file would spell it: 1e-4 rather than 1.0E-4. */
    static String formatDefault(JsonElement value) {
        if (value == null || value.isJsonNull()) return "none";
        if (value.isJsonPrimitive() && value.getAsJsonPrimitive().isNumber()) {
            double d = value.getAsDouble();
            if (d == Math.rint(d) && Math.abs(d) < 1e15) return Long.toString((long) d);
            return Double.toString(d).replace("E", "e").replace(".0e", "e");
        }
        return value.isJsonPrimitive() ? value.getAsString() : value.toString();
    }

    /** Every key, snake_case, in declaration order. */
    public static Set<String> keys() {
        Set<String> out = new LinkedHashSet<>();
        for (Field f : TrainSettings.class.getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers())) continue;
            out.add(FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES.translateName(f));
        }
        return out;
    }

    /** The keys whose values differ between two runs' settings, ignoring what a resumed run may change. */
    public List<String> differences(TrainSettings other) {
        JsonObject a = toJsonObject();
        JsonObject b = other.toJsonObject();
        List<String> out = new ArrayList<>();
        for (String key : keys()) {
            if (RESUMABLE_DIFFERENCES.contains(key)) continue;
            JsonElement x = a.get(key);
            JsonElement y = b.get(key);
            if (!java.util.Objects.equals(x, y)) out.add(key);
        }
        return out;
    }

    /** An independent copy. */
    public TrainSettings copy() {
        return GSON.fromJson(GSON.toJson(this), TrainSettings.class);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s on %s, %d steps", mode, data, steps);
    }
}
