package adept.probe;

import adept.dist.ProcessGroup;
import adept.io.data.Batch;
import adept.nn.AttentionContext;
import adept.nn.CausalLM;
import adept.nn.DecoderLayer;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * Stage 1, step 1: how much the general-corpus loss rises when each layer is bypassed.
 *
 * <p>Cached probing: the hidden state entering layer l is the same in the base pass and in
 * every pass that skips a later layer, so the base pass keeps each layer's input and the
 * pass skipping l resumes from the input of l, running only layers l+1.. (about half the
 * work of M+1 full passes). {@link #probePlain} runs the M+1 full passes, as a reference.
 */
public final class LayerProbe {
    private final CausalLM model;

    /** Probes model (not owned, not changed). */
    public LayerProbe(CausalLM model) {
        this.model = model;
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
        try (var noGrad = Torch.noGrad()) {
            for (int b = rank; b < batches.size(); b += ranks) {
                Batch batch = batches.get(b);
                try (Scope scope = Scope.open()) {
                    AttentionContext context = model.attentionContext(batch.inputIds().size(1), batch.attentionMask());
                    List<Tensor> inputs = new ArrayList<>(layers + 1);  // inputs.get(l) enters layer l
                    Tensor hidden = model.embed(batch.inputIds());
                    for (DecoderLayer layer : model.layers()) {
                        inputs.add(hidden);
                        hidden = CausalLM.forwardLayer(layer, hidden, context);
                    }
                    baseSum += lossSum(hidden, batch);
                    for (int skipped = 0; skipped < layers; skipped++) {
                        try (Scope pass = Scope.open()) {
                            Tensor h = inputs.get(skipped);
                            for (int l = skipped + 1; l < layers; l++) h = CausalLM.forwardLayer(model.layers().get(l), h, context);
                            skipSums[skipped] += lossSum(h, batch);
                        }
                    }
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
        return model.targetLossSum(finalHidden, batch.predictingRows(), batch.predictedIds()).item();
    }
}
