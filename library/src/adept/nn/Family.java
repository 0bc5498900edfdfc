package adept.nn;

import adept.tensor.DType;
import adept.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * What one decoder family is, in one place: the Hugging Face tensor names of a layer, the norm form, the MLP's
 * activation, embedding scaling, the extra norms, which projections carry biases and the config.json defaults.
 * The decoder ({@link DecoderLayer}, {@link CausalLM}), the config reader, the unit map and the expansion read it.
 *
 * @param norm            how a norm applies its weight
 * @param scalesEmbedding token embeddings are multiplied by sqrt(hidden_size) (Gemma)
 * @param sandwichNorms   each sublayer's output is normed before the residual add (Gemma's post-attention and
 *                        post-feedforward norms; the MLP then reads pre_feedforward_layernorm)
 * @param qkNorm          q and k are normed per head before rotary embeddings (Qwen3, Gemma 3)
 * @param qkvBias         whether q/k/v carry biases
 * @param outputBias      whether o_proj carries a bias
 * @param mlpBiasField    config.json has an mlp_bias field (Llama); elsewhere the MLP has no biases
 * @param slidingLayers   the family can mix sliding-window and full-attention layers (reads layer_types, sliding_window)
 * @param activationField config.json's key for the MLP activation (hidden_act, or Gemma's hidden_activation)
 * @param defaults        config.json defaults of transformers' config class
 */
public record Family(NormForm norm, boolean scalesEmbedding, boolean sandwichNorms, boolean qkNorm, Bias qkvBias, Bias outputBias,
                     boolean mlpBiasField, boolean slidingLayers, String activationField, Defaults defaults) {

    // ---- tensor names, shared by every family adept runs (Hugging Face's) ----
    public static final String EMBED = "model.embed_tokens.weight";
    public static final String FINAL_NORM = "model.norm.weight";
    public static final String LM_HEAD = "lm_head.weight";
    /** Projections of a layer, relative to "model.layers.N."; weights are "NAME.weight", biases "NAME.bias". */
    public static final String Q = "self_attn.q_proj", K = "self_attn.k_proj", V = "self_attn.v_proj", O = "self_attn.o_proj";
    public static final String GATE = "mlp.gate_proj", UP = "mlp.up_proj", DOWN = "mlp.down_proj";
    public static final String Q_NORM = "self_attn.q_norm.weight", K_NORM = "self_attn.k_norm.weight";
    public static final String INPUT_NORM = "input_layernorm.weight";
    public static final String POST_ATTENTION_NORM = "post_attention_layernorm.weight";
    public static final String PRE_FEEDFORWARD_NORM = "pre_feedforward_layernorm.weight";
    public static final String POST_FEEDFORWARD_NORM = "post_feedforward_layernorm.weight";
    /** The seven projections, in Hugging Face's parameter order (the targets LoRA can adapt). */
    public static final List<String> PROJECTIONS = List.of(Q, K, V, O, GATE, UP, DOWN);
    /** The projections that write into the residual stream: zeroed in an identity copy, the copy adds nothing. */
    public static final List<String> RESIDUAL_WRITERS = List.of(O, DOWN);

    /** Whether a projection's bias exists. */
    public enum Bias { ALWAYS, NEVER, ATTENTION_BIAS }

    /** How an RMSNorm applies its weight w to the normalised x. */
    public enum NormForm {
        /** x * w (Llama, Qwen): the weight starts at 1. */
        WEIGHT,
        /** x * (1 + w) in float32, then cast back (Gemma): the weight starts at 0. */
        ONE_PLUS_WEIGHT;

        /** The weight of a norm that changes nothing. */
        public double identityWeight() {
            return this == WEIGHT ? 1.0 : 0.0;
        }

        /** RMSNorm of x over its last dimension with weight w, as the family's Hugging Face module computes it. */
        public Tensor apply(Tensor x, Tensor w, double eps) {
            if (this == WEIGHT) return x.rmsNorm(w, eps);
            DType dtype = x.dtype();
            DType wide = dtype == DType.FLOAT64 ? DType.FLOAT64 : DType.FLOAT32;
            Tensor out = x.to(wide).rmsNorm(w.to(wide).add(1.0), eps);
            return dtype == wide ? out : out.to(dtype);
        }
    }

    /** config.json defaults of transformers' config classes, for absent (or null) fields. */
    public record Defaults(int maxPositionEmbeddings, int headDim, double ropeTheta, boolean tieWordEmbeddings, Activation activation,
                           double queryPreAttnScalar, double attnLogitSoftcapping, double finalLogitSoftcapping, int slidingWindow,
                           int slidingWindowPattern, double localRopeTheta) {
        /** headDim 0: hidden_size / num_attention_heads. The attention extras are 0: none. */
        static Defaults plain(int maxPositions, int headDim) {
            return new Defaults(maxPositions, headDim, 10000.0, false, Activation.SILU, 0, 0, 0, 0, 0, 0);
        }
    }

    /** Tensor names of one decoder layer relative to "model.layers.N.", with their shapes, in Hugging Face's parameter order. */
    public java.util.Map<String, long[]> layerShapes(ModelConfig c) {
        long q = (long) c.numAttentionHeads() * c.headDim();
        long kv = (long) c.numKeyValueHeads() * c.headDim();
        boolean qkvB = has(qkvBias, c.attentionBias());
        boolean oB = has(outputBias, c.attentionBias());
        boolean mlpB = mlpBiasField && c.mlpBias();
        var shapes = new java.util.LinkedHashMap<String, long[]>();
        projection(shapes, Q, q, c.hiddenSize(), qkvB);
        projection(shapes, K, kv, c.hiddenSize(), qkvB);
        projection(shapes, V, kv, c.hiddenSize(), qkvB);
        projection(shapes, O, c.hiddenSize(), q, oB);
        if (qkNorm) {
            shapes.put(Q_NORM, new long[] {c.headDim()});
            shapes.put(K_NORM, new long[] {c.headDim()});
        }
        projection(shapes, GATE, c.intermediateSize(), c.hiddenSize(), mlpB);
        projection(shapes, UP, c.intermediateSize(), c.hiddenSize(), mlpB);
        projection(shapes, DOWN, c.hiddenSize(), c.intermediateSize(), mlpB);
        for (String n : norms()) shapes.put(n, new long[] {c.hiddenSize()});
        return shapes;
    }

    /** The hidden-size norms of a layer, in parameter order. */
    public List<String> norms() {
        List<String> n = new ArrayList<>(List.of(INPUT_NORM, POST_ATTENTION_NORM));
        if (sandwichNorms) n.addAll(List.of(PRE_FEEDFORWARD_NORM, POST_FEEDFORWARD_NORM));
        return n;
    }

    /** The norm the MLP reads (Llama names it post_attention_layernorm; Gemma uses that name for the attention output's norm). */
    public String preMlpNorm() {
        return sandwichNorms ? PRE_FEEDFORWARD_NORM : POST_ATTENTION_NORM;
    }

    /** Whether a tensor (relative to the layer, or a full name) is a norm weight. */
    public static boolean isNorm(String name) {
        return name.endsWith("norm.weight");
    }

    private static boolean has(Bias rule, boolean attentionBias) {
        return rule == Bias.ALWAYS || rule == Bias.ATTENTION_BIAS && attentionBias;
    }

    private static void projection(java.util.Map<String, long[]> shapes, String name, long out, long in, boolean bias) {
        shapes.put(name + ".weight", new long[] {out, in});
        if (bias) shapes.put(name + ".bias", new long[] {out});
    }
}
