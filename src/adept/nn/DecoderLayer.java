package adept.nn;

import adept.tensor.DType;
import adept.tensor.Tensor;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One pre-norm decoder block: RMSNorm, grouped-query attention with rotary embeddings,
 * residual; RMSNorm, SwiGLU MLP, residual. Owns its parameter tensors, named as in
 * Hugging Face checkpoints relative to "model.layers.N.". Projections may carry a LoRA adapter
 * ({@link #attachAdapter}), which the layer then owns.
 */
public final class DecoderLayer implements AutoCloseable {
    /** The linear projections of a layer, as named relative to the layer (the targets LoRA can adapt). */
    public static final List<String> PROJECTIONS = List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
            "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj");

    private final ModelConfig config;
    private final Map<String, Tensor> parameters;
    private final Map<String, LoraAdapter> adapters = new LinkedHashMap<>();  // by projection; empty: the plain layer
    private final Tensor inputNorm, qProj, kProj, vProj, oProj, qBias, kBias, vBias, oBias, qNorm, kNorm;
    private final Tensor postNorm, gateProj, upProj, downProj, gateBias, upBias, downBias;

    /** Takes ownership of the tensors; every name of {@link ModelConfig#layerShapes()} must be present. */
    public DecoderLayer(ModelConfig config, Map<String, Tensor> parameters) {
        this.config = config;
        this.parameters = Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
        inputNorm = get("input_layernorm.weight");
        qProj = get("self_attn.q_proj.weight");
        kProj = get("self_attn.k_proj.weight");
        vProj = get("self_attn.v_proj.weight");
        oProj = get("self_attn.o_proj.weight");
        qBias = parameters.get("self_attn.q_proj.bias");
        kBias = parameters.get("self_attn.k_proj.bias");
        vBias = parameters.get("self_attn.v_proj.bias");
        oBias = parameters.get("self_attn.o_proj.bias");
        qNorm = parameters.get("self_attn.q_norm.weight");
        kNorm = parameters.get("self_attn.k_norm.weight");
        postNorm = get("post_attention_layernorm.weight");
        gateProj = get("mlp.gate_proj.weight");
        upProj = get("mlp.up_proj.weight");
        downProj = get("mlp.down_proj.weight");
        gateBias = parameters.get("mlp.gate_proj.bias");
        upBias = parameters.get("mlp.up_proj.bias");
        downBias = parameters.get("mlp.down_proj.bias");
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
        Tensor attended = attention(hidden.rmsNorm(inputNorm, config.rmsNormEps()), context, cache);
        hidden = hidden.add(attended);
        Tensor x = hidden.rmsNorm(postNorm, config.rmsNormEps());
        Tensor gated = project(x, "mlp.gate_proj", gateProj, gateBias).silu().mul(project(x, "mlp.up_proj", upProj, upBias));
        return hidden.add(project(gated, "mlp.down_proj", downProj, downBias));
    }

    private Tensor attention(Tensor x, AttentionContext context, KvCache.Slot cache) {
        long batch = x.size(0);
        long length = x.size(1);
        int heads = config.numAttentionHeads();
        int kvHeads = config.numKeyValueHeads();
        int headDim = config.headDim();
        Tensor q = project(x, "self_attn.q_proj", qProj, qBias).view(batch, length, heads, headDim);
        Tensor k = project(x, "self_attn.k_proj", kProj, kBias).view(batch, length, kvHeads, headDim);
        Tensor v = project(x, "self_attn.v_proj", vProj, vBias).view(batch, length, kvHeads, headDim).transpose(1, 2);
        if (qNorm != null) {
            q = q.rmsNorm(qNorm, config.rmsNormEps());
            k = k.rmsNorm(kNorm, config.rmsNormEps());
        }
        q = context.rope().apply(q.transpose(1, 2), context.positionOffset());
        k = context.rope().apply(k.transpose(1, 2), context.positionOffset());
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
        // scores = mask + q k^T / sqrt(d) in one batched op over [B*heads, T, T].
        long rows = batch * heads;
        Tensor scores = context.mask().baddbmm(q.reshape(rows, length, headDim), k.reshape(rows, keyLength, headDim).transpose(1, 2),
                1.0, 1.0 / Math.sqrt(headDim));
        // Softmax in float32 at least, as Hugging Face's eager attention does.
        DType dtype = context.dtype();
        Tensor probabilities = dtype == DType.FLOAT32 || dtype == DType.FLOAT64
                ? scores.softmax(-1)
                : scores.to(DType.FLOAT32).softmax(-1).to(dtype);
        Tensor out = probabilities.bmm(v.reshape(rows, keyLength, headDim))
                .view(batch, heads, length, headDim).transpose(1, 2).reshape(batch, length, (long) heads * headDim);
        return project(out, "self_attn.o_proj", oProj, oBias);
    }

    @Override
    public void close() {
        for (Tensor t : parameters.values()) t.close();
        for (LoraAdapter a : adapters.values()) a.close();
    }
}
