package adept.tune;

import adept.parallel.ProcessGroup;
import adept.io.data.Batch;
import adept.nn.AttentionContext;
import adept.nn.CausalLM;
import adept.optim.GradientSource;
import adept.optim.Parameter;
import adept.optim.SplitRateOptimizer;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Stage 2 on one model: the trainable tensors (everything else frozen: requires_grad off, never
 * updated), their units, a split-rate optimizer over them, and the importance refresh that sets per-unit
 * rates. With adaptive off (the uniform-rate baselines) refreshes are not run and every unit trains at
 * the base rate. The model stays the caller's; the optimizer is this object's.
 */
public final class DecoupledTuning implements AutoCloseable {
    private final CausalLM model;
    private final UnitMap units;
    private final RatePolicy policy;
    private final boolean adaptive;
    private final SplitRateOptimizer optimizer;
    private final Map<String, Tensor> trainable;
    private final int firstRecordedLayer;
    private RatePolicy.Assignment assignment;
    private int checkpointLayers;
    /** Test hook: runs after the forward pass (loss known, nothing backpropagated) and before each segment's backward. */
    Runnable onMemoryPeak;

    /**
     * Stage 2 over model's named trainable tensors: units of granularity, rates by policy (when adaptive), one
     * split-rate optimizer from optimizerFactory (e.g. {@code AdamW.factory(settings)}); the other parameters are frozen.
     */
    public DecoupledTuning(CausalLM model, List<String> trainableNames, Granularity granularity, RatePolicy policy,
                           SplitRateOptimizer.Factory optimizerFactory, boolean adaptive) {
        this.model = model;
        this.policy = policy;
        this.adaptive = adaptive;
        Map<String, Tensor> all = model.parametersAndAdapters();  // LoRA adapters, when attached, are trainable too
        trainable = new LinkedHashMap<>();
        for (String n : trainableNames) {
            Tensor t = all.get(n);
            if (t == null) throw new IllegalArgumentException("the model has no tensor " + n + " to train");
            trainable.put(n, t);
        }
        if (trainable.isEmpty()) throw new IllegalArgumentException("nothing to train");
        for (var e : all.entrySet()) e.getValue().requiresGrad(trainable.containsKey(e.getKey()));
        Map<String, long[]> adapterShapes = new LinkedHashMap<>();
        for (var e : model.adapterParameters().entrySet()) adapterShapes.put(e.getKey(), e.getValue().shape());
        units = UnitMap.build(model.config(), trainableNames, granularity, adapterShapes);
        List<Parameter> ps = new ArrayList<>();
        for (var e : trainable.entrySet()) ps.add(Parameter.of(e.getKey(), e.getValue()));
        optimizer = optimizerFactory.create(ps);
        int lowest = Integer.MAX_VALUE;
        for (String n : trainableNames) {
            int layer = UnitMap.layerOf(n);
            lowest = Math.min(lowest, layer < 0 ? (n.equals("model.embed_tokens.weight") ? -1 : Integer.MAX_VALUE) : layer);
        }
        firstRecordedLayer = lowest == Integer.MAX_VALUE ? model.layers().size() : lowest;
        assignment = policy.assign(new double[units.size()]);
    }

    /** The units whose importance sets the rates. */
    public UnitMap units() {
        return units;
    }

    /** The split-rate optimizer over the trainable tensors. */
    public SplitRateOptimizer optimizer() {
        return optimizer;
    }

    /** True when importance refreshes change the rates (false: uniform rate, adept-no-stage2). */
    public boolean adaptive() {
        return adaptive;
    }

    /** The trainable tensors by Hugging Face name. */
    public Map<String, Tensor> trainable() {
        return trainable;
    }

    /** Layers below this run without autograd history (-1: the embeddings are trained). */
    public int firstRecordedLayer() {
        return firstRecordedLayer;
    }

    /** The number of trainable elements. */
    public long trainableParameters() {
        return optimizer.trainableElements();
    }

    /** The multipliers and frozen flags of the last refresh. */
    public RatePolicy.Assignment assignment() {
        return assignment;
    }

    /** Recomputes unit importance on the probe batches and sets the rates from it; returns the importances. */
    public double[] refresh(List<Batch> probe, int maxBatches) {
        return refresh(probe, maxBatches, null);
    }

    /** As {@link #refresh(List, int)}, the probe batches shared out over group's ranks (null: all here). */
    public double[] refresh(List<Batch> probe, int maxBatches, ProcessGroup group) {
        double[] importance = UnitImportance.compute(model, units, trainable, probe, maxBatches, firstRecordedLayer, group);
        assignment = policy.assign(importance, units);
        UnitRates.apply(optimizer, units, assignment);
        return importance;
    }

    /** Restores a rate assignment (from a checkpoint) without recomputing importance. */
    public void restoreAssignment(RatePolicy.Assignment restored) {
        assignment = restored;
    }

    /** Mean next-token loss of a packed block batch [B, T] (no padding), with autograd from the first trainable layer. */
    public Tensor loss(Tensor inputIds) {
        Tensor hidden = model.hidden(inputIds, null, firstRecordedLayer);
        return model.headLoss(hidden, inputIds);  // chunked: the full [tokens, vocab] logits never exist
    }

    /**
     * Activation checkpointing for {@link #accumulate}: the stack from the first trainable layer up runs without
     * autograd history, keeping only the input of every N-th layer; backward recomputes one segment of N layers at a
     * time from its input, top segment first. 0 (the default) turns it off. Returns this.
     */
    public DecoupledTuning activationCheckpointing(int layersPerSegment) {
        if (layersPerSegment < 0) throw new IllegalArgumentException("layers per checkpointed segment must be >= 0 (0 = off), got " + layersPerSegment);
        checkpointLayers = layersPerSegment;
        return this;
    }

    /** Layers per recomputed segment; 0: activation checkpointing is off. */
    public int activationCheckpointing() {
        return checkpointLayers;
    }

    /**
     * One micro-batch: the mean next-token loss of inputIds [B, T] (a packed block batch) and its backward,
     * accumulating d(loss / divisor)/d(theta) into the trainable tensors' .grad (once per tensor and micro-batch,
     * with or without activation checkpointing); returns the loss (not divided) as a 0-dim tensor on the model's
     * device, detached, owned by the caller: nothing is read back to the host (no device sync on CUDA). Its
     * intermediates are freed on return.
     */
    public Tensor accumulate(Tensor inputIds, int divisor) {
        if (divisor < 1) throw new IllegalArgumentException("divisor must be >= 1, got " + divisor);
        try (Scope scope = Scope.open()) {
            if (checkpointLayers > 0) return accumulateInSegments(inputIds, divisor);
            Tensor loss = loss(inputIds);
            Tensor value = loss.detach().keep();
            if (onMemoryPeak != null) onMemoryPeak.run();
            (divisor > 1 ? loss.div(divisor) : loss).backward();
            return value;
        }
    }

    /**
     * Segments: layers from max(0, firstRecordedLayer) in runs of checkpointLayers, the embedding leading the first
     * when it is trained, and the final norm, LM head and loss on top. Forward keeps each segment's input (no history);
     * backward recomputes each segment from its detached input with grad and backpropagates the gradient of its
     * output (the input's .grad of the segment above), so every operation of the plain backward runs once, on the
     * same values. A tied head trained with its embedding gets a detached alias of the matrix in the top segment and
     * its gradient joins the embedding's backward, so the matrix's .grad still accumulates once.
     */
    private Tensor accumulateInSegments(Tensor inputIds, int divisor) {
        int layers = model.layers().size();
        int first = Math.max(0, firstRecordedLayer);
        boolean embedTrained = firstRecordedLayer < 0;
        List<int[]> segments = new ArrayList<>();  // [from, to) layer ranges
        for (int l = first; l < layers; l += checkpointLayers) segments.add(new int[] {l, Math.min(layers, l + checkpointLayers)});
        if (embedTrained && segments.isEmpty()) segments.add(new int[] {0, 0});
        Tensor[] inputs = new Tensor[segments.size()];  // inputs[i] enters segment i; null: the embedding starts it
        AttentionContext context;
        Tensor top;
        try (var noGrad = Torch.noGrad()) {
            context = model.attentionContext(inputIds.size(1), null);
            Tensor hidden = model.embed(inputIds);
            int next = 0;
            for (int l = 0; l < layers; l++) {
                boolean kept = next < segments.size() && segments.get(next)[0] == l && !(embedTrained && next == 0);
                if (next < segments.size() && segments.get(next)[0] == l) {
                    if (kept) inputs[next] = hidden;
                    next++;
                }
                Tensor out = CausalLM.forwardLayer(model.layers().get(l), hidden, context);
                if (!kept) hidden.close();
                hidden = out;
            }
            top = hidden;
        }
        boolean tiedAlias = embedTrained && model.config().tieWordEmbeddings();
        Tensor value;
        Tensor gradOutput = null;
        Tensor headGrad = null;
        try (Scope segment = Scope.open()) {
            Tensor x = segments.isEmpty() ? top : top.detach().requiresGrad(true);
            Tensor weight = tiedAlias ? model.embedWeight().detach().requiresGrad(true) : model.headWeight();
            Tensor loss = model.headLoss(x, inputIds, weight);
            value = loss.detach().keep();
            if (onMemoryPeak != null) onMemoryPeak.run();
            (divisor > 1 ? loss.div(divisor) : loss).backward();
            if (!segments.isEmpty()) gradOutput = segment.promote(x.grad());
            if (tiedAlias) headGrad = segment.promote(weight.grad());
        }
        top.close();
        for (int i = segments.size() - 1; i >= 0; i--) {
            int[] range = segments.get(i);
            Tensor inputGrad = null;
            try (Scope segment = Scope.open()) {
                boolean fromEmbedding = inputs[i] == null;
                boolean needsInputGrad = i > 0;  // below segment 0 nothing is trained
                Tensor x = fromEmbedding ? null : inputs[i].detach();
                if (x != null && needsInputGrad) x.requiresGrad(true);
                Tensor h = fromEmbedding ? model.embed(inputIds) : x;
                for (int l = range[0]; l < range[1]; l++) {
                    Tensor out = CausalLM.forwardLayer(model.layers().get(l), h, context);
                    if (h != x) h.close();  // its history keeps what backward needs
                    h = out;
                }
                if (onMemoryPeak != null) onMemoryPeak.run();
                if (headGrad != null && fromEmbedding) {
                    // one backward for both uses of the tied matrix: d/dh of (h * g).sum() is g, d/dW of (W * headGrad).sum() is headGrad
                    h.mul(gradOutput).sum().add(model.embedWeight().mul(headGrad).sum()).backward();
                } else {
                    h.backward(gradOutput, false);
                }
                if (needsInputGrad) inputGrad = segment.promote(x.grad());
            }
            gradOutput.close();
            gradOutput = inputGrad;
            if (inputs[i] != null) inputs[i].close();
        }
        if (headGrad != null) headGrad.close();
        return value;
    }

    /** One optimizer step at base rate lr from the accumulated gradients (.grad), then drops them. */
    public void step(double lr) {
        step(lr, GradientSource.PARAMETER_GRADS);
    }

    /** One optimizer step at base rate lr from the gradients where source says, then drops the .grad. */
    public void step(double lr, GradientSource source) {
        optimizer.step(lr, source);
        optimizer.zeroGrad();
    }

    @Override
    public void close() {
        optimizer.close();
    }
}
