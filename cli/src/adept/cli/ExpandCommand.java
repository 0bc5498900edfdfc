package adept.cli;

import adept.expand.ExpansionMetadata;
import adept.expand.ExpansionPlan;
import adept.expand.LayerExpansion;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.OutputLock;
import adept.io.checkpoint.LoadedModel;
import adept.io.checkpoint.SaveOptions;
import adept.io.data.DataException;
import adept.nn.CausalLM;
import adept.probe.ProbeReport;
import adept.tensor.DType;
import adept.tensor.Device;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Stage 1, step 2: selective expansion by identity copy. Inserts a copy of each chosen layer right after it
 * (o_proj and down_proj zeroed: same logits) and saves the expanded checkpoint with the expansion recorded
 * under the safetensors metadata key {@value ExpansionMetadata#METADATA_KEY} and in {@value ExpansionMetadata#FILE_NAME}.
 *
 * <p>The weights are loaded and stored as the source stores them (no rounding), unless {@code --dtype} says otherwise.
 * {@code --out} must not be the model folder; an existing non-empty {@code --out} is replaced only with {@code --force}.
 */
@Command(name = "expand", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Stage 1, step 2: insert identity copies of chosen layers and save the expanded model.",
                "Choose the layers with exactly one of: --k K --importance FILE (the K lowest dL), --k auto --importance FILE"
                        + " [--budget B] (the largest K within a trainable-parameter budget), --layers 3,7,9, --uniform P (LLaMA-Pro)."})
public final class ExpandCommand implements Callable<Integer> {
    /** Files of the source folder copied along when present (tokenizer and generation settings). */
    static final List<String> COPIED_FILES = Checkpoint.COMPANION_FILES;

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model folder to expand")
    Path model;

    @Option(names = "--k", paramLabel = "K|auto", description = "copy the K layers with the smallest dL (needs --importance); auto: K from --budget")
    String k;

    @Option(names = "--importance", paramLabel = "FILE", description = "importance.json written by adept probe")
    Path importance;

    @Option(names = "--budget", paramLabel = "B",
            description = "with --k auto: the largest share of the expanded model's parameters the copies may have (default: 0.15)")
    Double budget;

    @Option(names = "--layers", paramLabel = "L1,L2,...", description = "copy exactly these layers (0-based)")
    String layers;

    @Option(names = "--uniform", paramLabel = "P", description = "LLaMA-Pro: copy the top layer of each of P equal groups")
    Integer uniform;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "folder for the expanded checkpoint")
    Path out;

    @Option(names = "--dtype", paramLabel = "DTYPE", description = "store the weights as float32, bfloat16 or float16 (default: as the source stores them)")
    String dtype;

    @Option(names = "--force", description = "replace --out if it exists")
    boolean force;

    /**
     * Bad inputs throw the user errors of {@link AdeptCommand#USER_ERRORS}. {@link Checkpoint#save} writes --out atomically:
     * on any failure --out is left as it was.
     */
    @Override
    public Integer call() {
        int chosen = (k != null ? 1 : 0) + (layers != null ? 1 : 0) + (uniform != null ? 1 : 0);
        if (chosen != 1) {
            throw usage(chosen == 0 ? "say which layers to copy: one of --k K (with --importance), --layers L1,L2,... or --uniform P"
                    : "--k, --layers and --uniform are mutually exclusive: give exactly one");
        }
        boolean auto = "auto".equalsIgnoreCase(k);
        if (k != null && importance == null) throw usage("--k needs --importance FILE (the importance.json of adept probe)");
        if (budget != null && !auto) throw usage("--budget applies only with --k auto");
        DType storeAs = dtype == null ? null : DType.parse(dtype);
        if (storeAs != null && !storeAs.isFloatingPoint()) throw usage("--dtype must be float32, bfloat16, float16 or float64, got " + dtype);

        // Real paths: --model or --out may be a symlink to the other (replacing --out would delete the input).
        Path source = realPath(model);
        Path target = realPath(out);
        if (target.equals(source)) throw usage("--out must not be the model folder (" + source + ")");
        if (target.startsWith(source) || source.startsWith(target)) throw usage("--out and --model must not contain one another");
        // One writer per --out: the lock sits beside it, as --out itself is replaced by a rename.
        Path parent = target.getParent();
        boolean parentExisted = Files.isDirectory(parent);
        try (OutputLock lock = OutputLock.acquire(parent.resolve("." + target.getFileName() + ".adept-lock"), "--out " + out)) {
            return expand(source, target, auto, storeAs);
        } finally {
            if (!parentExisted) AdeptCommand.deleteQuietly(parent);  // nothing was written into it
        }
    }

    private int expand(Path source, Path target, boolean auto, DType storeAs) {
        Checkpoint.recover(target);  // an earlier run killed while writing --out: its leftovers, or the version it was replacing
        if (Files.exists(target) && !force && !isEmptyDir(target)) {
            throw usage("--out " + out + " exists; pass --force to replace it");
        }

        Checkpoint checkpoint = Checkpoint.open(model);
        int m = checkpoint.config().modelConfig().numHiddenLayers();
        ProbeReport report = importance == null ? null : ProbeReport.read(importance);
        if (report != null && report.layers() != m) {
            throw new DataException(importance + ": has scores for " + report.layers() + " layers but " + model + " has " + m
                    + " (was it probed on another model?)");
        }
        String arch = checkpoint.config().modelConfig().architecture().className();
        if (report != null && report.architecture() != null && !report.architecture().equals(arch)) {
            throw new DataException(importance + ": was probed on a " + report.architecture() + " model (" + report.modelPath()
                    + ") but " + model + " is a " + arch + "; probe this model instead");
        }
        if (report != null && report.modelPath() != null && !report.modelPath().isEmpty()) {
            // Same architecture and layer count is not the same model (Qwen3 0.6B and 1.7B both have 28 layers): when
            // the probed folder is still there, its config.json must describe this model.
            Path probed = Path.of(report.modelPath());
            if (Files.isRegularFile(probed.resolve(adept.io.checkpoint.ConfigJson.FILE_NAME)) && !realPath(probed).equals(source)) {
                adept.nn.ModelConfig probedConfig;
                try {
                    probedConfig = adept.io.checkpoint.ConfigJson.read(probed.resolve(adept.io.checkpoint.ConfigJson.FILE_NAME)).modelConfig();
                } catch (adept.io.checkpoint.CheckpointException unreadable) {
                    probedConfig = null;  // not ours to judge here: only a readable, different config refuses
                }
                if (probedConfig != null && !probedConfig.equals(checkpoint.config().modelConfig())) {
                    throw new DataException(importance + ": was probed on " + report.modelPath() + ", whose config.json describes another model"
                            + " than " + model + " (" + probedConfig.hiddenSize() + " vs " + checkpoint.config().modelConfig().hiddenSize()
                            + " hidden, " + probedConfig.vocabSize() + " vs " + checkpoint.config().modelConfig().vocabSize() + " vocab); probe this model instead");
                }
            }
        }
        if (report != null && report.modelName() != null && !report.modelName().equals(ProbeCommand.name(model))) {
            spec.commandLine().getErr().println("adept expand: warning: " + importance + " was probed on model " + report.modelName()
                    + " (" + report.modelPath() + "), not " + ProbeCommand.name(model) + "; check that it is the same model");
        }

        ExpansionPlan plan;
        if (k != null) {
            if (auto) {
                plan = LayerExpansion.lowestWithinBudget(report.importance(), checkpoint.config().modelConfig(), budget != null ? budget : 0.15);
            } else {
                int kk;
                try {
                    kk = Integer.parseInt(k.trim());
                } catch (NumberFormatException e) {
                    throw usage("--k must be a whole number or auto, got '" + k + "'");
                }
                plan = LayerExpansion.lowest(report.importance(), kk);
            }
        } else if (layers != null) {
            plan = LayerExpansion.explicit(m, parseLayers(layers));
        } else {
            plan = LayerExpansion.uniform(m, uniform);
        }
        PrintWriter stdout = spec.commandLine().getOut();
        stdout.printf(Locale.ROOT, "expanding %s: %d -> %d layers, copying %s%n", ProbeCommand.name(model), m, plan.expandedLayers(),
                ProbeReport.join(plan.sources()));
        stdout.println("why: " + plan.reason() + " [" + plan.method() + "]");
        stdout.flush();

        if (checkpoint.metadata().containsKey(ExpansionMetadata.METADATA_KEY)) {
            spec.commandLine().getErr().println("adept expand: note: " + model + " is itself an expanded model; the new metadata describes"
                    + " this expansion only (its layer numbers refer to " + model + ")");
        }

        // The stored dtype unless --dtype says otherwise (not config.json's torch_dtype: F32 weights labelled
        // float16 would be rounded, 1e6 becoming inf).
        DType stored = storeAs != null ? storeAs : checkpoint.storedDType();
        // The provenance names the real source folder: the base model recorded, and where the tokenizer files are copied from.
        try (LoadedModel loaded = new LoadedModel(checkpoint.loadModel(stored, Device.CPU), checkpoint.provenance().withFolder(source))) {
            LayerExpansion.Expanded expanded = LayerExpansion.apply(loaded, plan, report == null ? null : report.importance(),
                    importance == null ? null : importance.toAbsolutePath().normalize().toString());
            Checkpoint.save(expanded.model(), target, SaveOptions.defaults().withDtype(stored));
            List<String> copied = new ArrayList<>();
            for (String name : COPIED_FILES) if (Files.isRegularFile(source.resolve(name))) copied.add(name);
            CausalLM lm = loaded.model();
            List<String> trainable = expanded.trainable();
            printTable(stdout, expanded.metadata(), trainable, lm);
            long trainableCount = 0;
            long total = 0;
            Set<String> names = new HashSet<>(trainable);
            for (var e : lm.namedParameters().entrySet()) {
                total += e.getValue().numel();
                if (names.contains(e.getKey())) trainableCount += e.getValue().numel();
            }
            stdout.printf(Locale.ROOT, "trainable: %d tensors, %,d of %,d parameters (%.2f%%)%n", trainable.size(), trainableCount, total,
                    100.0 * trainableCount / total);
            stdout.printf(Locale.ROOT, "saved %s (%s; %s)%n", target, stored,
                    copied.isEmpty() ? "no tokenizer files found to copy" : "copied " + String.join(", ", copied));
            stdout.flush();
        }
        return 0;
    }

    private static void printTable(PrintWriter out, ExpansionMetadata metadata, List<String> trainable, CausalLM lm) {
        double[] scores = metadata.scores();
        out.println();
        out.println("  new  source  copy  trainable" + (scores != null ? "          dL" : ""));
        int[] src = metadata.sourceOfEachLayer();
        for (int i = 0; i < src.length; i++) {
            boolean copy = metadata.isCopy(i);
            out.printf(Locale.ROOT, "%5d  %6d  %-4s  %-9s%s%n", i, src[i], copy ? "copy" : "", copy ? "yes" : "no",
                    scores != null && !copy ? String.format(Locale.ROOT, "  %+10.6f", scores[src[i]]) : "");
        }
        out.println();
    }

    private List<Integer> parseLayers(String text) {
        List<Integer> out = new ArrayList<>();
        for (String part : text.split(",", -1)) {
            String p = part.trim();
            if (p.isEmpty()) throw usage("--layers: empty entry in '" + text + "' (expected e.g. 3,7,9)");
            try {
                out.add(Integer.parseInt(p));
            } catch (NumberFormatException e) {
                throw usage("--layers: '" + p + "' is not a layer number (expected e.g. 3,7,9)");
            }
        }
        return out;
    }

    /** The path with every symlink resolved, for the parts that exist (a new --out has no real path yet). */
    static Path realPath(Path p) {
        return adept.io.checkpoint.FileOps.realPath(p);
    }

    private static boolean isEmptyDir(Path dir) {
        if (!Files.isDirectory(dir)) return false;
        try (var entries = Files.list(dir)) {
            return entries.findAny().isEmpty();
        } catch (IOException e) {
            throw AdeptCommand.ioError("read", dir, e);
        }
    }

    CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }
}
