package adept.tensor;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class RuntimeTest {
    @Test
    void compiledAndRuntimeVersionsAgree() {
        String compiled = Torch.compiledVersion();
        String runtime = Torch.runtimeVersion();
        assertTrue(compiled.matches("\\d+\\.\\d+\\.\\d+"), compiled);
        assertTrue(NativeLoader.sameRelease(compiled, runtime), compiled + " vs " + runtime);
    }

    @Test
    void releaseComparisonIgnoresBuildSuffixesOnly() {
        assertTrue(NativeLoader.sameRelease("2.11.0", "2.11.0+cu130"));
        assertTrue(NativeLoader.sameRelease("1.13.0", "1.13.0a0"));
        assertFalse(NativeLoader.sameRelease("1.13.0", "2.6.0"));
        assertFalse(NativeLoader.sameRelease("2.6.0", "2.6.1"));
    }

    @Test
    void threadCountIsSetExplicitly() {
        int original = Torch.numThreads();
        try {
            Torch.setNumThreads(1);
            assertEquals(1, Torch.numThreads());
            assertThrows(TorchException.class, () -> Torch.setNumThreads(0));
        } finally {
            Torch.setNumThreads(original);
        }
    }

    @Test
    void cpuIsAlwaysADevice() {
        assertEquals(Device.CPU, Torch.devices().get(0));
        assertEquals(Torch.cudaAvailable() ? Torch.cudaDeviceCount() + 1 : 1, Torch.devices().size());
        assertEquals(Device.cuda(1), Device.parse("cuda:1"));
        assertEquals("cuda:0", Device.parse("cuda").toString());
    }
}
