package adept.nn;

import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.Arrays;
import java.util.function.IntPredicate;

/** Autoregressive generation for a quick look at a model (one sequence; recomputes the prefix each token). */
public final class Generator {
    private final CausalLM model;

    public Generator(CausalLM model) {
        this.model = model;
    }

    /**
     * Extends prompt by up to maxNewTokens ids, stopping after a token for which stop is
     * true. Returns only the new ids. The context is cut to max_position_embeddings.
     */
    public long[] generate(long[] prompt, int maxNewTokens, Sampler sampler, IntPredicate stop, java.util.function.IntConsumer onToken) {
        if (prompt.length == 0) throw new ModelException("generation needs a non-empty prompt");
        long[] sequence = Arrays.copyOf(prompt, prompt.length + maxNewTokens);
        int length = prompt.length;
        int window = model.config().maxPositionEmbeddings();
        try (var noGrad = Torch.noGrad()) {
            for (int i = 0; i < maxNewTokens; i++) {
                int start = Math.max(0, length - window);
                float[] last;
                try (Scope scope = Scope.open()) {
                    Tensor ids = Tensor.of(Arrays.copyOfRange(sequence, start, length), 1, length - start).to(model.device());
                    Tensor logits = model.forward(ids, null);
                    last = logits.select(1, length - start - 1).select(0, 0).toFloatArray();
                }
                int token = sampler.next(last);
                sequence[length++] = token;
                if (onToken != null) onToken.accept(token);
                if (stop != null && stop.test(token)) break;
            }
        }
        return Arrays.copyOfRange(sequence, prompt.length, length);
    }
}
