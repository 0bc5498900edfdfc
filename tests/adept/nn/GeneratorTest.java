package adept.nn;

import static org.junit.jupiter.api.Assertions.*;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class GeneratorTest {
    private static final ModelConfig SHORT_CONTEXT =
            ModelConfig.builder(Architecture.LLAMA).vocabSize(40).hiddenSize(32).intermediateSize(48).numHiddenLayers(2)
                    .numAttentionHeads(4).numKeyValueHeads(2).headDim(8).rmsNormEps(1e-5).maxPositionEmbeddings(16).build();

    /** Greedy decoding by full forward passes over the whole (short) sequence: the reference. */
    private static long[] greedyWithoutCache(CausalLM model, long[] prompt, int steps) {
        long[] sequence = Arrays.copyOf(prompt, prompt.length + steps);
        int length = prompt.length;
        try (var noGrad = Torch.noGrad()) {
            for (int i = 0; i < steps; i++) {
                try (Scope scope = Scope.open()) {
                    Tensor logits = model.forward(Tensor.of(Arrays.copyOf(sequence, length), 1, length), null);
                    sequence[length] = (long) logits.select(1, length - 1).argmax(-1, false).item();
                    length++;
                }
            }
        }
        return Arrays.copyOfRange(sequence, prompt.length, length);
    }

    @Test
    void cachedGreedyEqualsFullPassesAndRunsPastTheContext() {
        try (CausalLM model = CausalLM.random(SHORT_CONTEXT, 3, 0.5, DType.FLOAT32, Device.CPU)) {
            long[] prompt = {1, 7, 3};
            long[] generated = new Generator(model).generate(prompt, 40, Sampler.greedy(), null, null);
            assertEquals(40, generated.length, "generation continues past max_position_embeddings by restarting the cache");
            // within the context window the cached decode is exactly the full-pass decode
            long[] reference = greedyWithoutCache(model, prompt, 16 - prompt.length);
            assertArrayEquals(reference, Arrays.copyOf(generated, reference.length));
        }
    }

    /** A huge limit allocates as tokens come: Integer.MAX_VALUE with a stop after 5 tokens is fine (was NegativeArraySizeException). */
    @Test
    void aHugeTokenLimitDoesNotAllocateUpFront() {
        try (CausalLM model = CausalLM.random(SHORT_CONTEXT, 3, 0.5, DType.FLOAT32, Device.CPU)) {
            int[] count = {0};
            long[] generated = new Generator(model).generate(new long[] {1, 2}, Integer.MAX_VALUE, new Sampler(0, 1, 1), t -> ++count[0] >= 5000,
                    null);
            assertEquals(5000, generated.length, "grows past the first buffer and the context");
            assertThrows(ModelException.class, () -> new Generator(model).generate(new long[] {1}, -1, new Sampler(0, 1, 1), null, null));
        }
    }
}
