package adept.train;

import adept.optim.LrSchedule;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tune.Granularity;
import adept.tune.RateMode;
import adept.tune.RateNorm;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * Every knob of a training run, immutable and typed, in groups. Each group component is one key, declared once: its
 * name is the key (snake_case in `adept run` configs and run.json, --kebab-case as an `adept train` option), its type
 * parses the value, and its {@link Doc} gives the description and the default. {@link Setting#all} reads these
 * declarations; the builder, the CLI options, the config keys, `adept run --keys`, docs/configuration.md and run.json
 * all come from there. A null component is a derived value: the {@link Doc#derived} text and the method named there
 * (e.g. {@link #warmup}) say how it is derived. Every instance is valid ({@link #validate} runs in the constructor).
 *
 * <pre>
 * TrainSettings s = TrainSettings.builder().model(base).data(corpus).out(out).steps(200).lr(3e-4).build();
 * </pre>
 */
public record TrainSettings(Inputs inputs, Preparation preparation, Optimizer optimizer, Stage2 stage2, Lora lora, Output output,
                            Parallel parallel, Hardware hardware) {
    /** A setting's description and default: the one place both are written. */
    @Documented
    @Retention(RetentionPolicy.RUNTIME)
    @Target(ElementType.RECORD_COMPONENT)
    public @interface Doc {
        /** {@link #defaultValue} of a setting that must be given. */
        String REQUIRED = "required";

        /** The description. */
        String value();

        /** The default as a value would be written on the command line ("1e-4", "cosine"); empty = null (derived or none). */
        String defaultValue() default "";

        /** How a null value is derived, in words ("5% of steps"); empty = none. */
        String derived() default "";
    }

    /** A group whose keys all start with a prefix (lora_rank is the Lora group's rank). */
    @Retention(RetentionPolicy.RUNTIME)
    @Target(ElementType.TYPE)
    public @interface KeyPrefix {
        /** The prefix, e.g. "lora_". */
        String value();
    }

    /** One documented key: snake_case name, default (as text) and description. */
    public record KeyDoc(String key, String defaultValue, String description) {}

    /** What the run reads, and how the corpus becomes batches. */
    public record Inputs(
            @Doc(value = "Model folder (Hugging Face layout); an unexpanded one is probed and expanded when the mode needs it.", defaultValue = Doc.REQUIRED)
            Path model,
            @Doc(value = "Domain corpus: text or JSON Lines with a \"text\" field, gzip or not.", defaultValue = Doc.REQUIRED)
            Path data,
            @Doc(value = "General-competence probe corpus (adept probe's formats); needed by the modes that probe or refresh importance.")
            Path probe,
            @Doc(value = "Held-out file for the loss curve during training (text or JSON Lines).", derived = "none (no held-out curve)")
            Path eval,
            @Doc(value = "Tokens per packed training block.", derived = "min(512, max_position_embeddings)")
            Integer blockSize,
            @Doc(value = "Blocks per micro-batch.", defaultValue = "8")
            int batchSize,
            @Doc(value = "Micro-batches per optimizer step (gradient accumulation).", defaultValue = "1")
            int gradAccum,
            @Doc(value = "Seed of the data order.", defaultValue = "42")
            long seed) {}

    /** Which model trains: the mode and stage 1's layer choice. */
    public record Preparation(
            @Doc(value = "adept, full, llama-pro, adept-no-stage1, adept-no-stage2 or lora.", defaultValue = "adept")
            TrainMode mode,
            @Doc(value = "Layers to copy (or tune, adept-no-stage1).", derived = "the largest K within expand_budget")
            Integer k,
            @Doc(value = "Explicit layers to copy / tune instead of probing, e.g. [3, 7].", derived = "none (probe)")
            List<Integer> layers,
            @Doc(value = "Trainable-parameter share that picks K when k is not given.", defaultValue = "0.15")
            double expandBudget,
            @Doc(value = "Layer probing: most memory one batch's cached layer inputs may take (4GiB, 512MiB); over it, inputs are recomputed from checkpoints (same result).",
                    defaultValue = "4GiB")
            String probeCacheMemory) {
        public Preparation {
            layers = copy(layers);
        }
    }

    /** AdamW and the learning-rate schedule. */
    public record Optimizer(
            @Doc(value = "Optimizer steps.", defaultValue = Doc.REQUIRED)
            long steps,
            @Doc(value = "Peak base learning rate.", defaultValue = "1e-4")
            double lr,
            @Doc(value = "Linear warmup steps.", derived = "5% of steps")
            Long warmupSteps,
            @Doc(value = "Learning-rate schedule after warmup: cosine, linear or constant.", defaultValue = "cosine")
            LrSchedule.Kind schedule,
            @Doc(value = "Decoupled weight decay (not on norms and biases).", defaultValue = "0.1")
            double weightDecay,
            @Doc(value = "AdamW beta1.", defaultValue = "0.9")
            double beta1,
            @Doc(value = "AdamW beta2.", defaultValue = "0.999")
            double beta2,
            @Doc(value = "AdamW epsilon.", defaultValue = "1e-8")
            double eps,
            @Doc(value = "Clip the global gradient norm at this; 0 = no clipping.", defaultValue = "1")
            double maxGradNorm) {}

    /** Stage 2: units, their importance and the rates it sets. */
    public record Stage2(
            @Doc(value = "Stage-2 units: tensor (the paper's), head or neuron.", defaultValue = "tensor")
            Granularity granularity,
            @Doc(value = "How importance sets rates: continuous (the paper's), split or mask.", defaultValue = "continuous")
            RateMode rateMode,
            @Doc(value = "Rate normalisation: global (the paper's map over all units), per-kind (norm vectors and matrices each within their own range) "
                    + "or mean (then rescaled to an element-weighted mean multiplier of 1: rates redistributed, never raised).", defaultValue = "global")
            RateNorm rateNorm,
            @Doc(value = "Refresh unit importance every R optimizer steps.", defaultValue = "500")
            int refreshEvery,
            @Doc(value = "split / mask: the importance quantile at or above which a unit is general-critical.", defaultValue = "0.5")
            double quantile,
            @Doc(value = "split: rate of general-critical units.", derived = "lr / 10")
            Double lrLow,
            @Doc(value = "split: rate of the other units.", derived = "lr")
            Double lrHigh,
            @Doc(value = "Probe batches per refresh (and for layer probing); 0 = all.", defaultValue = "0")
            int probeBatches,
            @Doc(value = "Items per probe batch.", defaultValue = "8")
            int probeBatchSize) {}

    /** The lora mode's adapters (keys lora_rank, lora_match, ...). */
    @KeyPrefix("lora_")
    public record Lora(
            @Doc(value = "lora: adapter rank r.", derived = "from lora_match")
            Integer rank,
            @Doc(value = "lora: without lora_rank, the rank whose adapters' parameter count is closest to adept (what mode adept trains on "
                    + "this model: K layer copies, K from k / layers / expand_budget) or to a given count, e.g. 1500000.", derived = "adept")
            String match,
            @Doc(value = "lora: the adapters add (lora_alpha / r) B A x.", derived = "2 * rank")
            Double alpha,
            @Doc(value = "lora: dropout on the adapters' input while training.", defaultValue = "0")
            double dropout,
            @Doc(value = "lora: projections adapted in every layer, of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.",
                    defaultValue = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
            List<String> targets) {
        public Lora {
            targets = copy(targets);
        }

        /** lora_alpha, or 2 * rank (Biderman et al. 2024's choice: the scale alpha / r stays 2 whatever the rank). */
        public double alpha(int rank) {
            return alpha != null ? alpha : 2.0 * rank;
        }
    }

    /** Where the run writes, and how often it evaluates, checkpoints and reports. */
    public record Output(
            @Doc(value = "Output folder.", defaultValue = Doc.REQUIRED)
            Path out,
            @Doc(value = "Held-out loss every N steps; 0 = only at the end.", derived = "steps / 20; runs under 100 steps: only at the end")
            Long evalEvery,
            @Doc(value = "Held-out tokens to evaluate on; 0 = the whole file.", defaultValue = "0")
            long evalTokens,
            @Doc(value = "Checkpoint every N steps (and always at the last step, which marks the run complete).", derived = "steps / 10; runs under 100 steps: only at the end")
            Long saveEvery,
            @Doc(value = "Checkpoints kept (the newest).", defaultValue = "2")
            int keepCheckpoints,
            @Doc(value = "Read loss and gradient norm back every N steps (and at checkpoints, the end): a metrics line of their means; "
                    + "the steps between make no host round trip.", defaultValue = "1")
            int logEvery,
            @Doc(value = "Write TensorBoard event files into the run folder (tensorboard --logdir OUT): the metrics as scalars, rates and importances at refreshes, the settings.",
                    defaultValue = "true")
            boolean tensorboard) {}

    /** Data parallelism. */
    public record Parallel(
            @Doc(value = "Data parallel: all-reduce the gradient buckets while backward runs (gradient hooks, as PyTorch DDP); false = after backward.", defaultValue = "true")
            boolean overlapGradReduce) {}

    /** Where and in what precision the run computes. */
    public record Hardware(
            @Doc(value = "Compute dtype: float32, bfloat16 (fp32 master weights and moments) or float64.", defaultValue = "float32")
            DType dtype,
            @Doc(value = "cpu, cuda or cuda:N.", defaultValue = "cpu")
            Device device,
            @Doc(value = "Activation checkpointing: backward recomputes the layers from the first trainable one up, N a segment (less memory, ~1 more forward); 0 = off.",
                    defaultValue = "0")
            int gradCheckpointing) {}

    /** Runs shorter than this many steps default to no intermediate checkpoints or evaluations (a short library run). */
    public static final long SHORT_RUN = 100;

    /** Settings that may differ between a run and its resumption (where outputs go, how it reports, how much memory it may use, when the gradient is all-reduced). */
    static final Set<String> RESUMABLE_DIFFERENCES = Set.of("out", "device", "keep_checkpoints", "eval_every", "save_every", "log_every",
            "probe_cache_memory", "grad_checkpointing", "overlap_grad_reduce", "tensorboard");

    public static final Gson GSON = new GsonBuilder().serializeNulls().disableHtmlEscaping().setPrettyPrinting()
            .serializeSpecialFloatingPointValues().create();

    public TrainSettings {
        Objects.requireNonNull(inputs, "inputs");
        Objects.requireNonNull(preparation, "preparation");
        Objects.requireNonNull(optimizer, "optimizer");
        Objects.requireNonNull(stage2, "stage2");
        Objects.requireNonNull(lora, "lora");
        Objects.requireNonNull(output, "output");
        Objects.requireNonNull(parallel, "parallel");
        Objects.requireNonNull(hardware, "hardware");
        SettingsCheck.validate(inputs, preparation, optimizer, stage2, lora, output, hardware);
    }

    /** A builder holding every default; {@link TrainSettingsBuilder#build} checks the values. */
    public static TrainSettingsBuilder builder() {
        return new TrainSettingsBuilder();
    }

    /** A builder holding these settings. */
    public TrainSettingsBuilder toBuilder() {
        TrainSettingsBuilder b = new TrainSettingsBuilder();
        for (Setting k : Setting.all()) b.set(k.key(), k.valueIn(this));
        return b;
    }

    /** Checks again what the constructor checked (kept for callers that validate before forking work). */
    public void validate() {
        SettingsCheck.validate(inputs, preparation, optimizer, stage2, lora, output, hardware);
    }

    /** Warmup steps: warmup_steps, or 5% of steps. */
    public long warmup() {
        return optimizer.warmupSteps() != null ? optimizer.warmupSteps() : Math.round(0.05 * optimizer.steps());
    }

    /** Steps between held-out evaluations: eval_every, or steps / 20 (0 = only at the end below {@link #SHORT_RUN} steps). */
    public long evalInterval() {
        long steps = optimizer.steps();
        return output.evalEvery() != null ? output.evalEvery() : steps >= SHORT_RUN ? steps / 20 : 0;
    }

    /** Steps between checkpoints: save_every, or steps / 10 (only the last step's below {@link #SHORT_RUN} steps). */
    public long saveInterval() {
        long steps = optimizer.steps();
        return output.saveEvery() != null ? output.saveEvery() : steps >= SHORT_RUN ? steps / 10 : steps;
    }

    /** split's rate of general-critical units: lr_low, or lr / 10. */
    public double lowRate() {
        return stage2.lrLow() != null ? stage2.lrLow() : optimizer.lr() / 10;
    }

    /** split's rate of the other units: lr_high, or lr. */
    public double highRate() {
        return stage2.lrHigh() != null ? stage2.lrHigh() : optimizer.lr();
    }

    /** lora_alpha, or 2 * rank. */
    public double loraAlpha(int rank) {
        return lora.alpha(rank);
    }

    /** lora_match as a parameter count; null for adept (also when neither lora_rank nor lora_match is given). */
    public Long loraMatchCount() {
        return SettingsCheck.loraMatchCount(lora.match());
    }

    /** probe_cache_memory in bytes. */
    public long probeCacheBytes() {
        return adept.probe.MemorySize.parse(preparation.probeCacheMemory());
    }

    /** The settings as run.json's text. */
    public String toJson() {
        return GSON.toJson(toJsonObject()) + "\n";
    }

    /** The settings as a JSON object: every key, in declaration order. */
    public JsonObject toJsonObject() {
        JsonObject o = new JsonObject();
        for (Setting k : Setting.all()) o.add(k.key(), k.toJson(k.valueIn(this)));
        return o;
    }

    /** Settings from a JSON object (run.json, trainer_state.json); an unknown key or a bad value is an error naming it and where it came from. */
    public static TrainSettings fromJson(JsonObject object, String where) {
        TrainSettingsBuilder b = builder();
        for (var e : object.entrySet()) {
            Setting k = Setting.find(e.getKey()).orElseThrow(() -> new TrainException(where + ": unknown key " + e.getKey()
                    + " (known: " + String.join(", ", keys()) + ")"));
            try {
                b.set(k.key(), k.fromJson(e.getValue()));
            } catch (IllegalArgumentException ex) {
                throw new TrainException(where + ": " + k.key() + ": " + ex.getMessage());
            }
        }
        try {
            return b.build();
        } catch (TrainException ex) {
            throw new TrainException(where + ": " + ex.getMessage());
        }
    }

    /** Every key with its default and description, in declaration order. */
    public static List<KeyDoc> reference() {
        List<KeyDoc> out = new ArrayList<>();
        for (Setting k : Setting.all()) out.add(new KeyDoc(k.key(), k.defaultText(), k.doc().value()));
        return out;
    }

    /** Every key, snake_case, in declaration order. */
    public static Set<String> keys() {
        Set<String> out = new LinkedHashSet<>();
        for (Setting k : Setting.all()) out.add(k.key());
        return out;
    }

    /** The keys whose values differ between two runs' settings, ignoring what a resumed run may change. */
    public List<String> differences(TrainSettings other) {
        List<String> out = new ArrayList<>();
        for (Setting k : Setting.all()) {
            if (RESUMABLE_DIFFERENCES.contains(k.key())) continue;
            if (!Objects.equals(k.valueIn(this), k.valueIn(other))) out.add(k.key());
        }
        return out;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s on %s, %d steps", preparation.mode().label(), inputs.data(), optimizer.steps());
    }

    /** An unmodifiable copy that, unlike List.copyOf, keeps a null element for validation to name. */
    static <T> List<T> copy(List<T> list) {
        return list == null ? null : Collections.unmodifiableList(new ArrayList<>(list));
    }
}
