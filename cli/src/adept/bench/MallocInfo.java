package adept.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * glibc malloc's own account (mallinfo2, summed over all arenas): how much of the resident memory is the allocator's
 * heap, and how much of that heap is free chunks it keeps rather than returns, which is what an allocator setting
 * changes. Absent where the C library has no mallinfo2 (not glibc, or glibc before 2.33).
 *
 * @param heapBytes bytes in the arenas' heaps (sbrk and heap mappings; arena)
 * @param freeBytes free chunks inside those heaps, the top chunk included (fordblks)
 * @param freeChunks how many free chunks (ordblks): many small ones mean fragmentation, not a big reusable top
 * @param mappedBytes blocks above the mmap threshold, each its own mapping (hblkhd)
 */
record MallocInfo(long heapBytes, long freeBytes, long freeChunks, long mappedBytes) {
    // struct mallinfo2 { size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost; }
    private static final MemoryLayout MALLINFO2 = MemoryLayout.structLayout(ValueLayout.JAVA_LONG.withName("arena"),
            ValueLayout.JAVA_LONG.withName("ordblks"), ValueLayout.JAVA_LONG.withName("smblks"), ValueLayout.JAVA_LONG.withName("hblks"),
            ValueLayout.JAVA_LONG.withName("hblkhd"), ValueLayout.JAVA_LONG.withName("usmblks"), ValueLayout.JAVA_LONG.withName("fsmblks"),
            ValueLayout.JAVA_LONG.withName("uordblks"), ValueLayout.JAVA_LONG.withName("fordblks"), ValueLayout.JAVA_LONG.withName("keepcost"));
    private static final Optional<MethodHandle> MALLINFO = Linker.nativeLinker().defaultLookup().find("mallinfo2")
            .map(f -> Linker.nativeLinker().downcallHandle(f, FunctionDescriptor.of(MALLINFO2)));

    static Optional<MallocInfo> read() {
        if (MALLINFO.isEmpty()) return Optional.empty();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = (MemorySegment) MALLINFO.get().invokeExact((SegmentAllocator) arena);
            return Optional.of(new MallocInfo(field(m, 0), field(m, 8), field(m, 1), field(m, 4)));
        } catch (Throwable t) {
            return Optional.empty();
        }
    }

    private static long field(MemorySegment m, int index) {
        return m.getAtIndex(ValueLayout.JAVA_LONG, index);
    }
}
