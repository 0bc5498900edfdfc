package adept.expand;

import adept.AdeptVersion;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.LoadedModel;
import adept.io.checkpoint.ConfigJson;
import adept.io.checkpoint.Provenance;
import adept.nn.CausalLM;
import adept.nn.DecoderLayer;
import adept.nn.Family;
import adept.nn.ModelConfig;
import adept.probe.LayerImportance;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Stage 1, step 2: selective expansion by identity copy. Each copy clones its source
 * layer except o_proj and down_proj (weights and biases), which are zeroed, so the copy adds
 * nothing to the residual stream and the expanded model computes the same logits.
 */
public final class LayerExpansion {
    /** Tensors zeroed in a copy: weights and biases of the projections that write into the residual stream (the family's). */
    static final Set<String> ZEROED = zeroed();

    private static Set<String> zeroed() {
        Set<String> names = new java.util.HashSet<>();
        for (String p : Family.RESIDUAL_WRITERS) names.addAll(List.of(p + ".weight", p + ".bias"));
        return Set.copyOf(names);
    }

    private LayerExpansion() {}

    /** The K layers with the smallest dL (ties: lower index). */
    public static ExpansionPlan lowest(LayerImportance importance, int k) {
        int m = importance.skipLoss().length;
        if (k <= 0 || k > m) throw new ExpansionException("K must be in 1.." + m + ", got " + k);
        return new ExpansionPlan(m, importance.lowest(k), "lowest-dL",
                "the " + k + " layers whose removal raises the general loss least");
    }

    /**
     * K chosen from a trainable-parameter budget: the largest K whose copies are at most
     * budget (e.g. 0.15) of the expanded model's parameters, at least 1.
     */
    public static ExpansionPlan lowestWithinBudget(LayerImportance importance, ModelConfig config, double budget) {
        if (!(budget > 0 && budget < 1)) throw new ExpansionException("parameter budget must be in (0, 1), got " + budget);
        long perLayer = layerParameters(config);
        long total = config.parameterCount();
        int k = kWithinBudget(config, budget);
        double share = (double) k * perLayer / (total + (long) k * perLayer);
        ExpansionPlan plan = lowest(importance, k);
        return new ExpansionPlan(plan.originalLayers(), plan.sources(), "lowest-dL", String.format(
                "K=%d: the largest K whose copies (%,d parameters each) stay within %.1f%% of the expanded model (%.1f%%)",
                k, perLayer, 100 * budget, 100 * share));
    }

    /** The largest K (at least 1, at most M) whose K layer copies are at most budget of the expanded model's parameters. */
    public static int kWithinBudget(ModelConfig config, double budget) {
        if (!(budget > 0 && budget < 1)) throw new ExpansionException("parameter budget must be in (0, 1), got " + budget);
        long perLayer = layerParameters(config);
        long total = config.parameterCount();
        int m = config.numHiddenLayers();
        int k = 1;
        while (k < m && (double) (k + 1) * perLayer / (total + (k + 1) * perLayer) <= budget) k++;
        return k;
    }

    /** LLaMA-Pro placement: split the M layers into P equal groups and copy the top layer of each. */
    public static ExpansionPlan uniform(int layers, int groups) {
        if (groups <= 0 || groups > layers) throw new ExpansionException("the number of groups P must be in 1.." + layers + ", got " + groups);
        List<Integer> sources = new ArrayList<>();
        for (int g = 0; g < groups; g++) sources.add((int) ((long) (g + 1) * layers / groups) - 1);
        return new ExpansionPlan(layers, sources, "llama-pro", "the top layer of each of " + groups + " equal groups (LLaMA-Pro)");
    }

    /** Copies of the given layers of a model with layers layers. */
    public static ExpansionPlan explicit(int layers, List<Integer> sources) {
        return new ExpansionPlan(layers, sources, "explicit", "layers given on the command line");
    }

    /** Parameters of one decoder layer (what each copy adds). */
    public static long layerParameters(ModelConfig config) {
        long n = 0;
        for (long[] shape : config.layerShapes().values()) {
            long size = 1;
            for (long d : shape) size *= d;
            n += size;
        }
        return n;
    }

    /**
     * Inserts the copies into the model (in place) and returns the Hugging Face names of the copies' tensors. The
     * model's provenance is not touched: {@link #apply(LoadedModel, ExpansionPlan, LayerImportance)} updates it.
     */
    public static List<String> apply(CausalLM model, ExpansionPlan plan) {
        if (model.layers().size() != plan.originalLayers()) {
            throw new ExpansionException("the plan is for " + plan.originalLayers() + " layers but the model has " + model.layers().size());
        }
        // Insert from the top so earlier source indices stay valid.
        List<Integer> sources = new ArrayList<>(plan.sources());
        for (int i = sources.size() - 1; i >= 0; i--) {
            int source = sources.get(i);
            model.insertLayer(source + 1, identityCopy(model.layers().get(source), model.config()));
        }
        List<String> trainable = new ArrayList<>();
        for (int index : plan.copyIndices()) {
            for (String name : model.layers().get(index).parameters().keySet()) trainable.add(ModelConfig.layerPrefix(index) + name);
        }
        return trainable;
    }

    /** The loaded model expanded (in place) with its provenance updated, the copies' tensors and the expansion's record. */
    public record Expanded(LoadedModel model, List<String> trainable, ExpansionMetadata metadata) {}

    /** As {@link #apply(LoadedModel, ExpansionPlan, LayerImportance, String)} with no scores file recorded. */
    public static Expanded apply(LoadedModel loaded, ExpansionPlan plan, LayerImportance scores) {
        return apply(loaded, plan, scores, null);
    }

    /**
     * As {@link #apply(CausalLM, ExpansionPlan)}, returning the model with its provenance updated as adept
     * expand writes it: config.json with the new layer count, the {@link ExpansionMetadata} (with scores' dL when given,
     * scoresFile naming where they were read, the provenance's folder as the base model, this adept's version) in the
     * safetensors metadata and the {@value ExpansionMetadata#FILE_NAME} sidecar, so
     * {@link Checkpoint#save(LoadedModel, java.nio.file.Path)} keeps them.
     */
    public static Expanded apply(LoadedModel loaded, ExpansionPlan plan, LayerImportance scores, String scoresFile) {
        ModelConfig before = loaded.model().config();
        Provenance p = loaded.provenance();
        List<String> trainable = apply(loaded.model(), plan);
        // Layers removed or added by hand since loading: the loaded config.json no longer describes the model.
        if (p.config().modelConfig().numHiddenLayers() != before.numHiddenLayers()) p = p.withConfig(ConfigJson.of(before, null));
        String base = p.folder() == null ? null : p.folder().toAbsolutePath().normalize().toString();
        ExpansionMetadata m = ExpansionMetadata.of(plan, trainable, scores == null ? null : scores.deltas(), scoresFile, base, AdeptVersion.current());
        p = m.recordedIn(p.withConfig(p.config().withLayerCount(plan.expandedLayers(), plan.sourceOfEachLayer())));
        return new Expanded(loaded.withProvenance(p), trainable, m);
    }

    /**
     * A copy of the layer (its attention span included) whose o_proj and down_proj are zero: it adds nothing to the residual
     * stream. Also with Gemma's norms of the sublayer outputs, since an RMSNorm of zeros is zeros.
     */
    public static DecoderLayer identityCopy(DecoderLayer source, ModelConfig config) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            for (var e : source.parameters().entrySet()) {
                Tensor copy = e.getValue().detach().clone();
                if (ZEROED.contains(e.getKey())) copy.zero();
                tensors.put(e.getKey(), copy.keep());
            }
        }
        return new DecoderLayer(config, tensors, source.type());
    }
}
