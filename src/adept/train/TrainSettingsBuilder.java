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

    public TrainSettingsBuilder model(Path value) {
        return set("model", value);
    }

    public TrainSettingsBuilder data(Path value) {
        return set("data", value);
    }

    public TrainSettingsBuilder probe(Path value) {
        return set("probe", value);
    }

    public TrainSettingsBuilder eval(Path value) {
        return set("eval", value);
    }

    public TrainSettingsBuilder blockSize(Integer value) {
        return set("block_size", value);
    }

    public TrainSettingsBuilder batchSize(int value) {
        return set("batch_size", value);
    }

    public TrainSettingsBuilder gradAccum(int value) {
        return set("grad_accum", value);
    }

    public TrainSettingsBuilder seed(long value) {
        return set("seed", value);
    }

    public TrainSettingsBuilder mode(TrainMode value) {
        return set("mode", value);
    }

    public TrainSettingsBuilder k(Integer value) {
        return set("k", value);
    }

    public TrainSettingsBuilder layers(List<Integer> value) {
        return set("layers", value);
    }

    public TrainSettingsBuilder expandBudget(double value) {
        return set("expand_budget", value);
    }

    public TrainSettingsBuilder probeCacheMemory(String value) {
        return set("probe_cache_memory", value);
    }

    public TrainSettingsBuilder steps(long value) {
        return set("steps", value);
    }

    public TrainSettingsBuilder lr(double value) {
        return set("lr", value);
    }

    public TrainSettingsBuilder warmupSteps(Long value) {
        return set("warmup_steps", value);
    }

    public TrainSettingsBuilder schedule(LrSchedule.Kind value) {
        return set("schedule", value);
    }

    public TrainSettingsBuilder weightDecay(double value) {
        return set("weight_decay", value);
    }

    public TrainSettingsBuilder beta1(double value) {
        return set("beta1", value);
    }

    public TrainSettingsBuilder beta2(double value) {
        return set("beta2", value);
    }

    public TrainSettingsBuilder eps(double value) {
        return set("eps", value);
    }

    public TrainSettingsBuilder maxGradNorm(double value) {
        return set("max_grad_norm", value);
    }

    public TrainSettingsBuilder granularity(Granularity value) {
        return set("granularity", value);
    }

    public TrainSettingsBuilder rateMode(RateMode value) {
        return set("rate_mode", value);
    }

    public TrainSettingsBuilder rateNorm(RateNorm value) {
        return set("rate_norm", value);
    }

    public TrainSettingsBuilder refreshEvery(int value) {
        return set("refresh_every", value);
    }

    public TrainSettingsBuilder quantile(double value) {
        return set("quantile", value);
    }

    public TrainSettingsBuilder lrLow(Double value) {
        return set("lr_low", value);
    }

    public TrainSettingsBuilder lrHigh(Double value) {
        return set("lr_high", value);
    }

    public TrainSettingsBuilder probeBatches(int value) {
        return set("probe_batches", value);
    }

    public TrainSettingsBuilder probeBatchSize(int value) {
        return set("probe_batch_size", value);
    }

    public TrainSettingsBuilder loraRank(Integer value) {
        return set("lora_rank", value);
    }

    public TrainSettingsBuilder loraMatch(String value) {
        return set("lora_match", value);
    }

    public TrainSettingsBuilder loraAlpha(Double value) {
        return set("lora_alpha", value);
    }

    public TrainSettingsBuilder loraDropout(double value) {
        return set("lora_dropout", value);
    }

    public TrainSettingsBuilder loraTargets(List<String> value) {
        return set("lora_targets", value);
    }

    public TrainSettingsBuilder out(Path value) {
        return set("out", value);
    }

    public TrainSettingsBuilder evalEvery(Long value) {
        return set("eval_every", value);
    }

    public TrainSettingsBuilder evalTokens(long value) {
        return set("eval_tokens", value);
    }

    public TrainSettingsBuilder saveEvery(Long value) {
        return set("save_every", value);
    }

    public TrainSettingsBuilder keepCheckpoints(int value) {
        return set("keep_checkpoints", value);
    }

    public TrainSettingsBuilder logEvery(int value) {
        return set("log_every", value);
    }

    public TrainSettingsBuilder tensorboard(boolean value) {
        return set("tensorboard", value);
    }

    public TrainSettingsBuilder overlapGradReduce(boolean value) {
        return set("overlap_grad_reduce", value);
    }

    public TrainSettingsBuilder dtype(DType value) {
        return set("dtype", value);
    }

    public TrainSettingsBuilder device(Device value) {
        return set("device", value);
    }

    public TrainSettingsBuilder gradCheckpointing(int value) {
        return set("grad_checkpointing", value);
    }
}
