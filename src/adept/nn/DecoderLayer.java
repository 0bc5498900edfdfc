package adept.nn;

import adept.tensor.DType;
import adept.tensor.Tensor;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One pre-norm decoder block: RMSNorm, grouped-query attention with rotary embeddings,
 * residual; RMSNorm, SwiGLU MLP, residual. Owns its parameter tensors, named as in
 * Hugging Face checkpoints relative to "model.layers.N.".
 */
public final class DecoderLayer implements AutoCloseable {
    private final ModelConfig config;
    private final Map<String, Tensor> parameters;
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

    /** hidden [B, T, H] -> [B, T, H]. */
    public Tensor forward(Tensor hidden, AttentionContext context) {
        return forward(hidden, context, null);
    }

    /** As {@link #forward(Tensor, AttentionContext)}, attending also to (and extending) a cache slot when not null. */
    public Tensor forward(Tensor hidden, AttentionContext context, KvCache.Slot cache) {
        Tensor attended = attention(hidden.rmsNorm(inputNorm, config.rmsNormEps()), context, cache);
        hidden = hidden.add(attended);
        Tensor x = hidden.rmsNorm(postNorm, config.rmsNormEps());
        Tensor gated = x.linear(gateProj, gateBias).silu().mul(x.linear(upProj, upBias));
        return hidden.add(gated.linear(downProj, downBias));
    }

    private Tensor attention(Tensor x, AttentionContext context, KvCache.Slot cache) {
        long batch = x.size(0);
        long length = x.size(1);
        int heads = config.numAttentionHeads();
        int kvHeads = config.numKeyValueHeads();
        int headDim = config.headDim();
        Tensor q = x.linear(qProj, qBias).view(batch, length, heads, headDim);
        Tensor k = x.linear(kProj, kBias).view(batch, length, kvHeads, headDim);
        Tensor v = x.linear(vProj, vBias).view(batch, length, kvHeads, headDim).transpose(1, 2);
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
        return out.linear(oProj, oBias);
    }

    @Override
    public void close() {
        for (Tensor t : parameters.values()) t.close();
    }
}
