package adept.nn;

import adept.tensor.DType;
import adept.tensor.Tensor;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One pre-norm decoder block: RMSNorm, grouped-query attention with rotary embeddings,
 * residual; RMSNorm, gated MLP, residual; what differs by family (norm form, activation, the
 * sublayer outputs' norms, q/k norms, soft-capping, sliding windows) comes from its {@link Family}
 * and config. Owns its parameter tensors, named as in Hugging Face checkpoints relative to
 * "model.layers.N.". Projections may carry a LoRA adapter ({@link #attachAdapter}), which the layer then owns.
 */
public final class DecoderLayer implements AutoCloseable {
    /** The linear projections of a layer, as named relative to the layer (the targets LoRA can adapt). */
    public static final List<String> PROJECTIONS = Family.PROJECTIONS;

    private final ModelConfig config;
    private final Family family;
    private final LayerType type;
    private final Map<String, Tensor> parameters;
    private final Map<String, LoraAdapter> adapters = new LinkedHashMap<>();  // by projection; empty: the plain layer
    private final Tensor inputNorm, qProj, kProj, vProj, oProj, qBias, kBias, vBias, oBias, qNorm, kNorm;
    private final Tensor preMlpNorm, gateProj, upProj, downProj, gateBias, upBias, downBias;
    private final Tensor postAttentionNorm, postMlpNorm;  // null unless the family norms the sublayers' outputs

    /** A full-attention layer; see {@link #DecoderLayer(ModelConfig, Map, LayerType)}. */
    public DecoderLayer(ModelConfig config, Map<String, Tensor> parameters) {
        this(config, parameters, LayerType.FULL_ATTENTION);
    }

    /** Takes ownership of the tensors; every name of {@link ModelConfig#layerShapes()} must be present. */
    public DecoderLayer(ModelConfig config, Map<String, Tensor> parameters, LayerType type) {
        this.config = config;
        this.family = config.family();
        this.type = type;
        this.parameters = Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
        inputNorm = get(Family.INPUT_NORM);
        qProj = get(Family.Q + ".weight");
        kProj = get(Family.K + ".weight");
        vProj = get(Family.V + ".weight");
        oProj = get(Family.O + ".weight");
        qBias = parameters.get(Family.Q + ".bias");
        kBias = parameters.get(Family.K + ".bias");
        vBias = parameters.get(Family.V + ".bias");
        oBias = parameters.get(Family.O + ".bias");
        qNorm = family.qkNorm() ? get(Family.Q_NORM) : null;
        kNorm = family.qkNorm() ? get(Family.K_NORM) : null;
        preMlpNorm = get(family.preMlpNorm());
        postAttentionNorm = family.sandwichNorms() ? get(Family.POST_ATTENTION_NORM) : null;
        postMlpNorm = family.sandwichNorms() ? get(Family.POST_FEEDFORWARD_NORM) : null;
        gateProj = get(Family.GATE + ".weight");
        upProj = get(Family.UP + ".weight");
        downProj = get(Family.DOWN + ".weight");
        gateBias = parameters.get(Family.GATE + ".bias");
        upBias = parameters.get(Family.UP + ".bias");
        downBias = parameters.get(Family.DOWN + ".bias");
    }

    /** Whether this layer attends to every earlier key or through the sliding window. */
    public LayerType type() {
        return type;
    }

    private Tensor get(String name) {
        Tensor t = parameters.get(name);
        if (t == null) throw new ModelException("decoder layer is missing tensor " + name);
        return t;
    }

    /** Parameters by name relative to the layer ("self_attn.q_proj.weight", ...), in checkpoint order. */
    public Map<String, Tensor> parameters() {
        return parameters;
    }

    /** Adds adapter (owned by the layer from now on) to projection, one of {@link #PROJECTIONS}; its shapes must fit the weight. */
    public void attachAdapter(String projection, LoraAdapter adapter) {
        if (!PROJECTIONS.contains(projection)) throw new ModelException("no projection " + projection + " to adapt (" + PROJECTIONS + ")");
        if (adapters.containsKey(projection)) throw new ModelException(projection + " already has an adapter");
        Tensor w = get(projection + ".weight");
        if (adapter.a().size(1) != w.size(1) || adapter.b().size(0) != w.size(0)) {
            throw new ModelException("adapter for " + projection + " maps " + adapter.a().size(1) + " -> " + adapter.b().size(0)
                    + " features, the weight " + w.size(1) + " -> " + w.size(0));
        }
        adapters.put(projection, adapter);
    }

    /** The attached adapters by projection, in attachment order. */
    public Map<String, LoraAdapter> adapters() {
        return Collections.unmodifiableMap(adapters);
    }

    /** Detaches and returns every adapter; the caller owns them. */
    public Map<String, LoraAdapter> detachAdapters() {
        Map<String, LoraAdapter> out = new LinkedHashMap<>(adapters);
        adapters.clear();
        return out;
    }

    /** x W^T + b, plus the projection's adapter when it has one. */
    private Tensor project(Tensor x, String projection, Tensor weight, Tensor bias) {
        Tensor y = x.linear(weight, bias);
        LoraAdapter adapter = adapters.isEmpty() ? null : adapters.get(projection);
        return adapter == null ? y : adapter.addTo(y, x);
    }

    /** hidden [B, T, H] -> [B, T, H]. */
    public Tensor forward(Tensor hidden, AttentionContext context) {
        return forward(hidden, context, null);
    }

    /** As {@link #forward(Tensor, AttentionContext)}, attending also to (and extending) a cache slot when not null. */
    public Tensor forward(Tensor hidden, AttentionContext context, KvCache.Slot cache) {
        Tensor attended = attention(norm(hidden, inputNorm), context, cache);
        if (postAttentionNorm != null) attended = norm(attended, postAttentionNorm);
        hidden = hidden.add(attended);
        Tensor x = norm(hidden, preMlpNorm);
        Tensor gate = project(x, Family.GATE, gateProj, gateBias);
        Tensor up = project(x, Family.UP, upProj, upBias);
        Activation activation = config.extras().activation();
        Tensor product = activation == Activation.SILU ? gate.siluMul(up) : activation.apply(gate).mul(up);
        Tensor mlp = project(product, Family.DOWN, downProj, downBias);
        if (postMlpNorm != null) mlp = norm(mlp, postMlpNorm);
        return hidden.add(mlp);
    }

    private Tensor norm(Tensor x, Tensor weight) {
        return family.norm().apply(x, weight, config.rmsNormEps());
    }

    private Tensor attention(Tensor x, AttentionContext context, KvCache.Slot cache) {
        long batch = x.size(0);
        long length = x.size(1);
        int heads = config.numAttentionHeads();
        int kvHeads = config.numKeyValueHeads();
        int headDim = config.headDim();
        Tensor q = project(x, Family.Q, qProj, qBias).view(batch, length, heads, headDim);
        Tensor k = project(x, Family.K, kProj, kBias).view(batch, length, kvHeads, headDim);
        Tensor v = project(x, Family.V, vProj, vBias).view(batch, length, kvHeads, headDim).transpose(1, 2);
        if (qNorm != null) {
            q = norm(q, qNorm);
            k = norm(k, kNorm);
        }
        Rope rope = context.rope(type);
        q = rope.apply(q.transpose(1, 2), context.positionOffset());
        k = rope.apply(k.transpose(1, 2), context.positionOffset());
        double cap = config.extras().attnLogitSoftcapping();
        if (cache == null && cap <= 0 && context.causalUpToLengths(type) && q.dtype() == DType.FLOAT32 && !q.device().isCuda()
                && Tensor.causalAttentionAvailable()) {
            return project(Tensor.causalAttention(q, k, v, context.keyLengths(), config.attentionScale()), Family.O, oProj, oBias);
        }
        long keyLength = length;
        if (cache != null) {
            Tensor[] all = cache.append(k, v);
            k = all[0];
            v = all[1];
            keyLength = k.size(2);
        }
        if (kvHeads != heads) {
            // Grouped-query attention: kv head j serves query heads j*rep .. j*rep+rep-1.
            // Expand + reshape as Hugging Face's repeat_kv: its backward is a sum, where
            // repeat_interleave's is a slow scatter-add.
            int rep = heads / kvHeads;
            k = k.unsqueeze(2).expand(batch, kvHeads, rep, keyLength, headDim).reshape(batch, heads, keyLength, headDim);
            v = v.unsqueeze(2).expand(batch, kvHeads, rep, keyLength, headDim).reshape(batch, heads, keyLength, headDim);
        }
        // scores = mask + q k^T * scale in one batched op over [B*heads, T, T].
        long rows = batch * heads;
        Tensor mask = context.mask(type);
        Tensor qr = q.reshape(rows, length, headDim);
        Tensor kt = k.reshape(rows, keyLength, headDim).transpose(1, 2);
        Tensor scores = cap > 0
                ? qr.bmm(kt).mul(config.attentionScale() / cap).tanh().mul(cap).add(mask)  // Gemma 2: soft-capped before the mask
                : mask.baddbmm(qr, kt, 1.0, config.attentionScale());
        // Softmax in float32 at least, as Hugging Face's eager attention does.
        DType dtype = context.dtype();
        Tensor probabilities = dtype == DType.FLOAT32 || dtype == DType.FLOAT64
                ? scores.softmax(-1)
                : scores.to(DType.FLOAT32).softmax(-1).to(dtype);
        Tensor out = probabilities.bmm(v.reshape(rows, keyLength, headDim))
                .view(batch, heads, length, headDim).transpose(1, 2).reshape(batch, length, (long) heads * headDim);
        return project(out, Family.O, oProj, oBias);
    }

    @Override
    public void close() {
        for (Tensor t : parameters.values()) t.close();
        for (LoraAdapter a : adapters.values()) a.close();
    }
}
