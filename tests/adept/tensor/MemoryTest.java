package adept.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import adept.testing.ProcessMemory;
import org.junit.jupiter.api.Test;

/** Scopes free what they own: live handle counts return to their start and resident memory stays flat. */
class MemoryTest {

    /** One training-like step: forward, backward, an in-place update; everything temporary dies with the scope. */
    private static void step(Tensor weight) {
        try (Scope scope = Scope.open()) {
            Tensor x = Tensor.randn(DType.FLOAT32, Device.CPU, 64, 256);
            Tensor loss = x.matmul(weight).silu().square().mean();
            loss.backward();
            try (var noGrad = Torch.noGrad()) {
                weight.addInPlace(weight.grad(), -1e-3);
            }
            weight.setGrad(null);
            Tensor.cat(java.util.List.of(x, x), 0).softmax(-1).sum().item();
        }
    }

    @Test
    void thousandIterationsLeaveNoHandlesAndFlatMemory() throws IOException {
        long liveAtStart = Torch.liveTensors();
        Tensor initial;
        try (Scope init = Scope.open()) {
            initial = Tensor.randn(DType.FLOAT32, Device.CPU, 256, 256).mul(0.05).keep();
        }
        try (Tensor weight = initial) {
            weight.requiresGrad(true);
            for (int i = 0; i < 1000; i++) step(weight);  // warm up allocator caches and the JIT (it mallocs too)
            System.gc();
            long rssBefore = ProcessMemory.residentKiB();
            long mallocBefore = ProcessMemory.mallocInUseBytes();
            for (int i = 0; i < 1000; i++) step(weight);
            System.gc();
            long rssAfter = ProcessMemory.residentKiB();
            assertEquals(liveAtStart + 1, Torch.liveTensors(), "only the kept weight is alive");
            long growthKiB = rssAfter - rssBefore;
            long mallocGrowth = ProcessMemory.mallocInUseBytes() - mallocBefore;
            System.out.printf("MemoryTest: RSS %d KiB -> %d KiB over 1000 steps (%+d KiB), native heap in use %+d bytes%n",
                    rssBefore, rssAfter, growthKiB, mallocGrowth);
            // The JVM mallocs too (JIT, GC): a few MB of noise; a per-step leak of one small tensor would exceed it.
                assertTrue(mallocGrowth < 4 * 1024 * 1024, "native heap in use grew by " + mallocGrowth + " bytes");
            assertTrue(growthKiB < 8 * 1024, "resident memory grew by " + growthKiB + " KiB over 1000 steps");
        }
        assertEquals(liveAtStart, Torch.liveTensors());
    }

    @Test
    void keepAndPromoteMoveOwnership() {
        long start = Torch.liveTensors();
        Tensor kept;
        Tensor promoted;
        try (Scope outer = Scope.open()) {
            try (Scope inner = Scope.open()) {
                kept = Tensor.ones(3).keep();
                promoted = inner.promote(Tensor.ones(4));
                Tensor dropped = Tensor.ones(5);
                assertEquals(start + 3, Torch.liveTensors());
            }
            assertFalse(kept.isFreed());
            assertFalse(promoted.isFreed(), "promoted tensors live until the enclosing scope ends");
            assertEquals(start + 2, Torch.liveTensors());
        }
        assertTrue(promoted.isFreed());
        assertFalse(kept.isFreed());
        kept.close();
        assertEquals(start, Torch.liveTensors());
    }

    @Test
    void closingEarlyInsideAScopeIsSafe() {
        long start = Torch.liveTensors();
        try (Scope scope = Scope.open()) {
            Tensor a = Tensor.ones(3);
            a.close();
            Tensor b = a.isFreed() ? Tensor.zeros(3) : null;
            assertNotNull(b);
        }
        assertEquals(start, Torch.liveTensors());
    }
}
