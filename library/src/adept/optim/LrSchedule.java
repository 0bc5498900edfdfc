package adept.optim;

/**
 * The base learning-rate schedule, as Hugging Face's schedulers define it: linear warmup from 0 over
 * warmupSteps, then cosine (half a cycle) / linear decay to 0 at totalSteps, or constant. factor(s) takes
 * s = optimizer steps already taken, so the first step runs at factor(0) (0 when there is warmup, as in
 * HF). Per-unit multipliers scale {@code peak * factor(s)}; they never compound.
 */
public record LrSchedule(Kind kind, double peak, long warmupSteps, long totalSteps) {
    /** The decay after warmup. */
    public enum Kind { COSINE, LINEAR, CONSTANT }

    public LrSchedule {
        if (!(peak > 0) || Double.isInfinite(peak)) throw new IllegalArgumentException("learning rate must be > 0, got " + peak);
        if (warmupSteps < 0) throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmupSteps);
        if (totalSteps <= 0) throw new IllegalArgumentException("total steps must be > 0, got " + totalSteps);
    }

    /** The multiplier of the peak rate at step (0-based): linear warmup, then the kind's decay to 0 at totalSteps (constant stays 1). */
    public double factor(long step) {
        if (step < warmupSteps) return (double) step / Math.max(1, warmupSteps);
        double progress = (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
        return switch (kind) {
            case CONSTANT -> 1.0;
            case LINEAR -> Math.max(0.0, (double) (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
            case COSINE -> Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * progress)));
        };
    }

    /** The base rate for step s (before any per-unit multiplier). */
    public double rate(long step) {
        return peak * factor(step);
    }

    /** cosine, linear or constant (any case). */
    public static Kind parseKind(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "cosine" -> Kind.COSINE;
            case "linear" -> Kind.LINEAR;
            case "constant" -> Kind.CONSTANT;
            default -> throw new IllegalArgumentException("unknown schedule \"" + name + "\" (cosine, linear or constant)");
        };
    }
}
