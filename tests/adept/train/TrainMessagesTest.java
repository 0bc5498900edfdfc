package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.TorchException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 20, messages: a training step too large for memory names the settings that size it and the memory asked for. */
class TrainMessagesTest {
    @TempDir
    Path dir;

    @Test
    void libtorchsAllocationFailureNamesTheBatchSettingsAndTheBytes() throws Exception {
        TorchException raw;
        try (Scope scope = Scope.open()) {
            // 2^50 bytes: refused by the allocator at once (nothing is touched)
            raw = assertThrows(TorchException.class, () -> Tensor.empty(DType.FLOAT32, Device.CPU, 1L << 48));
        }
        assertTrue(raw.getMessage().contains("can't allocate memory"), "libtorch's own text: " + raw.getMessage());
        TrainSettings s = TrainFixtures.settings(dir, "full").toBuilder().batchSize(100_000).build();
        TrainException e = OutOfMemory.explain(raw, s, 2, 64).orElseThrow();
        assertEquals("out of memory on cpu: libtorch could not allocate 1,125,899,906,842,624 bytes (1048576.0 GiB); a micro-batch holds "
                + "batch_size 100000 / 2 ranks x block_size 64 = 3,200,000 tokens at once: lower --batch-size (batch_size) or --block-size "
                + "(block_size); --grad-accum keeps the tokens per optimizer step", e.getMessage());
        TorchException cuda = new TorchException("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.1 GiB total capacity)");
        assertTrue(OutOfMemory.explain(cuda, s, 1, 64).orElseThrow().getMessage().contains("could not allocate 2.00 GiB"));
        assertTrue(OutOfMemory.explain(new TorchException("shape mismatch"), s, 1, 64).isEmpty(), "other errors pass unchanged");
    }

    @Test
    void aMicroBatchOverAnArraysLengthIsRefusedBeforeAnyWork() throws Exception {
        TrainSettings s = TrainFixtures.settings(dir, "full").toBuilder().batchSize(200_000_000).blockSize(16).build();
        TrainException e = assertThrows(TrainException.class, () -> new Trainer(s).run());
        assertTrue(e.getMessage().startsWith("batch_size 200000000 x block_size 16 is 3,200,000,000 tokens in one micro-batch"), e.getMessage());
        assertTrue(e.getMessage().contains("--batch-size"), e.getMessage());
    }
}
