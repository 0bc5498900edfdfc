package adept.train;

import adept.expand.ExpansionException;
import adept.expand.ExpansionMetadata;
import adept.expand.ExpansionPlan;
import adept.expand.LayerExpansion;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.ConfigJson;
import adept.io.checkpoint.LoadedModel;
import adept.io.checkpoint.Provenance;
import adept.io.data.Batch;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.probe.LayerImportance;
import adept.probe.LayerProbe;
import adept.tensor.DType;
import adept.tensor.Device;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The model a mode trains and what of it is trainable, decided from the expansion metadata (never by
 * looking for zero matrices): an expanded model trains its copies; an unexpanded one is probed and
 * expanded first (adept, adept-no-stage2), expanded uniformly (llama-pro), tuned in place on its K
 * lowest-dL layers (adept-no-stage1), trained whole (full) or given LoRA adapters (lora, {@link LoraMode}).
 *
 * @param loaded     the model (owned by the caller) with its provenance: the base model's folder, the config.json
 *                   (the expanded layer count when expanded here) and the expansion's record, what a save writes
 * @param trainable  Hugging Face names of the tensors to train
 * @param expansion  the expansion the model carries (loaded or made here), null when there is none
 * @param probed     layer importance when this run probed the layers, else null
 * @param how        a sentence on what was done, for the log
 */
public record PreparedModel(LoadedModel loaded, List<String> trainable, ExpansionMetadata expansion, LayerImportance probed, String how) {
    /** Records expansion in the provenance, so that every save of the model carries it. */
    public PreparedModel {
        trainable = List.copyOf(trainable);
        if (expansion != null) loaded = loaded.withProvenance(expansion.recordedIn(loaded.provenance()));
    }

    /** The model. */
    public CausalLM model() {
        return loaded.model();
    }

    /** Its config.json. */
    public ConfigJson config() {
        return loaded.provenance().config();
    }

    /** Loads and prepares the model for the settings' mode; probe: the probe batches (on device), used when the layers are probed. */
    public static PreparedModel prepare(TrainSettings s, Checkpoint checkpoint, DType dtype, Device device, List<Batch> probe) {
        return prepare(s, checkpoint, dtype, device, probe, null);
    }

    /** As above; group (null: one process) shares the layer probe's batches out over the ranks. */
    public static PreparedModel prepare(TrainSettings s, Checkpoint checkpoint, DType dtype, Device device, List<Batch> probe,
                                        adept.parallel.ProcessGroup group) {
        return prepare(s, checkpoint, dtype, device, probe, group, null);
    }

    /** As above; info (null: nowhere) gets the layer probe's line when its cache is bounded (probe_cache_memory). */
    public static PreparedModel prepare(TrainSettings s, Checkpoint checkpoint, DType dtype, Device device, List<Batch> probe,
                                        adept.parallel.ProcessGroup group, java.util.function.Consumer<String> info) {
        ExpansionMetadata existing = ExpansionMetadata.from(checkpoint.metadata(), checkpoint.dir().toString()).orElse(null);
        String source = checkpoint.dir().toString();
        check(s, existing, checkpoint.config().modelConfig(), source);
        LoadedModel loaded = new LoadedModel(checkpoint.loadModel(dtype, device), checkpoint.provenance());
        try {
            if (s.preparation().mode() == TrainMode.LORA) return LoraMode.prepare(s, checkpoint, loaded, existing);
            return shape(s, loaded, existing, probe, group, info);
        } catch (RuntimeException e) {
            loaded.close();
            throw e;
        }
    }

    /**
     * Prepares a model already in memory (the caller's: changed in place when the mode expands it, never closed here),
     * as {@link #prepare} does a loaded one; it counts as unexpanded. Mode lora needs a model folder.
     */
    static PreparedModel prepareInMemory(TrainSettings s, CausalLM model, List<Batch> probe,
                                         adept.parallel.ProcessGroup group, java.util.function.Consumer<String> info) {
        if (s.preparation().mode() == TrainMode.LORA) {
            throw new TrainException("mode lora trains a model read from a folder (its adapters are written beside it): train from files, or use another mode");
        }
        check(s, null, model.config(), "the model in memory");
        Provenance none = new Provenance(null, ConfigJson.of(model.config(), model.dtype()), Map.of(), Map.of());
        return shape(s, new LoadedModel(model, none), null, probe, group, info);
    }

    /** The settings' checks against the model before any work. */
    private static void check(TrainSettings s, ExpansionMetadata existing, ModelConfig config, String source) {
        TrainMode mode = s.preparation().mode();
        int m = config.numHiddenLayers();
        if (existing != null && (s.preparation().k() != null || s.preparation().layers() != null) && mode != TrainMode.FULL) {
            throw new TrainException(source + " is already expanded (copies " + existing.copyIndices()
                    + "); k / layers apply to an unexpanded model");
        }
        if (existing != null && mode == TrainMode.ADEPT_NO_STAGE1) {
            throw new TrainException("mode adept-no-stage1 tunes original layers without expansion, but " + source
                    + " is an expanded model: give the base model");
        }
        boolean needsProbe = existing == null && s.preparation().layers() == null && mode.probesLayers();
        if (needsProbe && s.inputs().probe() == null) {
            throw new TrainException(source + " has no expansion metadata (" + ExpansionMetadata.FILE_NAME + "), so mode "
                    + mode.label() + " must probe it first: give a probe corpus (--probe), explicit --layers, or an expanded model");
        }
        if (s.preparation().layers() != null) {
            for (int l : s.preparation().layers()) if (l < 0 || l >= m) throw new TrainException("layers: " + l + " is out of range 0.." + (m - 1));
        }
    }

    /** Decides what of the loaded model trains, expanding it when the mode does. */
    private static PreparedModel shape(TrainSettings s, LoadedModel loaded, ExpansionMetadata existing, List<Batch> probe,
                                       adept.parallel.ProcessGroup group, java.util.function.Consumer<String> info) {
        TrainMode mode = s.preparation().mode();
        CausalLM model = loaded.model();
        ModelConfig config = model.config();
        int m = config.numHiddenLayers();
        try {
            if (mode == TrainMode.FULL) {
                return new PreparedModel(loaded, new ArrayList<>(model.namedParameters().keySet()), existing, null,
                        "full training: every tensor");
            }
            if (existing != null) {
                return new PreparedModel(loaded, existing.trainable(), existing, null,
                        "the copies " + existing.copyIndices() + " of the expanded model (" + existing.method() + ")");
            }
            LayerImportance importance = null;
            List<Integer> chosen;
            String why;
            if (s.preparation().layers() != null) {
                chosen = s.preparation().layers();
                why = "layers " + s.preparation().layers() + " as given";
            } else if (mode == TrainMode.LLAMA_PRO) {
                int k = s.preparation().k() != null ? s.preparation().k() : LayerExpansion.kWithinBudget(config, s.preparation().expandBudget());
                ExpansionPlan plan = LayerExpansion.uniform(m, k);
                chosen = plan.sources();
                why = plan.reason();
            } else {
                importance = new LayerProbe(model, s.probeCacheBytes(), info).probe(probe, null, group);
                ExpansionPlan plan = s.preparation().k() != null ? LayerExpansion.lowest(importance, s.preparation().k())
                        : LayerExpansion.lowestWithinBudget(importance, config, s.preparation().expandBudget());
                chosen = plan.sources();
                why = plan.reason();
            }
            if (mode == TrainMode.ADEPT_NO_STAGE1) {
                List<String> names = new ArrayList<>();
                for (int layer : new java.util.TreeSet<>(chosen)) {
                    for (String n : model.layers().get(layer).parameters().keySet()) names.add(ModelConfig.layerPrefix(layer) + n);
                }
                return new PreparedModel(loaded, names, null, importance,
                        "original layers " + new java.util.TreeSet<>(chosen) + " tuned in place (" + why + ")");
            }
            ExpansionPlan plan = mode == TrainMode.LLAMA_PRO ? LayerExpansion.uniform(m, chosen.size())
                    : s.preparation().layers() != null ? LayerExpansion.explicit(m, chosen) : new ExpansionPlan(m, chosen, "lowest-dL", why);
            LayerExpansion.Expanded expanded = LayerExpansion.apply(loaded, plan, importance,
                    importance == null ? null : s.inputs().probe().toString());
            return new PreparedModel(expanded.model(), expanded.trainable(), expanded.metadata(), importance,
                    "expanded " + m + " -> " + plan.expandedLayers() + " layers, copying " + plan.sources() + " (" + plan.reason() + ")");
        } catch (ExpansionException x) {
            throw new TrainException(x.getMessage(), x);
        }
    }

    /** Trainable and total parameter counts. */
    public long[] parameterCounts() {
        java.util.Set<String> names = new java.util.HashSet<>(trainable);
        long t = 0;
        long all = 0;
        for (var e : model().parametersAndAdapters().entrySet()) {
            all += e.getValue().numel();
            if (names.contains(e.getKey())) t += e.getValue().numel();
        }
        return new long[] {t, all};
    }
}
