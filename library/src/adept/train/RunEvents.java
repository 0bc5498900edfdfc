package adept.train;

import adept.io.tensorboard.EventWriter;
import adept.tune.DecoupledTuning;
import adept.tune.RatePolicy;
import adept.tune.Unit;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A run's TensorBoard events (setting tensorboard), in the run folder beside metrics.jsonl: every metrics line's numbers
 * as scalars (train/loss, train/lr, train/grad_norm, train/tokens_per_s, ...; eval/loss, eval/perplexity), at each
 * refresh the rate multipliers and unit importances (histograms), the element-weighted mean multiplier and the
 * effective rate it gives, and the settings as text. A resumed run writes a new file that starts with a SessionLog
 * START, so TensorBoard drops what the interrupted run logged after its checkpoint. Disabled, every call does nothing.
 */
final class RunEvents implements TrainListener, AutoCloseable {
    /** Per-unit importance scalars up to this many units; beyond (head, neuron granularity) the histogram alone. */
    static final int MAX_UNIT_SCALARS = 64;
    private final EventWriter writer;  // null: disabled

    private RunEvents(EventWriter writer) {
        this.writer = writer;
    }

    /** Events for a run in out (none when enabled is false); resumeStep is the checkpoint's step, or -1 for a fresh run. */
    static RunEvents open(Path out, TrainSettings s, boolean enabled, long resumeStep) {
        if (!enabled) return new RunEvents(null);
        EventWriter w = EventWriter.create(out);
        if (resumeStep >= 0) {
            w.sessionStart(resumeStep + 1);  // metrics lines carry the step count after their update
        } else {
            w.text("settings", 0, "```\n" + s.toJson() + "```\n");
        }
        return new RunEvents(w);
    }

    /** Deletes the event files in out (a --restart). */
    static void deleteAll(Path out) {
        if (!Files.isDirectory(out)) return;
        try (var files = Files.list(out)) {
            for (Path p : files.toList()) {
                if (p.getFileName().toString().startsWith("events.out." + EventWriter.NAME_MARK)) Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete the event files in " + out + ": " + e.getMessage(), e);
        }
    }

    /** A metrics.jsonl line: each number but step as a scalar at its step, eval_X as eval/X, the others as train/KEY. */
    @Override
    public void metrics(JsonObject line) {
        if (writer == null) return;
        Map<String, Double> values = new LinkedHashMap<>();
        for (var e : line.entrySet()) {
            if (e.getKey().equals("step") || !e.getValue().isJsonPrimitive() || !e.getValue().getAsJsonPrimitive().isNumber()) continue;
            String key = e.getKey();
            values.put(key.startsWith("eval_") ? "eval/" + key.substring(5) : "train/" + key, e.getValue().getAsDouble());
        }
        writer.scalars(line.get("step").getAsLong(), values);
    }

    /** A refresh at step (scheduled base rate lr): multipliers and importances as histograms, the mean multiplier and the effective rate. */
    @Override
    public void refresh(long step, DecoupledTuning tuning, double[] importance, adept.optim.RateStats rates, double lr) {
        if (writer == null) return;
        RatePolicy.Assignment a = tuning.assignment();
        List<Unit> units = tuning.units().units();
        double weighted = 0;
        double elements = 0;
        for (int u = 0; u < units.size(); u++) {
            double n = tuning.units().elements(units.get(u));
            weighted += n * (a.frozen()[u] ? 0 : a.multipliers()[u]);
            elements += n;
        }
        double mean = weighted / elements;
        writer.histogram("rates/multiplier", step, a.multipliers(), 30);
        writer.histogram("importance/unit", step, importance, 30);
        Map<String, Double> scalars = new LinkedHashMap<>();
        scalars.put("rates/mean_multiplier", mean);
        scalars.put("rates/effective_lr", lr * mean);
        if (units.size() <= MAX_UNIT_SCALARS) for (int u = 0; u < units.size(); u++) scalars.put("importance/" + units.get(u).name(), importance[u]);
        writer.scalars(step, scalars);
    }

    @Override
    public void close() {
        if (writer != null) writer.close();
    }
}
