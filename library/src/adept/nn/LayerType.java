package adept.nn;

/** A layer's attention span, as config.json's layer_types names it. */
public enum LayerType {
    FULL_ATTENTION("full_attention"),
    /** Each query sees only the last sliding_window keys (itself included). */
    SLIDING_ATTENTION("sliding_attention");

    private final String configName;

    LayerType(String configName) {
        this.configName = configName;
    }

    /** The name config.json's layer_types gives it. */
    public String configName() {
        return configName;
    }

    /** The type of that name, or null. */
    public static LayerType fromConfigName(String name) {
        for (LayerType t : values()) if (t.configName.equals(name)) return t;
        return null;
    }
}
