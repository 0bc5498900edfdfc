package adept.optim;

import adept.tensor.Tensor;

/**
 * A parameter an optimizer updates: its name (for checkpoints and error messages), the tensor (a leaf
 * that requires grad; the caller keeps owning it) and whether decoupled weight decay applies (not on
 * norms and biases).
 */
public record Parameter(String name, Tensor tensor, boolean decay) {
    /** Weight decay for matrices, none for vectors (norm weights, biases), as the method says. */
    public static Parameter of(String name, Tensor tensor) {
        return new Parameter(name, tensor, tensor.dim() >= 2);
    }
}
