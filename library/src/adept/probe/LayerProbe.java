package adept.probe;

import adept.parallel.ProcessGroup;
import adept.io.data.Batch;
import adept.nn.AttentionContext;
import adept.nn.CausalLM;
import adept.nn.DecoderLayer;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * Stage 1, step 1: how much the general-corpus loss rises when each layer is bypassed.
 *
 * <p>Cached probing: the hidden state entering layer l is the same in the base pass and in
 * every pass that skips a later layer, so the base pass keeps each layer's input and the
 * pass skipping l resumes from the input of l, running only layers l+1.. (about half the
 * work of M+1 full passes). {@link #probePlain} runs the M+1 full passes, as a reference.
 *
 * <p>Bounded cache: M inputs of [B, T, H] are 9.7 GB for an 8B-shaped model (36 layers, hidden 4096) on
 * batches of 8 x 2048 in float32. When a batch's M inputs exceed the cache budget, the base pass keeps only
 * checkpoints, the inputs of every stride-th layer; each segment's other inputs are then recomputed from its
 * checkpoint (the same layer calls on the same tensors: bit-identical inputs, so the same result as the
 * unbounded cache) and the segment's skip passes run before the next segment. At most ceil(M / stride) +
 * stride - 1 inputs are held at once, for at most one extra forward pass over the batch in total.
 */
public final class LayerProbe {
    /** The default cache budget: 4 GiB, all of a 1.7B-shaped model's inputs (28 x [8, 2048, 2048] float32, 3.8 GB), 16 of an 8B's. */
    public static final long DEFAULT_CACHE_BYTES = 4L << 30;
    /** No bound: every layer's input is cached. */
    public static final long UNBOUNDED = Long.MAX_VALUE;

    private final CausalLM model;
    private final long cacheBytes;
    private final Consumer<String> info;
    private int peakCachedInputs;
    private long peakCachedBytes;
    private int maxStride = 1;
    /** Test hook: runs at the start of every skip pass (when the cache holds the most it holds). */
    Runnable onSkipPass;

    /** Probes model (not owned, not changed) under the default cache budget ({@link #DEFAULT_CACHE_BYTES}), silently. */
    public LayerProbe(CausalLM model) {
        this(model, DEFAULT_CACHE_BYTES, null);
    }

    /**
     * Probes model (not owned, not changed), holding at most cacheBytes of layer inputs per batch where that can be
     * met (see {@link #stride}); info (null: nowhere) gets a line when a probe call runs bounded.
     */
    public LayerProbe(CausalLM model, long cacheBytes, Consumer<String> info) {
        if (cacheBytes < 1) throw new IllegalArgumentException("the probe cache budget must be at least 1 byte, got " + cacheBytes);
        this.model = model;
        this.cacheBytes = cacheBytes;
        this.info = info;
    }

    /** The cache budget in bytes ({@link #UNBOUNDED}: none). */
    public long cacheBytes() {
        return cacheBytes;
    }

    /** The most layer inputs the last {@link #probe} call held at once for a batch (M when unbounded). */
    public int peakCachedInputs() {
        return peakCachedInputs;
    }

    /** The most bytes of layer inputs the last {@link #probe} call held at once (within the budget wherever it can be met). */
    public long peakCachedBytes() {
        return peakCachedBytes;
    }

    /** The largest checkpoint stride the last {@link #probe} call used (1: everything cached). */
    public int lastStride() {
        return maxStride;
    }

    /** Inputs held at once with checkpoints every stride layers of layers: ceil(layers / stride) + stride - 1 (layers for stride 1). */
    public static int cachedInputs(int layers, int stride) {
        if (layers == 0) return 0;
        int s = Math.min(Math.max(1, stride), layers);
        return (layers + s - 1) / s + s - 1;
    }

    /**
     * The checkpoint stride for layers inputs of inputBytes each under cacheBytes: 1 (cache everything) when they
     * fit; else the smallest stride whose {@link #cachedInputs} fit (the least recomputation, M - ceil(M / stride)
     * layers); else, when even the fewest do not fit, the stride that holds the fewest (about sqrt(M)).
     */
    public static int stride(int layers, long inputBytes, long cacheBytes) {
        if (layers <= 1) return 1;
        long fit = inputBytes <= 0 ? Long.MAX_VALUE : cacheBytes / inputBytes;
        if (fit >= layers) return 1;
        int best = 2;
        for (int s = 2; s <= layers; s++) {
            if (cachedInputs(layers, s) <= fit) return s;
            if (cachedInputs(layers, s) < cachedInputs(layers, best)) best = s;
        }
        return best;
    }

    /** Bytes of one layer input of batch: B x T x H elements of the model's dtype. */
    long inputBytes(Batch batch) {
        return batch.inputIds().size(0) * batch.inputIds().size(1) * (long) model.config().hiddenSize() * model.dtype().byteSize();
    }

    /** Cached probing over the batches; progress gets one call per finished batch. */
    public LayerImportance probe(List<Batch> batches, IntConsumer progress) {
        return probe(batches, progress, null);
    }

    /**
     * Data parallel: each rank of group probes batches rank, rank + N, ... and the loss sums are added up over
     * the ranks, so every rank gets the one-process result (up to the order of the additions). group null: all here.
     */
    public LayerImportance probe(List<Batch> batches, IntConsumer progress, ProcessGroup group) {
        int layers = model.layers().size();
        int rank = group == null ? 0 : group.rank();
        int ranks = group == null ? 1 : group.size();
        double baseSum = 0;
        double[] skipSums = new double[layers];
        long tokens = 0;
        peakCachedInputs = 0;
        peakCachedBytes = 0;
        maxStride = 1;
        long largest = 0;
        for (int b = rank; b < batches.size(); b += ranks) largest = Math.max(largest, inputBytes(batches.get(b)));
        int widest = stride(layers, largest, cacheBytes);
        if (widest > 1 && info != null) {
            int held = cachedInputs(layers, widest);
            info.accept(String.format(Locale.ROOT, "probe cache bounded: %d layer inputs of %s exceed %s; checkpoints every %d layers, "
                    + "at most %d inputs (%s) held%s, each segment recomputed once", layers, MemorySize.format(largest),
                    MemorySize.format(cacheBytes), widest, held, MemorySize.format(held * largest),
                    held * largest > cacheBytes ? " (the fewest possible: over the budget)" : ""));
        }
        try (var noGrad = Torch.noGrad()) {
            for (int b = rank; b < batches.size(); b += ranks) {
                Batch batch = batches.get(b);
                try (Scope scope = Scope.open()) {
                    int stride = stride(layers, inputBytes(batch), cacheBytes);
                    maxStride = Math.max(maxStride, stride);
                    baseSum += probeBatch(batch, stride, skipSums);
                }
                tokens += batch.targetTokens();
                if (progress != null) progress.accept(b + 1);
            }
        }
        if (ranks > 1) {
            double[] sums = new double[layers + 2];
            sums[0] = baseSum;
            System.arraycopy(skipSums, 0, sums, 1, layers);
            sums[layers + 1] = tokens;
            sums = group.sum(sums);
            baseSum = sums[0];
            System.arraycopy(sums, 1, skipSums, 0, layers);
            tokens = Math.round(sums[layers + 1]);
        }
        return result(baseSum, skipSums, tokens);
    }

    /**
     * One batch: the base pass keeping the inputs of layers 0, stride, 2 stride, ... (every layer's for stride 1),
     * then per segment its other inputs recomputed from its checkpoint and its skip passes; adds each skip pass's loss
     * sum to skipSums and returns the base pass's. Every input is freed once its skip pass is done.
     */
    private double probeBatch(Batch batch, int stride, double[] skipSums) {
        int layers = model.layers().size();
        AttentionContext context = model.attentionContext(batch.inputIds().size(1), batch.attentionMask());
        Tensor[] inputs = new Tensor[layers];  // inputs[l] enters layer l, while held
        int[] held = {0};
        long inputBytes = inputBytes(batch);
        Tensor hidden = model.embed(batch.inputIds());
        for (int l = 0; l < layers; l++) {
            boolean checkpoint = l % stride == 0;
            if (checkpoint) hold(inputs, l, hidden, held, inputBytes);
            Tensor next = CausalLM.forwardLayer(model.layers().get(l), hidden, context);
            if (!checkpoint) hidden.close();
            hidden = next;
        }
        double base = lossSum(hidden, batch);
        hidden.close();  // the last layer's output (the embedding without layers): never a held input
        for (int start = 0; start < layers; start += stride) {
            int end = Math.min(layers, start + stride);
            for (int l = start; l < end - 1; l++) hold(inputs, l + 1, CausalLM.forwardLayer(model.layers().get(l), inputs[l], context), held,
                    inputBytes);
            for (int skipped = start; skipped < end; skipped++) {
                if (onSkipPass != null) onSkipPass.run();
                Tensor h = inputs[skipped];
                for (int l = skipped + 1; l < layers; l++) {
                    Tensor next = CausalLM.forwardLayer(model.layers().get(l), h, context);
                    if (h != inputs[skipped]) h.close();
                    h = next;
                }
                skipSums[skipped] += lossSum(h, batch);
                if (h != inputs[skipped]) h.close();
                inputs[skipped].close();
                inputs[skipped] = null;
                held[0]--;
            }
        }
        return base;
    }

    private void hold(Tensor[] inputs, int layer, Tensor input, int[] held, long inputBytes) {
        inputs[layer] = input;
        held[0]++;
        peakCachedInputs = Math.max(peakCachedInputs, held[0]);
        peakCachedBytes = Math.max(peakCachedBytes, held[0] * inputBytes);
    }

    /** The reference: M+1 full forward passes per batch (base, then each layer skipped). */
    public LayerImportance probePlain(List<Batch> batches) {
        int layers = model.layers().size();
        double baseSum = 0;
        double[] skipSums = new double[layers];
        long tokens = 0;
        try (var noGrad = Torch.noGrad()) {
            for (Batch batch : batches) {
                for (int skipped = -1; skipped < layers; skipped++) {
                    try (Scope pass = Scope.open()) {
                        AttentionContext context = model.attentionContext(batch.inputIds().size(1), batch.attentionMask());
                        Tensor h = model.embed(batch.inputIds());
                        for (int l = 0; l < layers; l++) if (l != skipped) h = CausalLM.forwardLayer(model.layers().get(l), h, context);
                        double sum = lossSum(h, batch);
                        if (skipped < 0) baseSum += sum;
                        else skipSums[skipped] += sum;
                    }
                }
                tokens += batch.targetTokens();
            }
        }
        return result(baseSum, skipSums, tokens);
    }

    private LayerImportance result(double baseSum, double[] skipSums, long tokens) {
        if (tokens == 0) throw new IllegalArgumentException("the probe batches have no target tokens");
        double[] skip = new double[skipSums.length];
        for (int l = 0; l < skip.length; l++) skip[l] = skipSums[l] / tokens;
        return new LayerImportance(baseSum / tokens, skip, tokens);
    }

    /** Summed next-token cross-entropy over the batch's target tokens (a token-weighted corpus mean needs sums). */
    private double lossSum(Tensor finalHidden, Batch batch) {
        try (Scope scope = Scope.open()) {  // the target rows and the sum go at once
            return model.targetLossSum(finalHidden, batch.predictingRows(), batch.predictedIds()).item();
        }
    }
}
