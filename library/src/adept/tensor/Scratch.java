package adept.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/** Per-thread native buffers for shapes and handle lists, so no op allocates native memory for its arguments. */
final class Scratch {
    private static final ThreadLocal<Scratch> CURRENT = ThreadLocal.withInitial(Scratch::new);

    private final Arena arena = Arena.ofAuto();
    private MemorySegment longs = arena.allocate(ValueLayout.JAVA_LONG, 16);
    private MemorySegment[] pointerLists = new MemorySegment[5];

    static Scratch get() {
        return CURRENT.get();
    }

    MemorySegment longs(long[] values) {
        if (values.length > longs.byteSize() / 8) longs = arena.allocate(ValueLayout.JAVA_LONG, values.length * 2L);
        MemorySegment.copy(values, 0, longs, ValueLayout.JAVA_LONG, 0, values.length);
        return longs;
    }

    MemorySegment longsOut(int count) {
        if (count > longs.byteSize() / 8) longs = arena.allocate(ValueLayout.JAVA_LONG, count * 2L);
        return longs;
    }

    /** Handle array number slot (0..3): ops with several tensor lists use one slot per list. */
    MemorySegment handles(int slot, List<Tensor> tensors) {
        MemorySegment out = pointers(slot, tensors.size());
        for (int i = 0; i < tensors.size(); i++) out.setAtIndex(ValueLayout.ADDRESS, i, tensors.get(i).handle());
        return out;
    }

    MemorySegment pointers(int slot, int count) {
        MemorySegment current = pointerLists[slot];
        if (current == null || current.byteSize() < (long) count * ValueLayout.ADDRESS.byteSize()) {
            current = arena.allocate(ValueLayout.ADDRESS, Math.max(16, count * 2L));
            pointerLists[slot] = current;
        }
        return current;
    }
}
