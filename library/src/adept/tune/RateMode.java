package adept.tune;

import java.util.Locale;

/** How unit importance becomes a rate multiplier (see {@link RatePolicy}). */
public enum RateMode {
    /** The paper's: w = 2 (Imax - I) / (Imax - Imin). */
    CONTINUOUS,
    /** Two rates: units at or above the importance quantile get lr_low, the rest lr_high. */
    SPLIT,
    /** Hard: units at or above the quantile are frozen, the rest train at the base rate. */
    MASK;

    /** continuous, split or mask (any case). */
    public static RateMode parse(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown rate mode \"" + name + "\" (continuous, split or mask)");
        }
    }

    /** The lower-case name used on the command line and in settings. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
