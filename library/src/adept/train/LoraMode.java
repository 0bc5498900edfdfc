package adept.train;

import adept.expand.ExpansionMetadata;
import adept.expand.LayerExpansion;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.FileOps;
import adept.io.checkpoint.LoadedModel;
import adept.io.checkpoint.PeftAdapters;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.tune.LoraAdapters;
import adept.tune.LoraSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The trainer's side of mode lora: the rank (given, or matched to adept's trainable count), the adapters on the loaded
 * base, and what a save writes. Checkpoints and the final model hold the merged weights (every adept command reads
 * them) plus the adapters in PEFT's files; a resume loads the base model again, attaches the checkpoint's adapters
 * and checks that they and the base reproduce the checkpoint's merged weights (a base model changed since would not).
 */
final class LoraMode {
    /** The run folder's PEFT adapter folder (out/adapter/). */
    static final String ADAPTER_DIR = "adapter";

    private LoraMode() {}

    /** The rank a run uses on a model, and why. */
    record Rank(int rank, String why) {}

    /** The rank the settings give on checkpoint's model (given, or matched); an error naming the setting when nothing matches. */
    static Rank rank(TrainSettings s, Checkpoint checkpoint) {
        ModelConfig config = checkpoint.config().modelConfig();
        ExpansionMetadata existing = ExpansionMetadata.from(checkpoint.metadata(), checkpoint.dir().toString()).orElse(null);
        try {
            LoraAdapters.parametersPerRank(config, s.lora().targets());  // every target exists in this architecture
            if (s.lora().rank() != null) return new Rank(s.lora().rank(), "lora_rank " + s.lora().rank());
            Long count = s.loraMatchCount();
            String what = count != null ? "the given count" : adeptCount(s, config, existing, checkpoint);
            long target = count != null ? count : adeptParameters(s, config, existing);
            int rank = LoraAdapters.matchRank(target, config, s.lora().targets(), what);
            return new Rank(rank, String.format(Locale.ROOT, "rank %d: %,d parameters, the closest to %s, %,d", rank,
                    rank * LoraAdapters.parametersPerRank(config, s.lora().targets()), what, target));
        } catch (IllegalArgumentException e) {
            throw new TrainException(e.getMessage());
        }
    }

    /** Attaches the run's adapters to model (the loaded base, the caller's) and says what is trained. */
    static PreparedModel prepare(TrainSettings s, Checkpoint checkpoint, LoadedModel loaded, ExpansionMetadata existing) {
        CausalLM model = loaded.model();
        Rank r = rank(s, checkpoint);
        try {
            LoraSpec spec = new LoraSpec(r.rank(), s.loraAlpha(r.rank()), s.lora().dropout(), s.lora().targets());
            Map<String, Tensor> adapters = LoraAdapters.attach(model, spec, s.inputs().seed());
            String how = String.format(Locale.ROOT, "LoRA r=%d, alpha %s (scale %.4g), dropout %s on %s of all %d layers, base frozen (%s)",
                    r.rank(), SettingValues.format(spec.alpha()), spec.scale(),
                    SettingValues.format(spec.dropout()), String.join(", ", spec.targets()),
                    model.config().numHiddenLayers(), r.why());
            return new PreparedModel(loaded, new ArrayList<>(adapters.keySet()), existing, null, how);
        } catch (IllegalArgumentException e) {
            throw new TrainException(e.getMessage());
        }
    }

    /** What mode adept would train on this model: the copies of an expanded one, else K layer copies (K as adept picks it). */
    static long adeptParameters(TrainSettings s, ModelConfig config, ExpansionMetadata existing) {
        if (existing != null) {
            Map<String, long[]> shapes = config.tensorShapes();
            long n = 0;
            for (String name : existing.trainable()) {
                long size = 1;
                for (long d : shapes.get(name)) size *= d;
                n += size;
            }
            return n;
        }
        return (long) adeptK(s, config) * LayerExpansion.layerParameters(config);
    }

    private static int adeptK(TrainSettings s, ModelConfig config) {
        int m = config.numHiddenLayers();
        if (s.preparation().layers() != null) return (int) s.preparation().layers().stream().distinct().count();
        if (s.preparation().k() != null) {
            if (s.preparation().k() > m) throw new TrainException("k: " + s.preparation().k() + " exceeds the model's " + m + " layers");
            return s.preparation().k();
        }
        return LayerExpansion.kWithinBudget(config, s.preparation().expandBudget());
    }

    private static String adeptCount(TrainSettings s, ModelConfig config, ExpansionMetadata existing, Checkpoint checkpoint) {
        if (existing != null) return "adept's trainable copies " + existing.copyIndices() + " of the expanded " + checkpoint.dir().getFileName();
        int k = adeptK(s, config);
        String from = s.preparation().layers() != null ? "layers" : s.preparation().k() != null ? "k" : String.format(Locale.ROOT, "expand_budget %s", s.preparation().expandBudget());
        return "adept's K=" + k + " layer copies (" + from + ")";
    }

    /**
     * A lora run's model from checkpoint dir: the base model (settings' model) with the checkpoint's adapters; their
     * merged weights must equal the checkpoint's, within the rounding of the merge.
     */
    static PreparedModel resume(TrainSettings s, Path dir, TrainerState state, DType dtype, Device device) {
        Checkpoint base = Checkpoint.open(s.inputs().model().toAbsolutePath().normalize());
        ExpansionMetadata existing = ExpansionMetadata.from(base.metadata(), base.dir().toString()).orElse(null);
        PeftAdapters.Config pc = PeftAdapters.readConfig(dir);
        LoraSpec spec;
        try {
            spec = new LoraSpec(pc.rank(), pc.alpha(), pc.dropout(), pc.targetModules());
        } catch (IllegalArgumentException e) {
            throw new TrainException(dir + ": " + e.getMessage());
        }
        CausalLM model = base.loadModel(dtype, device);
        try {
            Map<String, Tensor> tensors = PeftAdapters.readTensors(dir);
            try {
                LoraAdapters.attach(model, spec, tensors);
            } catch (IllegalArgumentException e) {
                throw new TrainException(dir + ": " + e.getMessage());
            } finally {
                tensors.values().forEach(Tensor::close);
            }
            List<String> names = new ArrayList<>(model.adapterParameters().keySet());
            if (!names.equals(state.trainable())) throw new TrainException(dir + ": the adapters are not the tensors its trainer state trains");
            checkMerged(model, Checkpoint.open(dir), dtype, base.dir());
            return new PreparedModel(new LoadedModel(model, base.provenance()), state.trainable(), existing, null,
                    String.format(Locale.ROOT, "LoRA r=%d on %s, resumed at step %d", spec.rank(), String.join(", ", spec.targets()), state.step()));
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** The base + adapters reproduce the checkpoint's merged weights (else the base model changed after the run started). */
    private static void checkMerged(CausalLM model, Checkpoint saved, DType dtype, Path baseDir) {
        // 16-bit merges round once at about 4e-3 relative; a float64 merge computed elsewhere may round the other way
        double tolerance = dtype == DType.FLOAT64 ? 1e-12 : dtype == DType.FLOAT32 ? 1e-6 : 1e-2;
        Map<String, Tensor> merged = LoraAdapters.mergedWeights(model);
        try (var noGrad = Torch.noGrad()) {
            for (var e : merged.entrySet()) {
                try (Scope scope = Scope.open()) {
                    Tensor stored = saved.tensor(e.getKey()).to(DType.FLOAT64, model.device());
                    Tensor ours = e.getValue().to(DType.FLOAT64);
                    double diff = stored.sub(ours).abs().max().item();
                    double scale = Math.max(1, stored.abs().max().item());
                    if (!(diff <= tolerance * scale)) {
                        throw new TrainException(saved.dir() + ": " + e.getKey() + " is not the base model's plus the adapters' (differs by " + diff
                                + "): the base model " + baseDir + " changed since this run started; use the original base model, or --restart");
                    }
                }
            }
        } finally {
            merged.values().forEach(Tensor::close);
        }
    }

    /** A save's merged copy of the model and its adapters' PEFT files (in a hidden folder beside the target); close deletes both. */
    record Staged(CausalLM merged, Path folder) implements AutoCloseable {
        /** The files to copy into the saved folder, by name. */
        Map<String, Path> files() {
            return Map.of(PeftAdapters.CONFIG_FILE, folder.resolve(PeftAdapters.CONFIG_FILE), PeftAdapters.WEIGHTS_FILE,
                    folder.resolve(PeftAdapters.WEIGHTS_FILE));
        }

        @Override
        public void close() {
            merged.close();
            try {
                FileOps.deleteRecursively(folder);
            } catch (IOException ignored) {
                // a hidden temporary folder left behind costs only disk space
            }
        }
    }

    /** Stages model's merged copy and adapter files for a save into parent; null when the model carries no adapters. */
    static Staged stage(CausalLM model, Path parent, Path baseModel) {
        LoraSpec spec = LoraAdapters.specOf(model).orElse(null);
        if (spec == null) return null;
        Path folder;
        try {
            Files.createDirectories(parent);
            folder = Files.createTempDirectory(parent, ".adept-lora");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write in " + parent + ": " + e.getMessage(), e);
        }
        CausalLM merged = null;
        try {
            PeftAdapters.writeFiles(folder, config(spec, baseModel), model.adapterParameters());
            merged = LoraAdapters.merged(model);
            return new Staged(merged, folder);
        } catch (RuntimeException e) {
            if (merged != null) merged.close();
            try {
                FileOps.deleteRecursively(folder);
            } catch (IOException ignored) {
                // as above
            }
            throw e;
        }
    }

    /** Writes model's adapters alone, PEFT layout, as the folder dir; nothing without adapters. */
    static void writeAdapterFolder(CausalLM model, Path dir, Path baseModel) {
        LoraAdapters.specOf(model).ifPresent(spec -> PeftAdapters.writeFolder(dir, config(spec, baseModel), model.adapterParameters()));
    }

    private static PeftAdapters.Config config(LoraSpec spec, Path baseModel) {
        return new PeftAdapters.Config(spec.rank(), spec.alpha(), spec.dropout(), spec.targets(), baseModel.toString());
    }
}
