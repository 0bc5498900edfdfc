package adept.parallel;

import static adept.bindings.adept_torch_h.at_work_free;
import static adept.bindings.adept_torch_h.at_work_wait;

import adept.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A collective in flight (owning handle): {@link #await()} blocks until it is done on this rank, or throws
 * when a peer is gone or the group's timeout passed. The tensors it reads and writes are held until then.
 */
public final class Work implements AutoCloseable {
    private MemorySegment handle;
    private final List<Tensor> tensors;  // kept reachable (and unclosed by us) while the collective runs

    Work(MemorySegment handle, List<Tensor> tensors) {
        this.handle = handle;
        this.tensors = List.copyOf(tensors);
    }

    /** Waits for the collective; idempotent. */
    public void await() {
        if (handle == null) throw new DistException("work handle used after it was closed");
        DistCheck.status(at_work_wait(handle));
    }

    /** The tensors the collective works on (in place). */
    public List<Tensor> tensors() {
        return tensors;
    }

    /** Frees the handle (a collective not awaited still completes inside c10d). Idempotent. */
    @Override
    public void close() {
        MemorySegment h = handle;
        if (h == null) return;
        handle = null;
        at_work_free(h);
    }
}
