package adept.tune;

import java.util.Locale;

/**
 * How the trainable layers are cut into units, each with one importance and one rate.
 * <ul>
 *   <li>{@code TENSOR} (the paper's): every parameter tensor is a unit.
 *   <li>{@code HEAD}: attention by heads (a query head = its rows of q_proj and columns of o_proj; a
 *       key/value head = its rows of k_proj and v_proj, shared by its GQA group; biases follow their rows);
 *       the MLP tensors stay tensor units.
 *   <li>{@code NEURON}: as HEAD, and the MLP by intermediate neurons (neuron j = row j of gate_proj and
 *       up_proj and column j of down_proj), as the method's figure draws units.
 * </ul>
 * Norm vectors (and Qwen3's q_norm / k_norm) and o_proj / down_proj biases stay tensor units in all of them.
 */
public enum Granularity {
    TENSOR, HEAD, NEURON;

    /** tensor, head or neuron (any case). */
    public static Granularity parse(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown granularity \"" + name + "\" (tensor, head or neuron)");
        }
    }

    /** The lower-case name used on the command line and in settings. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
