package adept.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import adept.testing.ChildJvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** adept's CPU block cache (native/adept_cpu_cache.cpp) against hand-computed accounts and the plain allocator. */
class CpuCacheTest {
    private static final long MIB = 1L << 20;

    private Scope scope;

    @BeforeEach
    void start() {
        CpuCache.setEnabled(true);
        CpuCache.release();
        scope = Scope.open();  // tensors closed by hand free at once; the scope only catches what a failure leaves
    }

    @AfterEach
    void end() {
        scope.close();
        CpuCache.setEnabled(true);
        CpuCache.release();
    }

    /** A float32 tensor of exactly mib MiB. */
    private static Tensor block(long mib) {
        return Tensor.empty(DType.FLOAT32, Device.CPU, mib * MIB / 4);
    }

    @Test
    void aFreedBlockServesTheNextTensorOfItsSize() {
        CpuCache.Stats before = CpuCache.stats();
        assertTrue(before.enabled());
        long address;
        try (Tensor a = block(1)) {
            address = a.asSegment().address();
            assertEquals(before.bytesInUse() + MIB, CpuCache.stats().bytesInUse());
        }
        CpuCache.Stats freed = CpuCache.stats();
        assertEquals(before.bytesInUse(), freed.bytesInUse());
        assertEquals(before.bytesCached() + MIB, freed.bytesCached());
        try (Tensor b = block(1)) {
            CpuCache.Stats again = CpuCache.stats();
            assertEquals(b.asSegment().address(), address, "the same pages");
            assertEquals(freed.hits() + 1, again.hits());
            assertEquals(freed.blocksMapped(), again.blocksMapped());
        }
    }

    @Test
    void tensorsBelow256KiBStayWithLibtorchsAllocator() {
        CpuCache.Stats before = CpuCache.stats();
        try (Tensor small = Tensor.empty(DType.FLOAT32, Device.CPU, 65535)) {  // 256 KiB - 4 bytes
            assertEquals(before.bytesInUse(), CpuCache.stats().bytesInUse());
        }
        try (Tensor edge = Tensor.empty(DType.FLOAT32, Device.CPU, 65536)) {  // 256 KiB
            assertEquals(before.bytesInUse() + 256 * 1024, CpuCache.stats().bytesInUse());
        }
    }

    @Test
    void mappedBytesNeverExceedThePeakInUse() {
        // By hand: A, B 4 MiB each in use (peak 8), both freed (8 cached); C 6 MiB is no size the cache holds
        // (more than 1/8 above 4), and 8 cached + 6 > the peak 8: A, then B (least recently freed first) are unmapped.
        CpuCache.Stats start = CpuCache.stats();
        Tensor a = block(4);
        Tensor b = block(4);
        a.close();
        b.close();
        CpuCache.Stats cached = CpuCache.stats();
        assertEquals(8 * MIB, cached.bytesCached());
        assertEquals(start.bytesInUse() + 8 * MIB, cached.peakBytesInUse());
        try (Tensor c = block(6)) {
            CpuCache.Stats s = CpuCache.stats();
            assertEquals(0, s.bytesCached());
            assertEquals(cached.blocksUnmapped() + 2, s.blocksUnmapped());
            assertEquals(cached.blocksMapped() + 1, s.blocksMapped());
            assertEquals(start.bytesInUse() + 8 * MIB, s.peakBytesMapped());
        }
        // D 4 MiB: C (6 MiB) is cached but 1.5x too big to share; 6 cached + 4 <= the peak 8 is false: C goes.
        // E 7 MiB after D is freed: 4 + 7 > 8, D goes.  F 7 MiB: E's block (a hit, no mapping).
        try (Tensor d = block(4)) {
            assertEquals(0, CpuCache.stats().bytesCached());
        }
        block(7).close();
        CpuCache.Stats e = CpuCache.stats();
        assertEquals(7 * MIB, e.bytesCached());
        try (Tensor f = block(7)) {
            assertEquals(e.hits() + 1, CpuCache.stats().hits());
            assertEquals(e.blocksMapped(), CpuCache.stats().blocksMapped());
        }
        CpuCache.release();
        CpuCache.Stats released = CpuCache.stats();
        assertEquals(0, released.bytesCached());
        assertEquals(released.bytesInUse(), released.peakBytesMapped());
    }

    @Test
    void aBlockUpToAnEighthLargerIsShared() {
        block(8).close();
        CpuCache.Stats cached = CpuCache.stats();
        try (Tensor t = Tensor.empty(DType.FLOAT32, Device.CPU, 29 * MIB / 16)) {  // 7.25 MiB: 8 <= 7.25 + 7.25 / 8
            assertEquals(cached.hits() + 1, CpuCache.stats().hits());
            assertEquals(cached.bytesInUse() + 8 * MIB, CpuCache.stats().bytesInUse(), "the block's own size is in use");
        }
    }

    @Test
    void aBlockMoreThanAnEighthLargerIsNot() {
        block(8).close();
        CpuCache.Stats cached = CpuCache.stats();
        try (Tensor t = Tensor.empty(DType.FLOAT32, Device.CPU, 7 * MIB / 4)) {  // 7 MiB: 8 > 7 + 7 / 8
            assertEquals(cached.hits(), CpuCache.stats().hits());
        }
    }

    @Test
    void repeatedStepsMapNothingAfterTheFirst() {
        long[] mappedAfter = new long[6];
        for (int step = 0; step < mappedAfter.length; step++) {
            trainingLikeStep(1);
            mappedAfter[step] = CpuCache.stats().blocksMapped();
        }
        for (int step = 2; step < mappedAfter.length; step++) assertEquals(mappedAfter[1], mappedAfter[step], "step " + step);
    }

    @Test
    void resultsAreBitwiseTheSameAsWithLibtorchsAllocator() {
        float[] cached = trainingLikeStep(7);
        CpuCache.setEnabled(false);
        CpuCache.Stats off = CpuCache.stats();
        float[] plain = trainingLikeStep(7);
        assertEquals(off.blocksMapped(), CpuCache.stats().blocksMapped(), "nothing went through the cache while off");
        assertArrayEquals(plain, cached);
    }

    /** Forward, backward and an update of a 512 x 512 weight over 1 MiB activations; returns the updated weight. */
    private static float[] trainingLikeStep(long seed) {
        try (Scope scope = Scope.open()) {
            Torch.manualSeed(seed);
            Tensor weight = Tensor.randn(DType.FLOAT32, Device.CPU, 512, 512).mul(0.05).detach().requiresGrad(true);
            Tensor x = Tensor.randn(DType.FLOAT32, Device.CPU, 512, 512);
            Tensor loss = x.matmul(weight).silu().matmul(weight).softmax(-1).square().mean();
            loss.backward();
            try (var noGrad = Torch.noGrad()) {
                weight.addInPlace(weight.grad(), -0.1);
            }
            return weight.detach().toFloatArray();
        }
    }

    @Test
    void anUnknownAllocatorChoiceIsOneLineNamingTheVariable(@TempDir Path dir) throws Exception {
        Path log = Files.createTempFile(dir, "child", ".log");
        ChildJvm.Outcome out = ChildJvm.run(ChildJvm.adept(List.of("--version")), Map.of("ADEPT_CPU_ALLOCATOR", "jemalloc"), log, 60);
        assertEquals(2, out.exitCode(), out.output());
        assertTrue(out.output().contains("ADEPT_CPU_ALLOCATOR must be cache or malloc, got 'jemalloc'"), out.output());
        assertTrue(!out.output().contains("\tat "), "no stack trace: " + out.output());
    }
}
