package adept.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The same code on cuda:0, checked against the CPU. Skipped where libtorch sees no GPU,
 * unless ADEPT_REQUIRE_CUDA=1 (the GPU check script), which turns a missing GPU into a failure.
 */
class CudaTest {
    private static final Device GPU = Device.cuda(0);
    private Scope scope;

    @BeforeEach
    void requireGpu() {
        boolean required = "1".equals(System.getenv("ADEPT_REQUIRE_CUDA"));
        if (required) assertTrue(Torch.cudaAvailable(), "ADEPT_REQUIRE_CUDA=1 but libtorch sees no CUDA device");
        Assumptions.assumeTrue(Torch.cudaAvailable(), "no CUDA device visible to libtorch");
        scope = Scope.open();
    }

    @AfterEach
    void close() {
        if (scope != null) scope.close();
    }

    @Test
    void creationAndMovesKeepValues() {
        Tensor cpu = Tensor.randn(DType.FLOAT32, Device.CPU, 33, 17);
        Tensor gpu = cpu.to(GPU);
        assertEquals(GPU, gpu.device());
        assertArrayEquals(cpu.toFloatArray(), gpu.toFloatArray());
        assertEquals(GPU, Tensor.zeros(DType.BFLOAT16, GPU, 4).device());
        assertEquals(12.0, Tensor.ones(DType.FLOAT32, GPU, 3, 4).sum().item());
        assertEquals(-2.0, Tensor.full(-2, DType.FLOAT32, GPU, 2, 2).getDouble(1, 1));
        assertThrows(TorchException.class, gpu::asSegment);
    }

    @Test
    void opsMatchCpu() {
        Tensor a = Tensor.randn(DType.FLOAT64, Device.CPU, 8, 16);
        Tensor b = Tensor.randn(DType.FLOAT64, Device.CPU, 16, 4);
        Assert.close(a.matmul(b), a.to(GPU).matmul(b.to(GPU)), 1e-10);
        Assert.close(a.softmax(-1), a.to(GPU).softmax(-1), 1e-12);
        Tensor targets = Tensor.of(new long[] {0, 3, 15, -100, 2, 2, 1, 0});
        assertEquals(a.crossEntropy(targets).item(), a.to(GPU).crossEntropy(targets.to(GPU)).item(), 1e-10);
        Tensor q = Tensor.randn(DType.FLOAT32, Device.CPU, 2, 4, 8, 16);
        Assert.close(Tensor.scaledDotProductAttention(q, q, q, null, true, 0),
                Tensor.scaledDotProductAttention(q.to(GPU), q.to(GPU), q.to(GPU), null, true, 0), 1e-4);
    }

    @Test
    void autogradAndForeachOnDevice() {
        Tensor w = Tensor.of(new double[] {1, -2, 3}).to(GPU).requiresGrad(true);
        w.square().sum().backward();
        Tensor g = w.grad();
        assertEquals(GPU, g.device());
        assertArrayEquals(new double[] {2, -4, 6}, g.toDoubleArray());
        List<Tensor> ps = List.of(w.detach());
        Foreach.addInPlace(ps, List.of(g), -0.5);
        assertArrayEquals(new double[] {0, 0, 0}, w.toDoubleArray());
    }

    @Test
    void memoryQueriesSeeAllocations() {
        long before = Torch.cudaMemoryAllocated(GPU);
        Assumptions.assumeTrue(before >= 0, "shim built without CUDA memory statistics");
        Tensor big = Tensor.empty(DType.FLOAT32, GPU, 1024, 1024);
        Torch.cudaSynchronize(GPU);
        assertTrue(Torch.cudaMemoryAllocated(GPU) >= before + 4L * 1024 * 1024);
        assertTrue(Torch.cudaMaxMemoryAllocated(GPU) >= Torch.cudaMemoryAllocated(GPU));
        big.close();
    }
}
