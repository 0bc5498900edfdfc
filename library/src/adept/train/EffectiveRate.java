package adept.train;

import adept.optim.LrSchedule;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * The learning rate a run actually applied: the scheduled rate times the element-weighted mean rate multiplier
 * in force at each step (set at each importance refresh; 1 in the uniform-rate modes and before the first
 * refresh). Two runs compare fairly only at equal effective rates, not at equal base rates.
 */
public final class EffectiveRate {
    private EffectiveRate() {}

    /** Sum over steps 0..steps-1 of schedule(t) x the mean multiplier of the newest refresh at or before t. */
    public static double cumulative(LrSchedule schedule, long steps, NavigableMap<Long, Double> meanByRefresh) {
        double sum = 0;
        for (long t = 0; t < steps; t++) {
            Map.Entry<Long, Double> e = meanByRefresh.floorEntry(t);
            sum += schedule.rate(t) * (e == null ? 1.0 : e.getValue());
        }
        return sum;
    }

    /** The same sum at multiplier 1: what the schedule alone gives. */
    public static double scheduled(LrSchedule schedule, long steps) {
        return cumulative(schedule, steps, new TreeMap<>());
    }

    /** The element-weighted mean multiplier of each refresh in an importance log (frozen units count 0), by step. */
    public static NavigableMap<Long, Double> fromImportanceLog(Path file) {
        NavigableMap<Long, double[]> sums = new TreeMap<>();
        for (JsonObject o : RunLog.readImportance(file)) {
            long step = o.get("step").getAsLong();
            double elements = o.has("elements") ? o.get("elements").getAsDouble() : 1;
            boolean frozen = o.has("frozen") && o.get("frozen").getAsBoolean();
            double w = frozen ? 0 : o.get("multiplier").getAsDouble();
            double[] s = sums.computeIfAbsent(step, k -> new double[2]);
            s[0] += elements * w;
            s[1] += elements;
        }
        NavigableMap<Long, Double> out = new TreeMap<>();
        for (var e : sums.entrySet()) out.put(e.getKey(), e.getValue()[1] > 0 ? e.getValue()[0] / e.getValue()[1] : 1.0);
        return out;
    }
}
