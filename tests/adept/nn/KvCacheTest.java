package adept.nn;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.Checkpoint;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Incremental decoding with cached keys and values gives the logits of a full forward pass. */
class KvCacheTest {
    @ParameterizedTest
    @ValueSource(strings = {"llama", "llama_tied", "qwen2", "qwen3", "gemma2", "gemma3"})  // Gemma: 14 tokens, windows 4 and 5
    void cachedChunksEqualTheFullPass(String name) {
        try (CausalLM model = Checkpoint.load(Path.of("tests/fixtures/golden", name), DType.FLOAT32, Device.CPU);
             var noGrad = Torch.noGrad(); Scope scope = Scope.open(); KvCache cache = new KvCache(model.layers().size())) {
            long[] ids = {5, 9, 17, 3, 22, 8, 1, 30, 12, 7, 19, 4, 25, 11};
            Tensor full = model.forward(Tensor.of(ids, 1, ids.length), null);
            int[] chunks = {5, 1, 3, 1, 1, 3};  // a prompt, then tokens one by one and in small groups
            int at = 0;
            for (int chunk : chunks) {
                Tensor part = Tensor.of(java.util.Arrays.copyOfRange(ids, at, at + chunk), 1, chunk);
                Tensor logits = model.forwardCached(part, cache);
                double error = logits.sub(full.narrow(1, at, chunk)).abs().max().item();
                assertTrue(error < 1e-5, name + ": positions " + at + ".." + (at + chunk - 1) + " differ by " + error);
                at += chunk;
            }
            assertEquals(ids.length, cache.length());
        }
    }
}
