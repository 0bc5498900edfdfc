package adept.eval;

import adept.io.data.Batch;
import adept.io.data.Example;
import adept.nn.CausalLM;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.List;

/**
 * Token-weighted mean next-token cross-entropy of a model over tokenized examples: the sum of the
 * cross-entropy of every target token (padding and non-target tokens never count) divided by the number
 * of targets, so the result does not depend on how the examples are batched.
 */
public final class Perplexity {
    private Perplexity() {}

    /** The outcome of an evaluation; loss is in nats per target token. */
    public record Result(double loss, long tokens, int examples, int batches, double seconds) {
        /** exp(mean loss). */
        public double perplexity() {
            return Math.exp(loss);
        }

        /** Target tokens evaluated per second. */
        public double tokensPerSecond() {
            return tokens / Math.max(seconds, 1e-9);
        }
    }

    /** Called after each batch with the running totals. */
    @FunctionalInterface
    public interface Progress {
        /** After each batch: its number, the count, the loss sum and target tokens so far. */
        void batchDone(int batch, int batches, double lossSum, long tokens);
    }

    /**
     * Evaluates examples in order, batchSize at a time (right-padded with padId). Logits, computed
     * only where a target is predicted, are upcast to float32 for the cross-entropy; the per-batch
     * sums are accumulated in double precision.
     */
    public static Result evaluate(CausalLM model, List<Example> examples, int batchSize, long padId, Progress progress) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        long start = System.nanoTime();
        int batches = (examples.size() + batchSize - 1) / batchSize;
        double lossSum = 0;
        long tokens = 0;
        try (var noGrad = Torch.noGrad()) {
            for (int b = 0; b < batches; b++) {
                List<Example> slice = examples.subList(b * batchSize, Math.min(examples.size(), (b + 1) * batchSize));
                try (Scope scope = Scope.open()) {
                    Batch batch = Batch.of(slice, padId, model.device());
                    if (batch.targetTokens() > 0) {
                        Tensor hidden = model.hidden(batch.inputIds(), batch.attentionMask());
                        lossSum += model.targetLossSum(hidden, batch.predictingRows(), batch.predictedIds()).item();
                        tokens += batch.targetTokens();
                    }
                }
                if (progress != null) progress.batchDone(b + 1, batches, lossSum, tokens);
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        return new Result(tokens == 0 ? Double.NaN : lossSum / tokens, tokens, examples.size(), batches, seconds);
    }
}
