package adept.train;

import adept.optim.RateStats;
import adept.tune.DecoupledTuning;
import adept.tune.RatePolicy;
import adept.tune.Unit;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.List;

/**
 * The run folder's JSON Lines logs as a listener: metrics.jsonl (every metrics line) and importance.jsonl (a line per
 * unit at each refresh). Opened for a resume, each drops what the interrupted run logged after its checkpoint.
 */
final class RunLogs implements TrainListener, AutoCloseable {
    private final RunLog metrics;
    private final RunLog importance;

    private RunLogs(RunLog metrics, RunLog importance) {
        this.metrics = metrics;
        this.importance = importance;
    }

    /** The logs in out; resumed: the checkpoint's state (null for a fresh run, which empties them). */
    static RunLogs open(Path out, TrainerState resumed) {
        RunLogs logs = new RunLogs(new RunLog(out.resolve(RunFolder.METRICS_FILE)), new RunLog(out.resolve(RunFolder.IMPORTANCE_FILE)));
        // Metrics lines carry the step count after their update.
        logs.metrics.truncateFrom(resumed == null ? 0 : resumed.step() + 1);
        logs.importance.truncateFrom(resumed == null ? 0 : resumed.lastRefreshStep() + 1);
        return logs;
    }

    @Override
    public void metrics(JsonObject line) {
        metrics.append(line);
    }

    @Override
    public void refresh(long step, DecoupledTuning tuning, double[] values, RateStats rates, double lr) {
        RatePolicy.Assignment a = tuning.assignment();
        List<Unit> units = tuning.units().units();
        for (int u = 0; u < units.size(); u++) {
            JsonObject o = new JsonObject();
            o.addProperty("step", step);
            o.addProperty("unit", units.get(u).name());
            o.addProperty("layer", units.get(u).layer());
            o.addProperty("index", units.get(u).indexInLayer());
            o.addProperty("elements", tuning.units().elements(units.get(u)));
            o.addProperty("importance", values[u]);
            o.addProperty("multiplier", a.multipliers()[u]);
            o.addProperty("frozen", a.frozen()[u]);
            addRates(o, rates);  // the refresh's statistics over every trainable element, on each of its lines
            importance.append(o);
        }
        importance.flush();
    }

    /** The rate statistics' fields, as metrics and importance lines carry them. */
    static void addRates(JsonObject o, RateStats rates) {
        o.addProperty("rate_mean", rates.mean());
        o.addProperty("rate_min", rates.min());
        o.addProperty("rate_max", rates.max());
        o.addProperty("rate_below_0_5", rates.belowHalf());
        o.addProperty("rate_above_1_5", rates.aboveOneAndHalf());
    }

    @Override
    public void close() {
        try {
            metrics.close();
        } finally {
            importance.close();
        }
    }
}
