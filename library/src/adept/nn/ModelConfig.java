package adept.nn;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The shape and hyper-parameters of a decoder-only LM, as Hugging Face's config.json
 * describes it. headDim is explicit (Qwen3 sets it apart from hidden/heads). What the family
 * adds beyond the Llama shape (activation, attention scale, soft-capping, sliding windows) is in
 * {@link Extras}; which tensors exist is the family's ({@link Family#layerShapes}).
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
        boolean mlpBias,
        Extras extras) {

    /**
     * What Gemma-style families add; Llama-style ones use {@link #defaults}'s (SiLU, no extras).
     *
     * @param activation            the MLP gate's activation
     * @param queryPreAttnScalar    attention scores are scaled by 1 / sqrt(this); 0: by 1 / sqrt(head_dim)
     * @param attnLogitSoftcapping  scores become cap * tanh(scores / cap) before the mask; 0: none
     * @param finalLogitSoftcapping logits become cap * tanh(logits / cap); 0: none
     * @param slidingWindow         keys a sliding layer's query sees (itself included); 0: no sliding layers
     * @param layerTypes            one per layer; empty: every layer full attention
     * @param localRopeTheta        rope base of sliding layers (Gemma 3's rope_local_base_freq); 0: rope_theta
     */
    public record Extras(Activation activation, double queryPreAttnScalar, double attnLogitSoftcapping, double finalLogitSoftcapping,
                         int slidingWindow, List<LayerType> layerTypes, double localRopeTheta) {
        public Extras {
            layerTypes = List.copyOf(layerTypes);
            if (queryPreAttnScalar < 0 || attnLogitSoftcapping < 0 || finalLogitSoftcapping < 0 || slidingWindow < 0 || localRopeTheta < 0) {
                throw new ModelException("query_pre_attn_scalar, soft-capping, sliding_window and rope_local_base_freq must be >= 0");
            }
            if (layerTypes.contains(LayerType.SLIDING_ATTENTION) && slidingWindow == 0) {
                throw new ModelException("layer_types has sliding_attention layers but sliding_window is not set");
            }
        }

        /** The family's config.json defaults for a model of layers layers. */
        public static Extras defaults(Architecture architecture, int layers) {
            Family.Defaults d = architecture.family().defaults();
            List<LayerType> types = architecture.family().slidingLayers() ? pattern(layers, d.slidingWindowPattern()) : List.of();
            return new Extras(d.activation(), d.queryPreAttnScalar(), d.attnLogitSoftcapping(), d.finalLogitSoftcapping(),
                    d.slidingWindow(), types, d.localRopeTheta());
        }

        /** Every period-th layer full attention, the others sliding (transformers' sliding_window_pattern); period 0: none sliding. */
        public static List<LayerType> pattern(int layers, int period) {
            List<LayerType> types = new ArrayList<>();
            for (int i = 0; i < layers; i++) {
                types.add(period > 0 && (i + 1) % period != 0 ? LayerType.SLIDING_ATTENTION : LayerType.FULL_ATTENTION);
            }
            return types;
        }

        Extras withLayerTypes(List<LayerType> types) {
            return new Extras(activation, queryPreAttnScalar, attnLogitSoftcapping, finalLogitSoftcapping, slidingWindow, types, localRopeTheta);
        }
    }

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
        if (extras == null) throw new ModelException("extras must be given (Extras.defaults for the family's)");
        if (!extras.layerTypes().isEmpty() && extras.layerTypes().size() != numHiddenLayers) {
            throw new ModelException("layer_types has " + extras.layerTypes().size() + " entries but num_hidden_layers is " + numHiddenLayers);
        }
    }

    /** A builder for architecture, with the family's config.json defaults ({@link Family#defaults}) where it has them. */
    public static Builder builder(Architecture architecture) {
        return new Builder(architecture);
    }

    /** A builder starting from this configuration (its extras included). */
    public Builder toBuilder() {
        return new Builder(architecture).vocabSize(vocabSize).hiddenSize(hiddenSize).intermediateSize(intermediateSize)
                .numHiddenLayers(numHiddenLayers).numAttentionHeads(numAttentionHeads).numKeyValueHeads(numKeyValueHeads).headDim(headDim)
                .rmsNormEps(rmsNormEps).ropeTheta(ropeTheta).ropeScaling(ropeScaling).maxPositionEmbeddings(maxPositionEmbeddings)
                .tieWordEmbeddings(tieWordEmbeddings).attentionBias(attentionBias).mlpBias(mlpBias).extras(extras);
    }

    /**
     * Builds a {@link ModelConfig} field by field. vocab_size, hidden_size, intermediate_size, num_hidden_layers and
     * num_attention_heads are required; the others default as a config.json without them reads
     * ({@code io.checkpoint.ConfigJson}): num_key_value_heads = num_attention_heads, head_dim the family's or hidden /
     * heads, rms_norm_eps 1e-6, rope_theta, max_position_embeddings and tie_word_embeddings the family's, no rope scaling,
     * no biases, the family's {@link Extras#defaults} for the layer count.
     */
    public static final class Builder {
        private final Architecture architecture;
        private final Family.Defaults defaults;
        private int vocabSize, hiddenSize, intermediateSize, numAttentionHeads;
        private int numHiddenLayers;
        private boolean layersGiven;
        private Integer numKeyValueHeads, headDim;
        private double rmsNormEps = 1e-6;
        private double ropeTheta;
        private RopeScaling ropeScaling;
        private int maxPositionEmbeddings;
        private boolean tieWordEmbeddings, attentionBias, mlpBias;
        private Extras extras;

        private Builder(Architecture architecture) {
            if (architecture == null) throw new ModelException("architecture must be given");
            this.architecture = architecture;
            this.defaults = architecture.family().defaults();
            this.ropeTheta = defaults.ropeTheta();
            this.maxPositionEmbeddings = defaults.maxPositionEmbeddings();
            this.tieWordEmbeddings = defaults.tieWordEmbeddings();
        }

        /** vocab_size (required). */
        public Builder vocabSize(int v) { vocabSize = v; return this; }
        /** hidden_size (required). */
        public Builder hiddenSize(int v) { hiddenSize = v; return this; }
        /** intermediate_size (required). */
        public Builder intermediateSize(int v) { intermediateSize = v; return this; }
        /** num_hidden_layers (required). */
        public Builder numHiddenLayers(int v) { numHiddenLayers = v; layersGiven = true; return this; }
        /** num_attention_heads (required). */
        public Builder numAttentionHeads(int v) { numAttentionHeads = v; return this; }
        /** num_key_value_heads; default: num_attention_heads. */
        public Builder numKeyValueHeads(int v) { numKeyValueHeads = v; return this; }
        /** head_dim; default: the family's, else hidden_size / num_attention_heads. */
        public Builder headDim(int v) { headDim = v; return this; }
        /** rms_norm_eps; default 1e-6. */
        public Builder rmsNormEps(double v) { rmsNormEps = v; return this; }
        /** rope_theta; default: the family's. */
        public Builder ropeTheta(double v) { ropeTheta = v; return this; }
        /** rope_scaling; default null: none. */
        public Builder ropeScaling(RopeScaling v) { ropeScaling = v; return this; }
        /** max_position_embeddings; default: the family's. */
        public Builder maxPositionEmbeddings(int v) { maxPositionEmbeddings = v; return this; }
        /** tie_word_embeddings; default: the family's. */
        public Builder tieWordEmbeddings(boolean v) { tieWordEmbeddings = v; return this; }
        /** attention_bias; default false. */
        public Builder attentionBias(boolean v) { attentionBias = v; return this; }
        /** mlp_bias; default false. */
        public Builder mlpBias(boolean v) { mlpBias = v; return this; }
        /** The family extras; null (the default): {@link Extras#defaults} for the layer count. */
        public Builder extras(Extras v) { extras = v; return this; }

        /** The configuration; a missing required field or a bad value is a {@link ModelException} naming the field. */
        public ModelConfig build() {
            if (!layersGiven) throw new ModelException("num_hidden_layers must be given");
            // the constructor reports a bad head count; 0 here only avoids dividing by it
            int dim = headDim != null ? headDim : defaults.headDim() > 0 ? defaults.headDim() : numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0;
            return new ModelConfig(architecture, vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
                    numKeyValueHeads != null ? numKeyValueHeads : numAttentionHeads, dim, rmsNormEps, ropeTheta, ropeScaling,
                    maxPositionEmbeddings, tieWordEmbeddings, attentionBias, mlpBias,
                    extras != null ? extras : Extras.defaults(architecture, Math.max(0, numHiddenLayers)));
        }
    }

    /** The family spec of the architecture. */
    public Family family() {
        return architecture.family();
    }

    /** Layer i's attention span. */
    public LayerType layerType(int layer) {
        return extras.layerTypes().isEmpty() ? LayerType.FULL_ATTENTION : extras.layerTypes().get(layer);
    }

    /** Whether any layer attends through a sliding window. */
    public boolean hasSlidingLayers() {
        return extras.layerTypes().contains(LayerType.SLIDING_ATTENTION);
    }

    /** The factor of q k^T: 1 / sqrt(query_pre_attn_scalar), or 1 / sqrt(head_dim). */
    public double attentionScale() {
        return 1.0 / Math.sqrt(extras.queryPreAttnScalar() > 0 ? extras.queryPreAttnScalar() : headDim);
    }

    /** The rope base of sliding layers. */
    public double localRopeTheta() {
        return extras.localRopeTheta() > 0 ? extras.localRopeTheta() : ropeTheta;
    }

    private static void positive(String field, int value) {
        if (value <= 0) throw new ModelException(field + " must be > 0, got " + value);
    }

    /** This configuration with another layer count; layers added at the end follow the family's sliding pattern. */
    public ModelConfig withNumHiddenLayers(int layers) {
        List<LayerType> types = extras.layerTypes();
        if (!types.isEmpty()) {
            List<LayerType> pattern = Extras.pattern(layers, architecture.family().defaults().slidingWindowPattern());
            types = new ArrayList<>(types.subList(0, Math.min(layers, types.size())));
            for (int i = types.size(); i < layers; i++) types.add(pattern.get(i));
        }
        return withLayerTypes(layers, types);
    }

    /** This configuration with new layer i a copy of layer sourceOfEachLayer[i] (its attention span included). */
    public ModelConfig withLayerSources(int[] sourceOfEachLayer) {
        List<LayerType> types = new ArrayList<>();
        if (!extras.layerTypes().isEmpty()) for (int s : sourceOfEachLayer) types.add(extras.layerTypes().get(s));
        return withLayerTypes(sourceOfEachLayer.length, types);
    }

    /** This configuration with the given layers' attention spans (and as many layers). */
    public ModelConfig withLayerTypes(List<LayerType> types) {
        return withLayerTypes(types.size(), extras.layerTypes().isEmpty() && !types.contains(LayerType.SLIDING_ATTENTION) ? List.of() : types);
    }

    private ModelConfig withLayerTypes(int layers, List<LayerType> types) {
        return new ModelConfig(architecture, vocabSize, hiddenSize, intermediateSize, layers, numAttentionHeads, numKeyValueHeads,
                headDim, rmsNormEps, ropeTheta, ropeScaling, maxPositionEmbeddings, tieWordEmbeddings, attentionBias, mlpBias,
                extras.withLayerTypes(types));
    }

    /** Tensor names of one decoder layer, relative to "model.layers.N.", with their shapes (the family's). */
    public Map<String, long[]> layerShapes() {
        return architecture.family().layerShapes(this);
    }

    /** Every tensor of the checkpoint, by Hugging Face name, in the order Hugging Face lists parameters. */
    public Map<String, long[]> tensorShapes() {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put(Family.EMBED, new long[] {vocabSize, hiddenSize});
        Map<String, long[]> layer = layerShapes();
        for (int i = 0; i < numHiddenLayers; i++) {
            for (var e : layer.entrySet()) shapes.put(layerPrefix(i) + e.getKey(), e.getValue());
        }
        shapes.put(Family.FINAL_NORM, new long[] {hiddenSize});
        if (!tieWordEmbeddings) shapes.put(Family.LM_HEAD, new long[] {vocabSize, hiddenSize});
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
