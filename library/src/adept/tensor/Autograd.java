package adept.tensor;

import static adept.bindings.adept_torch_h.at_autograd_grad;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/** Gradients into separate tensors, leaving every .grad field untouched (torch::autograd::grad). */
public final class Autograd {
    private Autograd() {}

    /**
     * d(sum of outputs)/d(inputs). Entries are null for inputs the outputs do not depend on
     * (when allowUnused). gradOutputs may be null for scalar outputs.
     */
    public static List<Tensor> grad(List<Tensor> outputs, List<Tensor> inputs, List<Tensor> gradOutputs,
                                    boolean retainGraph, boolean allowUnused) {
        Torch.init();
        if (gradOutputs != null && gradOutputs.size() != outputs.size()) {
            throw new TorchException("grad: " + outputs.size() + " outputs but " + gradOutputs.size() + " grad outputs");
        }
        Scratch scratch = Scratch.get();
        MemorySegment outs = scratch.handles(0, outputs);
        MemorySegment ins = scratch.handles(1, inputs);
        MemorySegment gradOuts = gradOutputs == null ? MemorySegment.NULL : scratch.handles(2, gradOutputs);
        MemorySegment results = scratch.pointers(3, inputs.size());
        Check.status(at_autograd_grad(outs, outputs.size(), gradOuts, ins, inputs.size(), results,
                retainGraph ? 1 : 0, 0, allowUnused ? 1 : 0));
        List<Tensor> grads = new ArrayList<>(inputs.size());
        for (int i = 0; i < inputs.size(); i++) grads.add(Tensor.wrapNullable(results.getAtIndex(ValueLayout.ADDRESS, i)));
        return grads;
    }

    /** d(output)/d(input) for each input, which output must depend on; the graph is freed after. */
    public static List<Tensor> grad(Tensor output, List<Tensor> inputs) {
        return grad(List.of(output), inputs, null, false, false);
    }
}
