package adept.tune;

import java.util.Arrays;

/**
 * Maps unit importances (for general competence) to rate multipliers of the scheduled base rate: high
 * importance = general-critical = lower rate. When every importance is equal (as right after expansion,
 * when all are exactly 0) every unit trains at the base rate, whatever the mode.
 *
 * @param mode           continuous, split or mask
 * @param quantile       split / mask: the importance quantile q in (0, 1) at or above which a unit is general-critical
 * @param lowMultiplier  split: lr_low / lr (general-critical units)
 * @param highMultiplier split: lr_high / lr (the other units)
 * @param norm           where the map takes its range, and whether the element-weighted mean is rescaled to 1
 */
public record RatePolicy(RateMode mode, double quantile, double lowMultiplier, double highMultiplier, RateNorm norm) {
    public static final RatePolicy CONTINUOUS = new RatePolicy(RateMode.CONTINUOUS, 0.5, 1, 1);

    public RatePolicy {
        if (!(quantile > 0 && quantile < 1)) throw new IllegalArgumentException("importance quantile must be in (0, 1), got " + quantile);
        if (!(lowMultiplier >= 0) || !(highMultiplier >= 0) || Double.isInfinite(lowMultiplier) || Double.isInfinite(highMultiplier)) {
            throw new IllegalArgumentException("split rates must be finite and >= 0");
        }
        if (norm == null) throw new IllegalArgumentException("rate normalisation must be given");
    }

    /** The paper's normalisation (global). */
    public RatePolicy(RateMode mode, double quantile, double lowMultiplier, double highMultiplier) {
        this(mode, quantile, lowMultiplier, highMultiplier, RateNorm.GLOBAL);
    }

    /** This policy with another normalisation. */
    public RatePolicy withNorm(RateNorm other) {
        return new RatePolicy(mode, quantile, lowMultiplier, highMultiplier, other);
    }

    /** Multipliers and frozen flags per unit, in the order of importance. */
    public record Assignment(double[] multipliers, boolean[] frozen) {}

    /** As {@link #assign(double[], long[], boolean[])} with every unit one element and a matrix. */
    public Assignment assign(double[] importance) {
        long[] elements = new long[importance.length];
        Arrays.fill(elements, 1);
        return assign(importance, elements, new boolean[importance.length]);
    }

    /** As {@link #assign(double[], long[], boolean[])} for the units of map. */
    public Assignment assign(double[] importance, UnitMap map) {
        long[] elements = new long[map.size()];
        boolean[] vector = new boolean[map.size()];
        for (int u = 0; u < map.size(); u++) {
            elements[u] = map.elements(map.units().get(u));
            vector[u] = map.isVector(map.units().get(u));
        }
        return assign(importance, elements, vector);
    }

    /**
     * Multipliers and frozen flags for units of these importances, by the policy's mode and normalisation.
     * elements: each unit's element count (the weights of the mean); vector: the unit is a norm vector (per-kind).
     */
    public Assignment assign(double[] importance, long[] elements, boolean[] vector) {
        int n = importance.length;
        if (elements.length != n || vector.length != n) throw new IllegalArgumentException("one element count and kind per unit");
        double[] w = new double[n];
        boolean[] frozen = new boolean[n];
        Arrays.fill(w, 1.0);
        if (n == 0 || !(range(importance, null, false)[1] > range(importance, null, false)[0])) {
            return new Assignment(w, frozen);  // no information yet: uniform
        }
        if (norm == RateNorm.PER_KIND) {
            mapWithin(importance, vector, true, w, frozen);
            mapWithin(importance, vector, false, w, frozen);
        } else {
            mapWithin(importance, null, false, w, frozen);
        }
        if (norm == RateNorm.MEAN) {
            double all = 0;
            double weighted = 0;
            for (int i = 0; i < n; i++) {
                all += elements[i];
                if (!frozen[i]) weighted += elements[i] * w[i];
            }
            if (weighted > 0) for (int i = 0; i < n; i++) w[i] *= all / weighted;
        }
        return new Assignment(w, frozen);
    }

    /** Maps the units of one kind (kinds null: all units) within their own range. */
    private void mapWithin(double[] importance, boolean[] kinds, boolean kind, double[] w, boolean[] frozen) {
        double[] minMax = range(importance, kinds, kind);
        double min = minMax[0];
        double max = minMax[1];
        if (!(max > min)) return;  // this kind carries no information: base rate
        double threshold = mode == RateMode.CONTINUOUS ? 0 : quantileOf(select(importance, kinds, kind), quantile);
        for (int i = 0; i < importance.length; i++) {
            if (kinds != null && kinds[i] != kind) continue;
            switch (mode) {
                case CONTINUOUS -> w[i] = 2 * (max - importance[i]) / (max - min);
                case SPLIT -> w[i] = importance[i] >= threshold ? lowMultiplier : highMultiplier;
                case MASK -> frozen[i] = importance[i] >= threshold;
            }
        }
    }

    private static double[] range(double[] importance, boolean[] kinds, boolean kind) {
        double[] values = select(importance, kinds, kind);
        if (values.length == 0) return new double[] {0, 0};
        return new double[] {Arrays.stream(values).min().orElseThrow(), Arrays.stream(values).max().orElseThrow()};
    }

    private static double[] select(double[] importance, boolean[] kinds, boolean kind) {
        if (kinds == null) return importance;
        int count = 0;
        for (boolean k : kinds) if (k == kind) count++;
        double[] out = new double[count];
        int j = 0;
        for (int i = 0; i < importance.length; i++) if (kinds[i] == kind) out[j++] = importance[i];
        return out;
    }

    /** The q-quantile with linear interpolation between order statistics (numpy's default). */
    static double quantileOf(double[] values, double q) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        double position = q * (sorted.length - 1);
        int lower = (int) Math.floor(position);
        int upper = Math.min(sorted.length - 1, lower + 1);
        return sorted[lower] + (position - lower) * (sorted[upper] - sorted[lower]);
    }
}
