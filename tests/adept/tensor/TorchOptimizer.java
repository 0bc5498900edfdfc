package adept.tensor;

import static adept.bindings.adept_torch_h.*;

import java.lang.foreign.MemorySegment;
import java.util.List;

/** libtorch's own optimizers (torch::optim), the references adept's optimizers are tested against (test-only). */
public final class TorchOptimizer implements AutoCloseable {
    private MemorySegment handle;

    private TorchOptimizer(MemorySegment handle) {
        this.handle = handle;
    }

    /** torch::optim::AdamW over params; each step reads their .grad. */
    public static TorchOptimizer adamW(List<Tensor> params, double lr, double beta1, double beta2, double eps, double weightDecay) {
        Torch.init();
        return new TorchOptimizer(Check.handle(at_test_adamw_new(Scratch.get().handles(0, params), params.size(), lr, beta1, beta2, eps, weightDecay)));
    }

    /** One optimizer step from the parameters' current .grad. */
    public void step() {
        Check.status(at_test_optimizer_step(live()));
    }

    /** Sets the learning rate of every parameter group. */
    public void setLearningRate(double lr) {
        Check.status(at_test_optimizer_set_lr(live(), lr));
    }

    private MemorySegment live() {
        if (handle == null) throw new TorchException("optimizer used after it was closed");
        return handle;
    }

    /** The shim's handle (for tests of the shim's own checks). */
    MemorySegment rawHandle() {
        return live();
    }

    @Override
    public void close() {
        if (handle != null) at_test_optimizer_free(handle);
        handle = null;
    }
}
