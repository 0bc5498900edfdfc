package adept.nn;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The shape and hyper-parameters of a decoder-only LM, as Hugging Face's config.json
 * describes it. headDim is explicit (Qwen3 sets it apart from hidden/heads).
 */
public record ModelConfig(
        Architecture architecture,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int numKeyValueHeads,
        int headDim,
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        int maxPositionEmbeddings,
        boolean tieWordEmbeddings,
        boolean attentionBias,
        boolean mlpBias) {

    public ModelConfig {
        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("intermediate_size", intermediateSize);
        if (numHiddenLayers < 0) throw new ModelException("num_hidden_layers must be >= 0, got " + numHiddenLayers);
        positive("num_attention_heads", numAttentionHeads);
        positive("num_key_value_heads", numKeyValueHeads);
        positive("head_dim", headDim);
        positive("max_position_embeddings", maxPositionEmbeddings);
        if (numAttentionHeads % numKeyValueHeads != 0) {
            throw new ModelException("num_attention_heads " + numAttentionHeads + " is not a multiple of num_key_value_heads " + numKeyValueHeads);
        }
        if (headDim % 2 != 0) throw new ModelException("head_dim must be even for rotary embeddings, got " + headDim);
        if (!(rmsNormEps > 0)) throw new ModelException("rms_norm_eps must be > 0, got " + rmsNormEps);
        if (!(ropeTheta > 0)) throw new ModelException("rope_theta must be > 0, got " + ropeTheta);
    }

    private static void positive(String field, int value) {
        if (value <= 0) throw new ModelException(field + " must be > 0, got " + value);
    }

    /** This configuration with another layer count. */
    public ModelConfig withNumHiddenLayers(int layers) {
        return new ModelConfig(architecture, vocabSize, hiddenSize, intermediateSize, layers, numAttentionHeads, numKeyValueHeads,
                headDim, rmsNormEps, ropeTheta, ropeScaling, maxPositionEmbeddings, tieWordEmbeddings, attentionBias, mlpBias);
    }

    /** Tensor names of one decoder layer, relative to "model.layers.N.", with their shapes. */
    public Map<String, long[]> layerShapes() {
        long q = (long) numAttentionHeads * headDim;
        long kv = (long) numKeyValueHeads * headDim;
        boolean qkvBias = architecture.qkvBias(attentionBias);
        boolean outputBias = architecture.outputBias(attentionBias);
        // Hugging Face's parameter order: attention, MLP, then the two norms.
        Map<String, long[]> shapes = new LinkedHashMap<>();
        projection(shapes, "self_attn.q_proj", q, hiddenSize, qkvBias);
        projection(shapes, "self_attn.k_proj", kv, hiddenSize, qkvBias);
        projection(shapes, "self_attn.v_proj", kv, hiddenSize, qkvBias);
        projection(shapes, "self_attn.o_proj", hiddenSize, q, outputBias);
        if (architecture.hasQkNorm()) {
            shapes.put("self_attn.q_norm.weight", new long[] {headDim});
            shapes.put("self_attn.k_norm.weight", new long[] {headDim});
        }
        projection(shapes, "mlp.gate_proj", intermediateSize, hiddenSize, mlpBias);
        projection(shapes, "mlp.up_proj", intermediateSize, hiddenSize, mlpBias);
        projection(shapes, "mlp.down_proj", hiddenSize, intermediateSize, mlpBias);
        shapes.put("input_layernorm.weight", new long[] {hiddenSize});
        shapes.put("post_attention_layernorm.weight", new long[] {hiddenSize});
        return shapes;
    }

    private static void projection(Map<String, long[]> shapes, String name, long out, long in, boolean bias) {
        shapes.put(name + ".weight", new long[] {out, in});
        if (bias) shapes.put(name + ".bias", new long[] {out});
    }

    /** Every tensor of the checkpoint, by Hugging Face name, in the order Hugging Face lists parameters. */
    public Map<String, long[]> tensorShapes() {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("model.embed_tokens.weight", new long[] {vocabSize, hiddenSize});
        Map<String, long[]> layer = layerShapes();
        for (int i = 0; i < numHiddenLayers; i++) {
            for (var e : layer.entrySet()) shapes.put(layerPrefix(i) + e.getKey(), e.getValue());
        }
        shapes.put("model.norm.weight", new long[] {hiddenSize});
        if (!tieWordEmbeddings) shapes.put("lm_head.weight", new long[] {vocabSize, hiddenSize});
        return shapes;
    }

    /** "model.layers.N.", the Hugging Face name prefix of layer N's tensors. */
    public static String layerPrefix(int layer) {
        return "model.layers." + layer + ".";
    }

    /** The number of parameters (tied embeddings counted once). */
    public long parameterCount() {
        long n = 0;
        for (long[] shape : tensorShapes().values()) {
            long size = 1;
            for (long d : shape) size *= d;
            n += size;
        }
        return n;
    }
}
