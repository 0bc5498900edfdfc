package adept.optim;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.List;

/**
 * An optimizer's step gradient as one flat 1-D buffer (the optimizer's state type, parameter order), with a
 * view per parameter. A step copies the parameters' .grad into it ({@link GradientSource#PARAMETER_GRADS}),
 * or the caller fills it first ({@link GradientSource#FLAT_BUFFER}): {@link #collect} then an all-reduce of
 * {@link #tensor}, or an overlapped reducer writing into the {@link #view}s during backward (no extra copy).
 * The optimizer owns it.
 */
public final class FlatGradient implements AutoCloseable {
    private final List<Parameter> parameters;
    private final long[] offsets;
    private final Tensor flat;

    /** A zero buffer for the parameters' gradients, in type on device. */
    FlatGradient(List<Parameter> parameters, DType type, Device device) {
        this.parameters = List.copyOf(parameters);
        offsets = new long[parameters.size() + 1];
        for (int i = 0; i < parameters.size(); i++) offsets[i + 1] = offsets[i] + parameters.get(i).tensor().numel();
        try (Scope scope = Scope.open()) {
            flat = Tensor.zeros(type, device, offsets[parameters.size()]).keep();
        }
    }

    /** The flat buffer itself (1-D, contiguous; owned by this): what an all-reduce averages in place. */
    public Tensor tensor() {
        return flat;
    }

    /** The number of parameters. */
    public int size() {
        return parameters.size();
    }

    /** Parameter index's part of the buffer in its shape (a new handle of the current scope). */
    public Tensor view(int index) {
        Tensor p = parameters.get(index).tensor();
        return flat.narrow(0, offsets[index], p.numel()).view(p.shape());
    }

    /** Whether g is parameter index's part of this buffer (a .grad the optimizer made a view of it). */
    public boolean holds(int index, Tensor g) {
        return g.dtype() == flat.dtype() && g.numel() == offsets[index + 1] - offsets[index]
                && g.dataPointer() == flat.dataPointer() + offsets[index] * flat.dtype().byteSize();
    }

    /** Copies each parameter's .grad into its view (converted to the buffer's type); zero where there is none. */
    public void collect() {
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            for (int i = 0; i < parameters.size(); i++) {
                Tensor g = parameters.get(i).tensor().grad();
                if (g != null && holds(i, g)) continue;  // accumulated in place already
                Tensor into = view(i);
                if (g == null) into.zero();
                else into.copyFrom(g);
            }
        }
    }

    @Override
    public void close() {
        flat.close();
    }
}
