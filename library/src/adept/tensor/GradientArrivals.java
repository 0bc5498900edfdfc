package adept.tensor;

import static adept.bindings.adept_torch_h.at_grad_seen_free;
import static adept.bindings.adept_torch_h.at_grad_seen_new;
import static adept.bindings.adept_torch_h.at_grad_seen_read;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Which of some leaf tensors a backward delivered a gradient to since the last {@link #clear()}: a post-hook on each
 * one's gradient accumulator marks it. What tells "no gradient" apart from a zero one once gradients live in
 * buffers that are zeroed between steps instead of dropped.
 */
public final class GradientArrivals implements AutoCloseable {
    private final MemorySegment handle;
    private final int size;
    private boolean closed;

    /** Tracks these leaves (each must require grad). */
    public GradientArrivals(List<Tensor> leaves) {
        Torch.init();
        size = leaves.size();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment array = arena.allocate(ValueLayout.ADDRESS, Math.max(1, size));
            for (int i = 0; i < size; i++) array.setAtIndex(ValueLayout.ADDRESS, i, leaves.get(i).handle());
            handle = Check.handle(at_grad_seen_new(array, size));
        }
    }

    /** Per leaf, whether a gradient arrived since the last {@link #clear()}. */
    public boolean[] arrived() {
        return read(false);
    }

    /** Forgets every arrival (as zeroing the gradients does). */
    public void clear() {
        read(true);
    }

    private boolean[] read(boolean clear) {
        if (closed) throw new IllegalStateException("gradient arrivals already closed");
        boolean[] out = new boolean[size];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment marks = arena.allocate(Math.max(1, size));
            Check.status(at_grad_seen_read(handle, marks, clear ? 1 : 0));
            for (int i = 0; i < size; i++) out[i] = marks.get(ValueLayout.JAVA_BYTE, i) != 0;
        }
        return out;
    }

    /** Removes the hooks. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Check.status(at_grad_seen_free(handle));
    }
}
