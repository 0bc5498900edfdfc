package adept.tune;

import java.util.List;

/**
 * One unit of the trainable layers: a name ("model.layers.5.mlp.neuron.17", or a tensor's name for a
 * tensor unit), the layer it belongs to, its index among that layer's units, and the slices of
 * parameter tensors it owns.
 */
public record Unit(String name, int layer, int indexInLayer, List<Slice> slices) {
    /** Elements [start, start + length) along dim (0 = rows, 1 = columns) of the tensor named tensor. */
    public record Slice(String tensor, int dim, long start, long length) {}

    public Unit {
        slices = List.copyOf(slices);
        if (slices.isEmpty()) throw new IllegalArgumentException("unit " + name + " has no slice");
    }
}
