package adept.nn;

/** Llama-3 style rotary frequency scaling (config.json "rope_scaling" with rope_type "llama3"). */
public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {
    public RopeScaling {
        if (!"llama3".equals(type)) throw new ModelException("unsupported rope_scaling rope_type '" + type + "' (supported: llama3)");
        if (factor <= 0 || lowFreqFactor <= 0 || highFreqFactor <= lowFreqFactor || originalMaxPositionEmbeddings <= 0) {
            // Not "this": a compact constructor's fields are not set yet (it would print type=null, factor=0.0).
            throw new ModelException("invalid llama3 rope_scaling (factor " + factor + ", low_freq_factor " + lowFreqFactor
                    + ", high_freq_factor " + highFreqFactor + ", original_max_position_embeddings " + originalMaxPositionEmbeddings
                    + "): factor, low_freq_factor and original_max_position_embeddings must be > 0 and high_freq_factor > low_freq_factor");
        }
    }
}
