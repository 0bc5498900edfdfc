package adept.tensor;

import static org.junit.jupiter.api.Assertions.*;

import adept.bindings.adept_torch_h;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Bad input gives a TorchException with a readable message, never a JVM crash. */
class ErrorsTest {
    private static void fails(Executable call, String... fragments) {
        try (Scope scope = Scope.open()) {
            TorchException e = assertThrows(TorchException.class, call);
            for (String f : fragments) assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' should mention " + f);
        }
    }

    @Test
    void wrongShapes() {
        fails(() -> Tensor.ones(2, 3).matmul(Tensor.ones(4, 5)), "2x3", "4x5");
        fails(() -> Tensor.ones(2, 3).add(Tensor.ones(4)), "size");
        fails(() -> Tensor.ones(6).view(4, 2), "shape");
        fails(() -> Tensor.of(new float[] {1, 2, 3}, 2, 2), "[2, 2]", "3 values");
        fails(() -> Tensor.ones(2, 3).getDouble(2, 0), "out of bounds", "[2, 3]");
        fails(() -> Tensor.ones(2, 3).size(5), "dimension 5");
    }

    @Test
    void wrongDtypes() {
        fails(() -> Tensor.ones(3, 4).embedding(Tensor.ones(2)), "Long");  // float indices
        fails(() -> Tensor.ones(3, 4).crossEntropy(Tensor.ones(3)), "");   // float targets of the wrong shape
        fails(() -> Tensor.ones(DType.INT64, Device.CPU, 2).sqrtInPlace(), "");
        fails(() -> DType.parse("float8"), "float8");
        // a dtype code the shim does not accept, through the raw bindings
        Torch.init();
        MemorySegment h = adept_torch_h.at_scalar_tensor(1.0, 99, 0, 0);
        assertEquals(0, h.address());
        assertTrue(Check.takeError().contains("dtype code 99"));
    }

    @Test
    void freedAndNullHandles() {
        Tensor t;
        try (Scope scope = Scope.open()) {
            t = Tensor.ones(2).keep();  // the caller's to close
        }
        t.close();
        fails(() -> t.add(t), "freed");
        t.close();  // closing twice is harmless
        Tensor kept;
        try (Scope scope = Scope.open()) {
            kept = Tensor.ones(2);
        }
        fails(() -> kept.sum(), "freed");
        // null handles through the raw bindings reach the shim's own checks
        MemorySegment r = adept_torch_h.at_add(MemorySegment.NULL, MemorySegment.NULL, 1.0);
        assertEquals(0, r.address());
        assertTrue(Check.takeError().contains("null tensor handle"));
        assertEquals(-1, adept_torch_h.at_zero_(MemorySegment.NULL));
        assertTrue(Check.takeError().contains("null"));
    }

    @Test
    void freedHandlesStayStaleAfterTheirSlotIsReused() {
        Tensor first;
        try (Scope scope = Scope.open()) {
            first = Tensor.ones(2).keep();  // the caller's to close
        }
        MemorySegment stale = first.handle();
        first.close();
        try (Scope scope = Scope.open()) {
            java.util.List<Tensor> fresh = new java.util.ArrayList<>();
            for (int i = 0; i < 16; i++) fresh.add(Tensor.zeros(2));  // the allocator reuses what was freed first
            assertEquals(0, adept_torch_h.at_sum(stale).address(), "a freed handle never reaches a newer tensor");
            assertTrue(Check.takeError().contains("stale"));
            assertEquals(-1, adept_torch_h.at_free(stale), "freeing twice through the shim is reported");
            assertTrue(Check.takeError().contains("stale"));
            assertEquals(0.0, fresh.get(0).sum().item(), "the newer tensors are untouched");
        }
        MemorySegment forged = MemorySegment.ofAddress(0x7fff_0000_1234L);
        assertEquals(0, adept_torch_h.at_sum(forged).address());
        assertTrue(Check.takeError().contains("invalid"));
    }

    @Test
    void everyCallStartsWithAClearErrorChannel() {
        assertEquals(0, adept_torch_h.at_add(MemorySegment.NULL, MemorySegment.NULL, 1.0).address());  // leaves a message
        try (Scope scope = Scope.open()) {
            // at_grad returns NULL without a message for a tensor without .grad; the old message must not surface here
            assertNull(Tensor.ones(2).grad());
        }
        assertNull(Check.takeError());
    }

    @Test
    void freedOptimizersAreRefused() {
        try (Scope scope = Scope.open()) {
            Tensor p = Tensor.ones(2).requiresGrad(true);
            TorchOptimizer optimizer = TorchOptimizer.adamW(java.util.List.of(p), 0.1, 0.9, 0.999, 1e-8, 0);
            MemorySegment handle = optimizer.rawHandle();
            optimizer.close();
            TorchOptimizer other = TorchOptimizer.adamW(java.util.List.of(p), 0.1, 0.9, 0.999, 1e-8, 0);
            assertEquals(-1, adept_torch_h.at_test_optimizer_step(handle));
            assertTrue(Check.takeError().contains("stale"));
            assertEquals(-1, adept_torch_h.at_test_optimizer_free(handle));
            Check.takeError();
            other.close();
        }
    }

    @Test
    void unknownDevices() {
        fails(() -> Device.parse("tpu"), "unknown device 'tpu'");
        fails(() -> Device.parse("cuda:x"), "cuda:x");
        int count = Torch.cudaDeviceCount();
        fails(() -> Tensor.zeros(DType.FLOAT32, Device.cuda(count + 7), 2), "cuda:" + (count + 7));
        fails(() -> Tensor.ones(2).to(Device.cuda(count + 7)), "cuda:" + (count + 7));
    }

    @Test
    void errorsDoNotLeakHandlesOrPoisonLaterCalls() {
        long before = adept.testing.LiveTensors.settled();
        for (int i = 0; i < 100; i++) {
            fails(() -> Tensor.ones(2, 3).matmul(Tensor.ones(4, 5)));
        }
        assertEquals(before, Torch.liveTensors());
        try (Scope scope = Scope.open()) {
            assertEquals(6.0, Tensor.ones(2, 3).sum().item());
        }
    }

    @Test
    void scopesCloseInnermostFirst() {
        Scope outer = Scope.open();
        Scope inner = Scope.open();
        try {
            fails(outer::close, "innermost");
        } finally {
            inner.close();
            outer.close();
        }
    }
}
