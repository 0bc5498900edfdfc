package adept.nn;

/** Llama-3 style rotary frequency scaling (config.json "rope_scaling" with rope_type "llama3"). */
public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {
    public RopeScaling {
        if (!"llama3".equals(type)) throw new ModelException("unsupported rope_scaling rope_type '" + type + "' (supported: llama3)");
        if (factor <= 0 || lowFreqFactor <= 0 || highFreqFactor <= lowFreqFactor || originalMaxPositionEmbeddings <= 0) {
            throw new ModelException("invalid llama3 rope_scaling: " + this);
        }
    }
}
