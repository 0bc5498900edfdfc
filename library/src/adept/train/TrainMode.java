package adept.train;

import java.util.Locale;

/** What a training run tunes and how: ADEPT and the baselines of the paper's comparison. */
public enum TrainMode {
    /** Selective expansion (probe, copy the K lowest-dL layers) + adaptive unit-wise rates on the copies. */
    ADEPT("adept", true, true),
    /** Continual pretraining of every parameter at a uniform rate. */
    FULL("full", false, false),
    /** Uniform expansion (top layer of each of K equal groups), uniform rate on the copies. */
    LLAMA_PRO("llama-pro", true, false),
    /** No expansion: adaptive rates on the K lowest-dL original layers. */
    ADEPT_NO_STAGE1("adept-no-stage1", false, true),
    /** Selective expansion, uniform rate on the copies. */
    ADEPT_NO_STAGE2("adept-no-stage2", true, false),
    /** Low-rank adapters on every layer's projections (rank matched to adept's trainable count by default), uniform rate; base frozen. */
    LORA("lora", false, false);

    private final String label;
    private final boolean expands;
    private final boolean adaptive;

    TrainMode(String label, boolean expands, boolean adaptive) {
        this.label = label;
        this.expands = expands;
        this.adaptive = adaptive;
    }

    /** The mode's name on the command line and in run.json. */
    public String label() {
        return label;
    }

    /** The label, so that a mode prints as it is written (adept, llama-pro). */
    @Override
    public String toString() {
        return label();
    }

    /** True when the mode inserts layer copies. */
    public boolean expands() {
        return expands;
    }

    /** Whether unit importance sets per-unit rates (stage 2); otherwise every unit trains at the base rate. */
    public boolean adaptive() {
        return adaptive;
    }

    /** Whether the K layers are chosen by probing (dL), which needs a probe corpus. */
    public boolean probesLayers() {
        return this == ADEPT || this == ADEPT_NO_STAGE1 || this == ADEPT_NO_STAGE2;
    }

    /** The mode by label (any case). */
    public static TrainMode parse(String name) {
        for (TrainMode m : values()) if (m.label.equals(name.toLowerCase(Locale.ROOT))) return m;
        throw new IllegalArgumentException("unknown mode \"" + name + "\" (adept, full, llama-pro, adept-no-stage1, adept-no-stage2, lora)");
    }
}
