package adept.tune;

import java.util.Locale;

/**
 * How the continuous map's range is taken, and whether the result keeps the average rate. The paper's map
 * lets a norm vector set the maximum importance, so every matrix gets a multiplier near 2: stage 2 then also
 * doubles the learning rate, which confounds any comparison at one base rate.
 */
public enum RateNorm {
    /** The paper's map: min and max over all units. */
    GLOBAL("global"),
    /** Norm vectors and matrices each mapped within their own min and max (the authors' later code, for layer norms). */
    PER_KIND("per-kind"),
    /** After the map, every multiplier scaled so that the element-weighted mean is exactly 1 (rates redistributed, never raised). */
    MEAN("mean");

    private final String label;

    RateNorm(String label) {
        this.label = label;
    }

    /** The name used in settings and on the command line. */
    public String label() {
        return label;
    }

    /** global, per-kind or mean (any case; per_kind also). */
    public static RateNorm parse(String name) {
        String n = name.toLowerCase(Locale.ROOT).replace('_', '-');
        for (RateNorm r : values()) if (r.label.equals(n)) return r;
        throw new IllegalArgumentException("unknown rate normalisation \"" + name + "\" (global, per-kind or mean)");
    }
}
