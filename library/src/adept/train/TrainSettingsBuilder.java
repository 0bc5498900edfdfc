package adept.train;

import adept.optim.LrSchedule;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tune.Granularity;
import adept.tune.RateMode;
import adept.tune.RateNorm;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds {@link TrainSettings}: starts from every key's default; one typed setter per key (named after it, camelCase:
 * lora_rank is {@link #loraRank}; what each means is in {@link TrainSettings}' group records and `adept run --keys`),
 * or {@link #set} by key. Null on a derived key (warmup_steps, save_every, ...) restores its derivation.
 * {@link #build} checks the values and throws a {@link TrainException} naming the key.
 */
public final class TrainSettingsBuilder {
    private final Map<String, Object> values = new HashMap<>();

    TrainSettingsBuilder() {
        for (Setting k : Setting.all()) values.put(k.key(), k.defaultValue());
    }

    /** Sets a key by name; the value must have the key's type (a List for a list). */
    public TrainSettingsBuilder set(String key, Object value) {
        Setting k = Setting.of(key);
        if (value == null && !k.nullable()) throw new TrainException(key + ": needs a value, got null");
        if (value != null && !boxed(k.type()).isInstance(value)) {
            throw new TrainException(key + ": expected " + k.type().getSimpleName() + ", got " + value.getClass().getSimpleName() + " " + value);
        }
        values.put(key, value instanceof List<?> l ? TrainSettings.copy(l) : value);
        return this;
    }

    /** The value a key has now (its default until set). */
    public Object get(String key) {
        return values.get(Setting.of(key).key());
    }

    /** The settings; the values are checked (one line naming the key). */
    public TrainSettings build() {
        RecordComponent[] groups = TrainSettings.class.getRecordComponents();
        Object[] args = new Object[groups.length];
        Class<?>[] types = new Class<?>[groups.length];
        for (int i = 0; i < groups.length; i++) {
            types[i] = groups[i].getType();
            args[i] = construct(types[i]);
        }
        return instantiate(TrainSettings.class, types, args);
    }

    private Object construct(Class<?> group) {
        RecordComponent[] parts = group.getRecordComponents();
        Object[] args = new Object[parts.length];
        Class<?>[] types = new Class<?>[parts.length];
        for (Setting k : Setting.all()) {
            if (k.group() != group) continue;
            for (int i = 0; i < parts.length; i++) {
                if (!parts[i].getName().equals(k.component().getName())) continue;
                types[i] = parts[i].getType();
                args[i] = values.get(k.key());
            }
        }
        return instantiate(group, types, args);
    }

    private static <T> T instantiate(Class<T> type, Class<?>[] types, Object[] args) {
        try {
            return type.getDeclaredConstructor(types).newInstance(args);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot construct " + type.getName(), e);
        }
    }

    private static Class<?> boxed(Class<?> type) {
        if (type == int.class) return Integer.class;
        if (type == long.class) return Long.class;
        if (type == double.class) return Double.class;
        if (type == boolean.class) return Boolean.class;
        return type;
    }

    // ---- one typed setter per key, in declaration order

    /** Sets {@code model}: {@link TrainSettings.Inputs#model()}. */
    public TrainSettingsBuilder model(Path value) {
        return set("model", value);
    }

    /** Sets {@code data}: {@link TrainSettings.Inputs#data()}. */
    public TrainSettingsBuilder data(Path value) {
        return set("data", value);
    }

    /** Sets {@code probe}: {@link TrainSettings.Inputs#probe()}. */
    public TrainSettingsBuilder probe(Path value) {
        return set("probe", value);
    }

    /** Sets {@code eval}: {@link TrainSettings.Inputs#eval()}. */
    public TrainSettingsBuilder eval(Path value) {
        return set("eval", value);
    }

    /** Sets {@code block_size}: {@link TrainSettings.Inputs#blockSize()}. */
    public TrainSettingsBuilder blockSize(Integer value) {
        return set("block_size", value);
    }

    /** Sets {@code batch_size}: {@link TrainSettings.Inputs#batchSize()}. */
    public TrainSettingsBuilder batchSize(int value) {
        return set("batch_size", value);
    }

    /** Sets {@code grad_accum}: {@link TrainSettings.Inputs#gradAccum()}. */
    public TrainSettingsBuilder gradAccum(int value) {
        return set("grad_accum", value);
    }

    /** Sets {@code seed}: {@link TrainSettings.Inputs#seed()}. */
    public TrainSettingsBuilder seed(long value) {
        return set("seed", value);
    }

    /** Sets {@code mode}: {@link TrainSettings.Preparation#mode()}. */
    public TrainSettingsBuilder mode(TrainMode value) {
        return set("mode", value);
    }

    /** Sets {@code k}: {@link TrainSettings.Preparation#k()}. */
    public TrainSettingsBuilder k(Integer value) {
        return set("k", value);
    }

    /** Sets {@code layers}: {@link TrainSettings.Preparation#layers()}. */
    public TrainSettingsBuilder layers(List<Integer> value) {
        return set("layers", value);
    }

    /** Sets {@code expand_budget}: {@link TrainSettings.Preparation#expandBudget()}. */
    public TrainSettingsBuilder expandBudget(double value) {
        return set("expand_budget", value);
    }

    /** Sets {@code probe_cache_memory}: {@link TrainSettings.Preparation#probeCacheMemory()}. */
    public TrainSettingsBuilder probeCacheMemory(String value) {
        return set("probe_cache_memory", value);
    }

    /** Sets {@code steps}: {@link TrainSettings.Optimizer#steps()}. */
    public TrainSettingsBuilder steps(long value) {
        return set("steps", value);
    }

    /** Sets {@code lr}: {@link TrainSettings.Optimizer#lr()}. */
    public TrainSettingsBuilder lr(double value) {
        return set("lr", value);
    }

    /** Sets {@code warmup_steps}: {@link TrainSettings.Optimizer#warmupSteps()}. */
    public TrainSettingsBuilder warmupSteps(Long value) {
        return set("warmup_steps", value);
    }

    /** Sets {@code schedule}: {@link TrainSettings.Optimizer#schedule()}. */
    public TrainSettingsBuilder schedule(LrSchedule.Kind value) {
        return set("schedule", value);
    }

    /** Sets {@code weight_decay}: {@link TrainSettings.Optimizer#weightDecay()}. */
    public TrainSettingsBuilder weightDecay(double value) {
        return set("weight_decay", value);
    }

    /** Sets {@code beta1}: {@link TrainSettings.Optimizer#beta1()}. */
    public TrainSettingsBuilder beta1(double value) {
        return set("beta1", value);
    }

    /** Sets {@code beta2}: {@link TrainSettings.Optimizer#beta2()}. */
    public TrainSettingsBuilder beta2(double value) {
        return set("beta2", value);
    }

    /** Sets {@code eps}: {@link TrainSettings.Optimizer#eps()}. */
    public TrainSettingsBuilder eps(double value) {
        return set("eps", value);
    }

    /** Sets {@code max_grad_norm}: {@link TrainSettings.Optimizer#maxGradNorm()}. */
    public TrainSettingsBuilder maxGradNorm(double value) {
        return set("max_grad_norm", value);
    }

    /** Sets {@code granularity}: {@link TrainSettings.Stage2#granularity()}. */
    public TrainSettingsBuilder granularity(Granularity value) {
        return set("granularity", value);
    }

    /** Sets {@code rate_mode}: {@link TrainSettings.Stage2#rateMode()}. */
    public TrainSettingsBuilder rateMode(RateMode value) {
        return set("rate_mode", value);
    }

    /** Sets {@code rate_norm}: {@link TrainSettings.Stage2#rateNorm()}. */
    public TrainSettingsBuilder rateNorm(RateNorm value) {
        return set("rate_norm", value);
    }

    /** Sets {@code refresh_every}: {@link TrainSettings.Stage2#refreshEvery()}. */
    public TrainSettingsBuilder refreshEvery(int value) {
        return set("refresh_every", value);
    }

    /** Sets {@code quantile}: {@link TrainSettings.Stage2#quantile()}. */
    public TrainSettingsBuilder quantile(double value) {
        return set("quantile", value);
    }

    /** Sets {@code lr_low}: {@link TrainSettings.Stage2#lrLow()}. */
    public TrainSettingsBuilder lrLow(Double value) {
        return set("lr_low", value);
    }

    /** Sets {@code lr_high}: {@link TrainSettings.Stage2#lrHigh()}. */
    public TrainSettingsBuilder lrHigh(Double value) {
        return set("lr_high", value);
    }

    /** Sets {@code probe_batches}: {@link TrainSettings.Stage2#probeBatches()}. */
    public TrainSettingsBuilder probeBatches(int value) {
        return set("probe_batches", value);
    }

    /** Sets {@code probe_batch_size}: {@link TrainSettings.Stage2#probeBatchSize()}. */
    public TrainSettingsBuilder probeBatchSize(int value) {
        return set("probe_batch_size", value);
    }

    /** Sets {@code lora_rank}: {@link TrainSettings.Lora#rank()}. */
    public TrainSettingsBuilder loraRank(Integer value) {
        return set("lora_rank", value);
    }

    /** Sets {@code lora_match}: {@link TrainSettings.Lora#match()}. */
    public TrainSettingsBuilder loraMatch(String value) {
        return set("lora_match", value);
    }

    /** Sets {@code lora_alpha}: {@link TrainSettings.Lora#alpha()}. */
    public TrainSettingsBuilder loraAlpha(Double value) {
        return set("lora_alpha", value);
    }

    /** Sets {@code lora_dropout}: {@link TrainSettings.Lora#dropout()}. */
    public TrainSettingsBuilder loraDropout(double value) {
        return set("lora_dropout", value);
    }

    /** Sets {@code lora_targets}: {@link TrainSettings.Lora#targets()}. */
    public TrainSettingsBuilder loraTargets(List<String> value) {
        return set("lora_targets", value);
    }

    /** Sets {@code out}: {@link TrainSettings.Output#out()}. */
    public TrainSettingsBuilder out(Path value) {
        return set("out", value);
    }

    /** Sets {@code eval_every}: {@link TrainSettings.Output#evalEvery()}. */
    public TrainSettingsBuilder evalEvery(Long value) {
        return set("eval_every", value);
    }

    /** Sets {@code eval_tokens}: {@link TrainSettings.Output#evalTokens()}. */
    public TrainSettingsBuilder evalTokens(long value) {
        return set("eval_tokens", value);
    }

    /** Sets {@code save_every}: {@link TrainSettings.Output#saveEvery()}. */
    public TrainSettingsBuilder saveEvery(Long value) {
        return set("save_every", value);
    }

    /** Sets {@code keep_checkpoints}: {@link TrainSettings.Output#keepCheckpoints()}. */
    public TrainSettingsBuilder keepCheckpoints(int value) {
        return set("keep_checkpoints", value);
    }

    /** Sets {@code log_every}: {@link TrainSettings.Output#logEvery()}. */
    public TrainSettingsBuilder logEvery(int value) {
        return set("log_every", value);
    }

    /** Sets {@code tensorboard}: {@link TrainSettings.Output#tensorboard()}. */
    public TrainSettingsBuilder tensorboard(boolean value) {
        return set("tensorboard", value);
    }

    /** Sets {@code overlap_grad_reduce}: {@link TrainSettings.Parallel#overlapGradReduce()}. */
    public TrainSettingsBuilder overlapGradReduce(boolean value) {
        return set("overlap_grad_reduce", value);
    }

    /** Sets {@code dtype}: {@link TrainSettings.Hardware#dtype()}. */
    public TrainSettingsBuilder dtype(DType value) {
        return set("dtype", value);
    }

    /** Sets {@code device}: {@link TrainSettings.Hardware#device()}. */
    public TrainSettingsBuilder device(Device value) {
        return set("device", value);
    }

    /** Sets {@code grad_checkpointing}: {@link TrainSettings.Hardware#gradCheckpointing()}. */
    public TrainSettingsBuilder gradCheckpointing(int value) {
        return set("grad_checkpointing", value);
    }
}
