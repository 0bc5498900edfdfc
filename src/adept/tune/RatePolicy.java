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
 */
public record RatePolicy(RateMode mode, double quantile, double lowMultiplier, double highMultiplier) {
    public static final RatePolicy CONTINUOUS = new RatePolicy(RateMode.CONTINUOUS, 0.5, 1, 1);

    public RatePolicy {
        if (!(quantile > 0 && quantile < 1)) throw new IllegalArgumentException("importance quantile must be in (0, 1), got " + quantile);
        if (!(lowMultiplier >= 0) || !(highMultiplier >= 0) || Double.isInfinite(lowMultiplier) || Double.isInfinite(highMultiplier)) {
            throw new IllegalArgumentException("split rates must be finite and >= 0");
        }
    }

    /** Multipliers and frozen flags per unit, in the order of importance. */
    public record Assignment(double[] multipliers, boolean[] frozen) {}

    /** Multipliers and frozen flags for units of these importances, by the policy's mode. */
    public Assignment assign(double[] importance) {
        int n = importance.length;
        double[] w = new double[n];
        boolean[] frozen = new boolean[n];
        Arrays.fill(w, 1.0);
        if (n == 0) return new Assignment(w, frozen);
        double max = Arrays.stream(importance).max().orElseThrow();
        double min = Arrays.stream(importance).min().orElseThrow();
        if (!(max > min)) return new Assignment(w, frozen);  // no information yet: uniform
        switch (mode) {
            case CONTINUOUS -> {
                for (int i = 0; i < n; i++) w[i] = 2 * (max - importance[i]) / (max - min);
            }
            case SPLIT, MASK -> {
                double threshold = quantileOf(importance, quantile);
                for (int i = 0; i < n; i++) {
                    boolean critical = importance[i] >= threshold;
                    if (mode == RateMode.SPLIT) w[i] = critical ? lowMultiplier : highMultiplier;
                    else frozen[i] = critical;
                }
            }
        }
        return new Assignment(w, frozen);
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
