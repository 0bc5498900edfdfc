package adept.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class ZeroCopyTest {
    @Test
    void segmentBecomesTensorWithoutCopy() {
        try (Scope scope = Scope.open()) {
            MemorySegment segment = Arena.ofAuto().allocate(ValueLayout.JAVA_FLOAT, 12);
            for (int i = 0; i < 12; i++) segment.setAtIndex(ValueLayout.JAVA_FLOAT, i, i);
            Tensor t = Tensor.fromSegment(segment, DType.FLOAT32, 3, 4);

            assertEquals(segment.address(), t.dataPointer(), "data_ptr must be the segment's address");
            assertArrayEquals(new long[] {3, 4}, t.shape());
            assertEquals(7.0, t.getDouble(1, 3));

            segment.setAtIndex(ValueLayout.JAVA_FLOAT, 5, 42f);  // Java writes, libtorch sees
            assertEquals(42.0, t.getDouble(1, 1));
            assertEquals(42.0 + 66 - 5, t.sum().item(), 1e-4);

            t.mulInPlace(2.0);  // libtorch writes, Java sees
            assertEquals(84f, segment.getAtIndex(ValueLayout.JAVA_FLOAT, 5));
            assertEquals(22f, segment.getAtIndex(ValueLayout.JAVA_FLOAT, 11));
        }
    }

    @Test
    void tensorStorageIsVisibleAsSegment() {
        try (Scope scope = Scope.open()) {
            Tensor t = Tensor.arange(0, 6, 1, DType.FLOAT64, Device.CPU).reshape(2, 3);
            MemorySegment view = t.asSegment();
            assertEquals(t.dataPointer(), view.address());
            assertEquals(6 * 8, view.byteSize());
            assertEquals(4.0, view.getAtIndex(ValueLayout.JAVA_DOUBLE, 4));

            view.setAtIndex(ValueLayout.JAVA_DOUBLE, 4, -1.5);  // Java writes, libtorch sees
            assertEquals(-1.5, t.getDouble(1, 1));
            t.fill(3.0);  // libtorch writes, Java sees
            assertEquals(3.0, view.getAtIndex(ValueLayout.JAVA_DOUBLE, 0));

            // A narrowed view starts at its own first element.
            Tensor column = t.narrow(1, 2, 1);
            assertEquals(t.dataPointer() + 2 * 8, column.dataPointer());
            assertEquals((1 + 3) * 8, column.asSegment().byteSize(), "a strided view spans first to last element");
        }
    }

    @Test
    void segmentStaysPinnedUntilLibtorchReleasesTheStorage() {
        int before = Tensor.pinnedSegments();
        Tensor base;
        Tensor view;
        try (Scope scope = Scope.open()) {
            MemorySegment segment = Arena.ofAuto().allocate(ValueLayout.JAVA_FLOAT, 8);
            base = Tensor.fromSegment(segment, DType.FLOAT32, 8);
            view = base.narrow(0, 2, 4).keep();  // outlives the scope that made the base handle
            assertEquals(before + 1, Tensor.pinnedSegments());
        }
        assertTrue(base.isFreed());
        assertEquals(before + 1, Tensor.pinnedSegments(), "a live view keeps the storage");
        view.close();
        assertEquals(before, Tensor.pinnedSegments(), "freeing the last handle releases the segment");
    }

    @Test
    void emptyTensorsHaveEmptySegments() {
        try (Scope scope = Scope.open()) {
            Tensor empty = Tensor.zeros(DType.FLOAT32, Device.CPU, 0, 3);
            assertEquals(0, empty.asSegment().byteSize());
            assertEquals(0, empty.toFloatArray().length);
        }
    }

    @Test
    void rejectsSegmentsThatCannotBeShared() {
        assertThrows(TorchException.class, () -> Tensor.fromSegment(MemorySegment.ofArray(new float[4]), DType.FLOAT32, 4));
        MemorySegment small = Arena.ofAuto().allocate(8);
        TorchException e = assertThrows(TorchException.class, () -> Tensor.fromSegment(small, DType.FLOAT32, 4));
        assertTrue(e.getMessage().contains("[4]") && e.getMessage().contains("8"), e.getMessage());
    }
}
