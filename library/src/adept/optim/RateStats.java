package adept.optim;

/**
 * The rate multipliers over an optimizer's trainable elements, each element weighted once (frozen elements
 * count as multiplier 0: they do not move). mean times the scheduled rate is the effective learning rate.
 *
 * @param mean       element-weighted mean multiplier
 * @param min        smallest multiplier
 * @param max        largest multiplier
 * @param belowHalf  share of elements with multiplier below 0.5
 * @param aboveOneAndHalf share of elements with multiplier above 1.5
 */
public record RateStats(double mean, double min, double max, double belowHalf, double aboveOneAndHalf) {
    /** Every element at multiplier 1 (uniform-rate modes). */
    public static final RateStats UNIFORM = new RateStats(1, 1, 1, 0, 0);

    /** Statistics of per-element multipliers (frozen ones already 0). */
    public static RateStats of(double[] multipliers) {
        if (multipliers.length == 0) return UNIFORM;
        double sum = 0;
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        long below = 0;
        long above = 0;
        for (double m : multipliers) {
            sum += m;
            min = Math.min(min, m);
            max = Math.max(max, m);
            if (m < 0.5) below++;
            if (m > 1.5) above++;
        }
        double n = multipliers.length;
        return new RateStats(sum / n, min, max, below / n, above / n);
    }

    /** "mean 1.997 (min 0, max 2; 1% below 0.5, 98% above 1.5)". */
    public String describe() {
        return String.format(java.util.Locale.ROOT, "mean %.3f (min %.3g, max %.3g; %.1f%% of elements below 0.5, %.1f%% above 1.5)", mean, min, max,
                100 * belowHalf, 100 * aboveOneAndHalf);
    }
}
