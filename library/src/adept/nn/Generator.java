package adept.nn;

import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.Arrays;
import java.util.function.IntPredicate;

/**
 * Autoregressive generation for a quick look at a model: one sequence, keys and values
 * cached so each new token costs one position. When the context reaches
 * max_position_embeddings, the cache restarts from the most recent half of it.
 */
public final class Generator {
    private final CausalLM model;

    /** Generation with model (not owned: the caller closes it). */
    public Generator(CausalLM model) {
        this.model = model;
    }

    /**
     * Extends prompt by up to maxNewTokens ids, stopping after a token for which stop is
     * true. Returns only the new ids.
     */
    public long[] generate(long[] prompt, int maxNewTokens, Sampler sampler, IntPredicate stop, java.util.function.IntConsumer onToken) {
        if (prompt.length == 0) throw new ModelException("generation needs a non-empty prompt");
        if (maxNewTokens < 0) throw new ModelException("maxNewTokens must be >= 0, got " + maxNewTokens);
        // Grown as tokens come, not sized by maxNewTokens up front (a huge limit must not allocate gigabytes).
        long[] sequence = Arrays.copyOf(prompt, prompt.length + (int) Math.min(maxNewTokens, 1024));
        int length = prompt.length;
        int window = model.config().maxPositionEmbeddings();
        KvCache cache = new KvCache(model.layers().size());
        try (var noGrad = Torch.noGrad()) {
            int fed = 0;  // tokens of sequence[0..length) already in the cache
            for (int i = 0; i < maxNewTokens; i++) {
                if (length - fed + cache.length() > window) {
                    cache.close();  // restart from the recent context
                    fed = length - Math.max(1, window / 2);
                }
                if (cache.length() == 0 && length - fed > window) fed = length - window;
                float[] last;
                try (Scope scope = Scope.open()) {
                    Tensor ids = Tensor.of(Arrays.copyOfRange(sequence, fed, length), 1, length - fed).to(model.device());
                    Tensor logits = model.forwardCached(ids, cache);
                    last = logits.select(1, length - fed - 1).select(0, 0).toFloatArray();
                }
                fed = length;
                int token = sampler.next(last);
                if (length == sequence.length) sequence = Arrays.copyOf(sequence, (int) Math.min(Integer.MAX_VALUE - 8, 2L * sequence.length));
                sequence[length++] = token;
                if (onToken != null) onToken.accept(token);
                if (stop != null && stop.test(token)) break;
            }
        } finally {
            cache.close();
        }
        return Arrays.copyOfRange(sequence, prompt.length, length);
    }
}
