package adept.report;

import java.util.Map;

/**
 * Short names for units on a plot's axis, from their Hugging Face tensor names (or head / neuron names):
 * model.layers.5.self_attn.q_proj.weight -> q, ...mlp.down_proj.bias -> down_bias, ...input_layernorm.weight ->
 * input_norm, ...self_attn.kv_head.1 -> kv1, ...mlp.neuron.17 -> n17. The layer is the plot's row, so it is left out.
 */
public final class UnitLabel {
    /** Names the general rule below would make longer or less clear. */
    private static final Map<String, String> SPECIAL = Map.of(
            "post_attention_layernorm.weight", "post_norm",
            "model.embed_tokens.weight", "embed",
            "model.norm.weight", "final_norm",
            "lm_head.weight", "lm_head");

    /** Prefixes of numbered units (head, kv_head, neuron) -> the letters before their number. */
    private static final Map<String, String> NUMBERED = Map.of("head", "h", "kv_head", "kv", "neuron", "n");

    private UnitLabel() {}

    /** The short label of a unit name. */
    public static String of(String unit) {
        String rest = unit;
        String layerPrefix = "model.layers.";
        if (rest.startsWith(layerPrefix)) {
            int dot = rest.indexOf('.', layerPrefix.length());
            if (dot > 0) rest = rest.substring(dot + 1);
        }
        String special = SPECIAL.get(rest);
        if (special != null) return special;
        String[] parts = rest.split("\\.");
        String last = parts[parts.length - 1];
        if (parts.length >= 2 && !last.isEmpty() && last.chars().allMatch(Character::isDigit)) {
            String kind = parts[parts.length - 2];
            return NUMBERED.getOrDefault(kind, kind) + last;
        }
        boolean bias = last.equals("bias");
        int end = last.equals("weight") || bias ? parts.length - 1 : parts.length;
        if (end == 0) return rest;
        // the tensor's own name without the family suffix: q_proj -> q, input_layernorm -> input_norm
        String base = parts[end - 1];
        if (base.endsWith("_proj")) base = base.substring(0, base.length() - "_proj".length());
        base = base.replace("layernorm", "norm");
        return bias ? base + "_bias" : base;
    }
}
