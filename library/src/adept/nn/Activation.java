package adept.nn;

import adept.tensor.Tensor;

/** The MLP's gate activation, by the names config.json uses. */
public enum Activation {
    SILU("silu"),
    /** Gemma's gelu_pytorch_tanh: GELU with the tanh approximation. */
    GELU_TANH("gelu_pytorch_tanh");

    private final String configName;

    Activation(String configName) {
        this.configName = configName;
    }

    /** The name config.json gives it. */
    public String configName() {
        return configName;
    }

    /** The activation of x, elementwise. */
    public Tensor apply(Tensor x) {
        return this == SILU ? x.silu() : x.geluTanh();
    }

    /** The activation config.json names, or null when adept has none of that name. */
    public static Activation fromConfigName(String name) {
        for (Activation a : values()) if (a.configName.equals(name)) return a;
        return null;
    }
}
