package adept.nn;

import adept.tensor.Autograd;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A decoder-only causal LM of the Llama / Qwen2 / Qwen3 / Gemma 2 / Gemma 3 families (what differs is the
 * {@link Family} spec of the config's architecture). Layers form a list that
 * can be skipped, inserted and duplicated; the model owns every parameter tensor.
 *
 * <p>Forward passes record autograd when grad mode is on (training) and nothing under
 * {@link Torch#noGrad()} (evaluation). Intermediate tensors belong to the caller's scope.
 */
public final class CausalLM implements AutoCloseable {
    private ModelConfig config;
    private final Tensor embedTokens;
    private final List<DecoderLayer> layers;
    private final Tensor finalNorm;
    private final Tensor lmHead;  // null when tied to embedTokens
    private final Rope rope;
    private final Rope localRope;  // sliding-window layers' (their own base in Gemma 3)
    private final DType dtype;
    private final Device device;

    private CausalLM(ModelConfig config, Tensor embedTokens, List<DecoderLayer> layers, Tensor finalNorm, Tensor lmHead) {
        this.config = config;
        this.embedTokens = embedTokens;
        this.layers = new ArrayList<>(layers);
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
        this.rope = new Rope(config);
        this.localRope = Rope.local(config);
        this.dtype = embedTokens.dtype();
        this.device = embedTokens.device();
    }

    /**
     * Builds a model from checkpoint tensors named as Hugging Face names them, converting
     * them to dtype and device. Takes ownership of the given tensors (closing any it
     * replaces by a converted copy). Missing, unexpected or misshapen tensors are errors
     * naming the tensor.
     */
    public static CausalLM fromWeights(ModelConfig config, Map<String, Tensor> weights, DType dtype, Device device) {
        Map<String, long[]> expected = config.tensorShapes();
        for (String name : weights.keySet()) {
            if (!expected.containsKey(name)) {
                if (name.equals(Family.LM_HEAD) && config.tieWordEmbeddings()) continue;  // some writers keep a copy
                if (name.endsWith("rotary_emb.inv_freq")) continue;  // computed, not learned
                throw new ModelException("unexpected tensor " + name + " for " + config.architecture().className()
                        + " with " + config.numHiddenLayers() + " layers");
            }
        }
        Map<String, Tensor> converted = new LinkedHashMap<>();
        try {
            for (var e : expected.entrySet()) {
                Tensor t = weights.get(e.getKey());
                if (t == null) throw new ModelException("missing tensor " + e.getKey());
                if (!Arrays.equals(t.shape(), e.getValue())) {
                    throw new ModelException("tensor " + e.getKey() + " has shape " + Arrays.toString(t.shape())
                            + " but config.json implies " + Arrays.toString(e.getValue()));
                }
                converted.put(e.getKey(), convert(t, dtype, device));
            }
        } catch (RuntimeException failure) {
            for (Tensor t : converted.values()) t.close();
            throw failure;
        }
        Tensor spareHead = weights.get(Family.LM_HEAD);
        if (config.tieWordEmbeddings() && spareHead != null) spareHead.close();
        return assemble(config, converted);
    }

    private static Tensor convert(Tensor t, DType dtype, Device device) {
        if (t.dtype() == dtype && t.device().equals(device)) return t.keep();
        try (Scope scope = Scope.open()) {
            Tensor result = t.to(dtype, device).contiguous().keep();
            t.close();
            return result;
        }
    }

    private static CausalLM assemble(ModelConfig config, Map<String, Tensor> tensors) {
        Tensor embed = tensors.get(Family.EMBED);
        List<DecoderLayer> layers = new ArrayList<>();
        Map<String, long[]> layerShapes = config.layerShapes();
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            Map<String, Tensor> own = new LinkedHashMap<>();
            for (String name : layerShapes.keySet()) own.put(name, tensors.get(ModelConfig.layerPrefix(i) + name));
            layers.add(new DecoderLayer(config, own, config.layerType(i)));
        }
        return new CausalLM(config, embed, layers, tensors.get(Family.FINAL_NORM), tensors.get(Family.LM_HEAD));
    }

    /**
     * A randomly initialised model as Hugging Face initialises one: matrices and embeddings
     * N(0, initializerRange), norms the identity (1, or 0 for (1 + w) norms), biases 0.
     */
    public static CausalLM random(ModelConfig config, long seed, double initializerRange, DType dtype, Device device) {
        Torch.manualSeed(seed);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (var e : config.tensorShapes().entrySet()) {
            // Scaled in place, and a scope per tensor: no unscaled copy, and a cast's fp32 source goes before the
            // next tensor is drawn. Held to the end they were a second copy of the weights, left behind as
            // fragmented free heap (0.5B-shaped model: +1.3 GiB resident after this returned).
            try (Scope scope = Scope.open()) {
                long[] shape = e.getValue();
                boolean isNorm = Family.isNorm(e.getKey());
                Tensor t = shape.length == 1
                        ? Tensor.zeros(DType.FLOAT32, Device.CPU, shape).add(isNorm ? config.family().norm().identityWeight() : 0.0)
                        : Tensor.randn(DType.FLOAT32, Device.CPU, shape).mulInPlace(initializerRange);
                tensors.put(e.getKey(), t.to(dtype, device).keep());
            }
        }
        return assemble(config, tensors);
    }

    /** The shape and hyper-parameters (the layer count follows inserted and removed layers). */
    public ModelConfig config() {
        return config;
    }

    /** The parameters' dtype. */
    public DType dtype() {
        return dtype;
    }

    /** The device holding the parameters. */
    public Device device() {
        return device;
    }

    /** The decoder layers, in order; edit through {@link #insertLayer} and {@link #removeLayer}. */
    public List<DecoderLayer> layers() {
        return Collections.unmodifiableList(layers);
    }

    /** Inserts a layer (owned by the model from now on) at index; later layers shift up. */
    public void insertLayer(int index, DecoderLayer layer) {
        layers.add(index, layer);
        config = config.withLayerTypes(layers.stream().map(DecoderLayer::type).toList());
    }

    /** Removes and returns the layer at index; the caller owns it. */
    public DecoderLayer removeLayer(int index) {
        DecoderLayer removed = layers.remove(index);
        config = config.withLayerTypes(layers.stream().map(DecoderLayer::type).toList());
        return removed;
    }

    /** Every parameter by Hugging Face name, in checkpoint order (lm_head absent when tied). */
    public Map<String, Tensor> namedParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        out.put(Family.EMBED, embedTokens);
        for (int i = 0; i < layers.size(); i++) {
            for (var e : layers.get(i).parameters().entrySet()) out.put(ModelConfig.layerPrefix(i) + e.getKey(), e.getValue());
        }
        out.put(Family.FINAL_NORM, finalNorm);
        if (lmHead != null) out.put(Family.LM_HEAD, lmHead);
        return out;
    }

    /**
     * Every LoRA adapter tensor by name, layer by layer ("model.layers.N.self_attn.q_proj.lora_A.weight", then its
     * lora_B.weight); empty when no layer carries an adapter. Not part of {@link #namedParameters()}: the Hugging Face
     * checkpoint holds only the base weights (or the merged ones).
     */
    public Map<String, Tensor> adapterParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < layers.size(); i++) {
            for (var e : layers.get(i).adapters().entrySet()) {
                out.put(ModelConfig.layerPrefix(i) + e.getKey() + ".lora_A.weight", e.getValue().a());
                out.put(ModelConfig.layerPrefix(i) + e.getKey() + ".lora_B.weight", e.getValue().b());
            }
        }
        return out;
    }

    /** {@link #namedParameters()} followed by {@link #adapterParameters()}: every tensor a run may train. */
    public Map<String, Tensor> parametersAndAdapters() {
        Map<String, Tensor> out = namedParameters();
        out.putAll(adapterParameters());
        return out;
    }

    /** Turns gradient recording on or off for every parameter. */
    public void requiresGrad(boolean requiresGrad) {
        for (Tensor t : namedParameters().values()) t.requiresGrad(requiresGrad);
    }

    /** Token embeddings of inputIds [B, T] (int64): [B, T, H]; times sqrt(hidden_size) where the family scales them. */
    public Tensor embed(Tensor inputIds) {
        Tensor e = embedTokens.embedding(inputIds);
        return config.family().scalesEmbedding() ? e.mul(embedScale()) : e;
    }

    /** sqrt(hidden_size) rounded to the model's dtype first, as Gemma's normalizer tensor is. */
    private double embedScale() {
        float scale = (float) Math.sqrt(config.hiddenSize());
        return switch (dtype) {
            case FLOAT64 -> Math.sqrt(config.hiddenSize());
            case FLOAT16 -> Float.float16ToFloat(Float.floatToFloat16(scale));
            case BFLOAT16 -> {  // round to nearest even on the top 16 bits
                int bits = Float.floatToRawIntBits(scale);
                yield Float.intBitsToFloat((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000);
            }
            default -> scale;
        };
    }

    /** The shared attention inputs for a batch of length T; attentionMask [B, T] (1 = token, 0 = pad) or null. */
    public AttentionContext attentionContext(long length, Tensor attentionMask) {
        if (length > config.maxPositionEmbeddings()) {
            throw new ModelException("sequence length " + length + " exceeds max_position_embeddings " + config.maxPositionEmbeddings());
        }
        return AttentionContext.build(rope, localRope, slidingWindow(), length, attentionMask, dtype, device, config.numAttentionHeads());
    }

    private int slidingWindow() {
        return config.hasSlidingLayers() ? config.extras().slidingWindow() : 0;
    }

    /** Final norm and LM head: hidden [B, T, H] -> logits [B, T, V]. */
    public Tensor head(Tensor hidden) {
        return head(hidden, headWeight());
    }

    /**
     * As {@link #head(Tensor)} with weight [V, H] as the LM head matrix: segment-wise backward passes a detached alias
     * of a tied head's embedding matrix, so that the embedding's gradient accumulates once.
     */
    public Tensor head(Tensor hidden, Tensor weight) {
        return softcap(finalNorm(hidden).linear(weight, null));
    }

    private Tensor finalNorm(Tensor hidden) {
        return config.family().norm().apply(hidden, finalNorm, config.rmsNormEps());
    }

    /** Logits from the LM head's matmul: capped by cap * tanh(z / cap) where the family does (Gemma 2). */
    private Tensor softcap(Tensor z) {
        double cap = config.extras().finalLogitSoftcapping();
        return cap > 0 ? z.div(cap).tanh().mul(cap) : z;
    }

    /** The LM head matrix [V, H]: lm_head, or the token embeddings when tied. */
    public Tensor headWeight() {
        return lmHead != null ? lmHead : embedTokens;
    }

    /** The token embedding matrix [V, H]. */
    public Tensor embedWeight() {
        return embedTokens;
    }

    /** Logits [B, T, V] for inputIds [B, T]; attentionMask [B, T] or null. */
    public Tensor forward(Tensor inputIds, Tensor attentionMask) {
        return head(hidden(inputIds, attentionMask));
    }

    /** The last layer's output [B, T, H] for inputIds [B, T] (before the final norm and LM head). */
    public Tensor hidden(Tensor inputIds, Tensor attentionMask) {
        if (inputIds.dim() != 2) throw new ModelException("input ids must be [batch, length], got " + Arrays.toString(inputIds.shape()));
        Tensor hidden = embed(inputIds);
        AttentionContext context = attentionContext(inputIds.size(1), attentionMask);
        for (DecoderLayer layer : layers) hidden = forwardLayer(layer, hidden, context);
        return hidden;
    }

    /**
     * As {@link #hidden(Tensor, Tensor)}, but the embedding and layers below firstRecorded run without
     * autograd history (nothing below the lowest trainable layer needs it); -1 records everything.
     */
    public Tensor hidden(Tensor inputIds, Tensor attentionMask, int firstRecorded) {
        if (inputIds.dim() != 2) throw new ModelException("input ids must be [batch, length], got " + Arrays.toString(inputIds.shape()));
        Tensor hidden;
        AttentionContext context;
        int start = Math.max(0, firstRecorded);
        try (var noGrad = firstRecorded > 0 ? Torch.noGrad() : null) {
            hidden = embed(inputIds);
            context = attentionContext(inputIds.size(1), attentionMask);
            for (int l = 0; l < start && l < layers.size(); l++) {
                Tensor next = forwardLayer(layers.get(l), hidden, context);
                if (noGrad != null) hidden.close();  // no history refers to it: free it now, not with the caller's scope
                hidden = next;
            }
        }
        for (int l = start; l < layers.size(); l++) hidden = forwardLayer(layers.get(l), hidden, context);
        return hidden;
    }

    /** Logits of one chunk stay below this: larger buffers are mapped and page-faulted afresh on every call. */
    static final long LOSS_CHUNK_BYTES = 16L << 20;

    /**
     * Summed cross-entropy (float32 at least) of the predictions made at predictingRows of the
     * last layer's output [B, T, H] flattened to [B*T, H] against predictedIds, as a 0-dim
     * tensor. Logits are computed only at those rows, a chunk of rows at a time: with a 150k
     * vocabulary, full logits of a batch take hundreds of MB. For evaluation (no gradients needed).
     */
    public Tensor targetLossSum(Tensor lastHidden, Tensor predictingRows, Tensor predictedIds) {
        Tensor rows = lastHidden.reshape(-1, lastHidden.size(-1)).indexSelect(0, predictingRows);
        long count = rows.size(0);
        long chunk = Math.max(1, LOSS_CHUNK_BYTES / (4L * config.vocabSize()));
        // float64 models sum in float64: a float32 total would round the loss and, through its backward, every
        // gradient taken from it (importance) to float32 precision
        Tensor total = Tensor.zeros(dtype == DType.FLOAT64 ? DType.FLOAT64 : DType.FLOAT32, device);
        for (long start = 0; start < count; start += chunk) {
            try (Scope scope = Scope.open()) {
                long n = Math.min(chunk, count - start);
                Tensor logits = head(rows.narrow(0, start, n));
                if (logits.dtype() != DType.FLOAT32 && logits.dtype() != DType.FLOAT64) logits = logits.to(DType.FLOAT32);
                total.addInPlace(logits.crossEntropy(predictedIds.narrow(0, start, n), Tensor.IGNORE_INDEX, Tensor.Reduction.SUM), 1);
            }
        }
        return total;
    }

    /** {@link #headLoss(Tensor, Tensor, Tensor)} with the model's own LM head matrix. */
    public Tensor headLoss(Tensor hidden, Tensor labels) {
        return headLoss(hidden, labels, headWeight());
    }

    /**
     * The value and gradients of {@code loss(head(hidden, weight), labels)} (mean next-token cross-entropy over the
     * last layer's output [B, T, H]) without the full [B*T, V] logits, their log-probabilities and their gradient:
     * rows go through the head a chunk at a time and, where gradients are wanted, each chunk's logit gradient
     * (libtorch's own cross-entropy backward) becomes the rows' and the head matrix's gradients at once
     * (fused linear + cross-entropy). The 0-dim result holds the loss; its backward delivers those gradients
     * through a surrogate term of value zero. Only for a frozen head matrix: a trained one needs [V, H] gradient
     * buffers that cost more than the logits saved (bench memory, docs/benchmarks.md), so it takes the plain path.
     */
    public Tensor headLoss(Tensor hidden, Tensor labels, Tensor weight) {
        if (Torch.isGradEnabled() && weight.requiresGrad()) return loss(head(hidden, weight), labels);
        return headLoss(hidden, labels, weight, Math.max(1, LOSS_CHUNK_BYTES / (4L * config.vocabSize())));
    }

    /** As {@link #headLoss(Tensor, Tensor, Tensor)}, chunk rows of logits at a time. */
    Tensor headLoss(Tensor hidden, Tensor labels, Tensor weight, long chunk) {
        Tensor x = finalNorm(hidden);
        x = x.reshape(-1, x.size(-1));
        long rows = x.size(0);
        boolean grad = Torch.isGradEnabled();
        boolean gradX = grad && x.requiresGrad();
        boolean gradW = grad && weight.requiresGrad();
        Tensor targets = nextTokenTargets(labels).reshape(-1);
        DType lossType = dtype == DType.FLOAT64 ? DType.FLOAT64 : DType.FLOAT32;
        Tensor count = Tensor.scalar(targets.numel(), lossType, device).sub(targets.eq(Tensor.IGNORE_INDEX).sum().to(lossType));
        Tensor gradScale = count.reciprocal();  // the mean's: cross_entropy's backward scales by 1 / count the same way
        Tensor total = Tensor.zeros(lossType, device);
        Tensor dX = gradX ? Tensor.empty(x.dtype(), device, x.shape()) : null;
        Tensor dW = gradW ? Tensor.zeros(weight.dtype(), device, weight.shape()) : null;
        try (var noGrad = Torch.noGrad()) {
            Tensor xd = x.detach();
            Tensor wd = weight.detach();
            for (long start = 0; start < rows; start += chunk) {
                try (Scope scope = Scope.open()) {
                    long n = Math.min(chunk, rows - start);
                    Tensor xc = xd.narrow(0, start, n);
                    Tensor tc = targets.narrow(0, start, n);
                    Tensor z = xc.linear(wd, null);
                    if (!gradX && !gradW) {
                        total.addInPlace(chunkLossSum(softcap(z), tc), 1);
                        continue;
                    }
                    Tensor dz;  // the chunk's logit gradient
                    boolean scaled;  // whether dz holds the mean's 1 / count already
                    if (config.extras().finalLogitSoftcapping() <= 0 && (z.dtype() == DType.FLOAT32 || z.dtype() == DType.FLOAT64)) {
                        Tensor[] lossAndGradient = z.crossEntropySumAndGradient(tc, Tensor.IGNORE_INDEX);
                        total.addInPlace(lossAndGradient[0], 1);
                        dz = lossAndGradient[1];
                        scaled = false;  // scaled below on the [rows, H] / [V, H] products, smaller than the logits
                    } else {
                        try (var withGrad = Torch.enableGrad()) {
                            z.requiresGrad(true);
                            Tensor sum = chunkLossSum(softcap(z), tc);
                            dz = Autograd.grad(List.of(sum), List.of(z), List.of(gradScale), false, false).get(0);
                            total.addInPlace(sum.detach(), 1);
                        }
                        scaled = true;
                    }
                    if (gradX) {
                        Tensor d = dz.mm(wd);
                        dX.narrow(0, start, n).copyFrom(scaled ? d : d.mulInPlace(gradScale));
                    }
                    if (gradW) {
                        Tensor d = dz.transpose(0, 1).mm(xc);
                        dW.addInPlace(scaled ? d : d.mulInPlace(gradScale), 1);
                    }
                }
            }
        }
        Tensor loss = total.div(count);
        Tensor surrogate = null;  // d/dx = dX, d/dW = dW; value (s - s) = 0 exactly
        if (gradX) surrogate = x.mul(dX).to(lossType).sum();
        if (gradW) {
            Tensor w = weight.mul(dW).to(lossType).sum();
            surrogate = surrogate == null ? w : surrogate.add(w);
        }
        return surrogate == null ? loss : loss.add(surrogate.sub(surrogate.detach()));
    }

    /** Summed cross-entropy of one chunk of logits, 16-bit ones upcast to float32 first (as {@link #loss} does). */
    private static Tensor chunkLossSum(Tensor logits, Tensor targets) {
        if (logits.dtype() == DType.BFLOAT16 || logits.dtype() == DType.FLOAT16) logits = logits.to(DType.FLOAT32);
        return logits.crossEntropy(targets, Tensor.IGNORE_INDEX, Tensor.Reduction.SUM);
    }

    /**
     * Logits [1, T, V] for the next tokens of one sequence whose earlier tokens are in the
     * cache (empty at first); the cache is extended by these tokens. Incremental decoding.
     */
    public Tensor forwardCached(Tensor inputIds, KvCache cache) {
        if (inputIds.dim() != 2 || inputIds.size(0) != 1) {
            throw new ModelException("cached decoding takes one sequence [1, length], got " + Arrays.toString(inputIds.shape()));
        }
        long length = inputIds.size(1);
        if (cache.length() + length > config.maxPositionEmbeddings()) {
            throw new ModelException("sequence length " + (cache.length() + length) + " exceeds max_position_embeddings "
                    + config.maxPositionEmbeddings());
        }
        Tensor hidden = embed(inputIds);
        AttentionContext context = AttentionContext.incremental(rope, localRope, slidingWindow(), cache.length(), length, dtype, device);
        for (int i = 0; i < layers.size(); i++) {
            try (Scope scope = Scope.open()) {
                hidden = scope.promote(layers.get(i).forward(hidden, context, cache.slot(i)));
            }
        }
        cache.advance(length);
        return head(hidden);
    }

    /**
     * One layer in a scope of its own: intermediates autograd does not need are freed as
     * soon as the layer is done (as Python's reference counting does), only its output
     * moves to the caller's scope. Keeps peak memory near PyTorch's.
     */
    public static Tensor forwardLayer(DecoderLayer layer, Tensor hidden, AttentionContext context) {
        try (Scope scope = Scope.open()) {
            return scope.promote(layer.forward(hidden, context));
        }
    }

    /**
     * Mean next-token cross-entropy: logits at t predict labels at t+1; labels equal to
     * {@link Tensor#IGNORE_INDEX} (padding, prompt tokens) do not count.
     */
    public static Tensor loss(Tensor logits, Tensor labels) {
        // 16-bit logits are upcast first: a bf16 log-softmax over a large vocabulary loses the loss's low digits (HF does the same)
        DType t = logits.dtype();
        if (t == DType.BFLOAT16 || t == DType.FLOAT16) logits = logits.to(DType.FLOAT32, logits.device());
        return logits.reshape(-1, logits.size(2)).crossEntropy(nextTokenTargets(labels).reshape(-1), Tensor.IGNORE_INDEX, Tensor.Reduction.MEAN);
    }

    /**
     * labels shifted one position left, Tensor.IGNORE_INDEX appended: entry t is what logits at t
     * predict. Lets the loss use all logits as they are, without copying [B, T-1, V].
     */
    public static Tensor nextTokenTargets(Tensor labels) {
        long batch = labels.size(0);
        long length = labels.size(1);
        Tensor last = Tensor.full(Tensor.IGNORE_INDEX, DType.INT64, labels.device(), batch, 1);
        return Tensor.cat(List.of(labels.narrow(1, 1, length - 1), last), 1);
    }

    /** Labels for inputIds: the ids themselves, Tensor.IGNORE_INDEX where attentionMask is 0. */
    public static Tensor labels(Tensor inputIds, Tensor attentionMask) {
        if (attentionMask == null) return inputIds.clone();
        return inputIds.maskedFill(attentionMask.eq(0), Tensor.IGNORE_INDEX);
    }

    @Override
    public void close() {
        embedTokens.close();
        for (DecoderLayer layer : layers) layer.close();
        finalNorm.close();
        if (lmHead != null) lmHead.close();
        rope.close();
        localRope.close();
    }
}
