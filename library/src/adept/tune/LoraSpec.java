package adept.tune;

import java.util.List;

/**
 * The shape of a LoRA run: rank r, alpha (the adapters add (alpha / r) B A x), dropout on the adapters' input, and the
 * projections adapted in every layer, by their short names (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj).
 */
public record LoraSpec(int rank, double alpha, double dropout, List<String> targets) {
    public LoraSpec {
        if (rank <= 0) throw new IllegalArgumentException("lora_rank must be > 0, got " + rank);
        if (!(alpha > 0) || !Double.isFinite(alpha)) throw new IllegalArgumentException("lora_alpha must be > 0, got " + alpha);
        if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + dropout);
        targets = List.copyOf(targets);
        for (String t : targets) LoraAdapters.projection(t);
        if (targets.isEmpty()) throw new IllegalArgumentException("lora_targets: give at least one projection " + LoraAdapters.TARGETS);
        if (targets.stream().distinct().count() != targets.size()) throw new IllegalArgumentException("lora_targets: " + targets + " lists a projection twice");
    }

    /** alpha / r. */
    public double scale() {
        return alpha / rank;
    }
}
