package adept.cli;

import adept.report.ProgressBar;
import adept.expand.ExpansionException;
import adept.expand.ExpansionPlan;
import adept.expand.LayerExpansion;
import adept.io.checkpoint.Checkpoint;
import adept.io.data.Batch;
import adept.io.data.CorpusItem;
import adept.io.data.CorpusReader;
import adept.io.data.DataException;
import adept.io.data.Example;
import adept.io.data.Examples;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.nn.ModelException;
import adept.probe.LayerImportance;
import adept.probe.LayerProbe;
import adept.probe.MemorySize;
import adept.probe.ProbeReport;
import adept.report.BarChart;
import adept.tensor.Scope;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Stage 1, step 1: layer importance probing. dL[l] = L(model with layer l bypassed) - L(model) on a
 * general-competence corpus; writes importance.json and importance.png.
 *
 * <p>Choices (the issue leaves them open):
 * <ul>
 *   <li>Output folder: {@code --out}, default {@code ./probe-<model folder name>} in the working directory. Not inside
 *       the model folder: model folders are often read-only (hub caches) and {@code adept expand} replaces its output
 *       folder as a whole.
 *   <li>Highlighted layers: {@code --highlight K}, default 4 (the paper's K for Qwen3-1.7B/8B), at most M. The K a
 *       15% trainable-parameter budget would pick ({@code adept expand --k auto}) is printed beside it.
 *   <li>Max length: default max_position_embeddings capped at 2048. An item longer than that is an error (naming
 *       its line): probing must see whole items, not windows.
 *   <li>Batches: consecutive items in file order (deterministic), right-padded; padding never counts in the loss.
 * </ul>
 */
@Command(name = "probe", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Stage 1, step 1: measure each layer's importance for general competence.",
                "dL[l] = loss with layer l bypassed - base loss, on the probe corpus (mean next-token cross-entropy over real target tokens).",
                "Writes importance.json and importance.png into --out."})
public final class ProbeCommand implements Callable<Integer> {
    static final int DEFAULT_MAX_LENGTH_CAP = 2048;

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Option(names = "--probe", required = true, paramLabel = "FILE",
            description = "probe corpus: JSON Lines (optionally .gz) of {\"text\": ...} or {\"instruction\": ..., \"output\": ...}")
    Path probe;

    @Option(names = "--out", paramLabel = "DIR", description = "output folder (default: ./probe-<model folder name>)")
    Path out;

    @Option(names = "--batch-size", defaultValue = "8", paramLabel = "N", description = "items per batch (default: ${DEFAULT-VALUE})")
    int batchSize;

    @Option(names = "--max-length", paramLabel = "N",
            description = "longest item in tokens (default: max_position_embeddings, at most " + DEFAULT_MAX_LENGTH_CAP + "); a longer item is an error")
    Integer maxLength;

    @Option(names = "--token-budget", defaultValue = "0", paramLabel = "N",
            description = "stop reading the corpus once this many target tokens are collected; 0 = all (default: ${DEFAULT-VALUE})")
    long tokenBudget;

    @Option(names = "--highlight", defaultValue = "4", paramLabel = "K",
            description = "mark the K layers with the smallest dL in the table and plot; 0 = none (default: ${DEFAULT-VALUE})")
    int highlight;

    @Option(names = "--probe-cache-memory", defaultValue = "4GiB", paramLabel = "SIZE",
            description = {"most memory the cached layer inputs of a batch may take, e.g. 4GiB, 512MiB (default: ${DEFAULT-VALUE}); "
                    + "over it, only every few layers' inputs are kept and the others recomputed once (the same result, one extra "
                    + "forward pass at most)"})
    String cacheMemory;

    /** Bad inputs throw the user errors of {@link AdeptCommand#USER_ERRORS}; nothing is written unless the probe succeeds. */
    @Override
    public Integer call() {
        if (batchSize < 1) throw usage("--batch-size must be >= 1, got " + batchSize);
        if (tokenBudget < 0) throw usage("--token-budget must be >= 0, got " + tokenBudget);
        if (highlight < 0) throw usage("--highlight must be >= 0, got " + highlight);
        long cacheBytes;
        try {
            cacheBytes = MemorySize.parse(cacheMemory);
        } catch (IllegalArgumentException e) {
            throw usage("--probe-cache-memory: " + e.getMessage());
        }
        PrintWriter stdout = spec.commandLine().getOut();
        long t0 = System.nanoTime();

        ModelOptions.requireComputable(model.dtype(), model.device(), "--dtype");
        Checkpoint checkpoint = Checkpoint.open(model.model);
        ModelConfig config = checkpoint.config().modelConfig();
        int layers = config.numHiddenLayers();
        if (layers == 0) throw new ModelException(model.model + ": the model has no layers to probe");
        int maxPositions = config.maxPositionEmbeddings();
        int length = maxLength != null ? maxLength : Math.min(maxPositions, DEFAULT_MAX_LENGTH_CAP);
        if (maxLength == null && length < 2) {
            // The length came from the model, not from an option: blame the file.
            throw new adept.io.checkpoint.CheckpointException(checkpoint.config().source() + ": max_position_embeddings " + maxPositions
                    + " leaves no room for a token to predict (at least 2 positions are needed)");
        }
        if (length < 2) throw usage("--max-length must be >= 2, got " + length);
        if (length > maxPositions) throw usage("--max-length " + length + " exceeds the model's max_position_embeddings " + maxPositions);
        String modelName = name(model.model);
        Path outDir = (out != null ? out : Path.of("probe-" + modelName)).toAbsolutePath().normalize();
        if (Files.exists(outDir) && !Files.isDirectory(outDir)) throw new DataException(outDir + ": exists and is not a directory");

        // Corpus first: its errors should come before the (slow) model load.
        List<CorpusItem> items;
        List<Example> examples;
        long padId;
        try (Tokenizer tokenizer = Tokenizer.load(model.model)) {
            items = CorpusReader.read(probe);
            examples = Examples.tokenize(probe, items, tokenizer, length, Examples.LongItems.ERROR, tokenBudget);
            padId = Examples.paddingId(tokenizer, config.vocabSize());
        }
        Examples.requireInVocabulary(probe, examples, config.vocabSize());
        long t1 = System.nanoTime();

        LayerImportance importance;
        int batchCount = (examples.size() + batchSize - 1) / batchSize;
        long t2;
        try (CausalLM lm = checkpoint.loadModel(model.dtype(), model.device())) {
            t2 = System.nanoTime();
            try (Scope scope = Scope.open()) {
                List<Batch> batches = new ArrayList<>(batchCount);
                for (int start = 0; start < examples.size(); start += batchSize) {
                    batches.add(Batch.of(examples.subList(start, Math.min(examples.size(), start + batchSize)), padId, lm.device()));
                }
                ProgressBar bar = new ProgressBar("probe", batches.size());
                PrintWriter stderr = spec.commandLine().getErr();
                LayerProbe prober = new LayerProbe(lm, cacheBytes, line -> {
                    stderr.println("adept probe: " + line);
                    stderr.flush();
                });
                importance = prober.probe(batches, done -> bar.step(String.format(Locale.ROOT, "%d x %d passes", done, layers + 1)));
                bar.done();
            }
        }
        long t3 = System.nanoTime();

        int k = Math.min(highlight, layers);
        Map<String, Double> timings = new LinkedHashMap<>();
        timings.put("tokenize", seconds(t1 - t0));
        timings.put("load_model", seconds(t2 - t1));
        timings.put("probe", seconds(t3 - t2));
        timings.put("total", seconds(t3 - t0));
        long targetCount = 0;
        for (Example e : examples) targetCount += e.targetCount();
        ProbeReport report = new ProbeReport(version(), Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(),
                model.model.toAbsolutePath().normalize().toString(), modelName, config.architecture().className(), model.dtype().toString(),
                model.device().toString(), probe.toAbsolutePath().normalize().toString(), items.size(), examples.size(), batchSize, batchCount,
                length, tokenBudget, importance, k, timings);
        if (targetCount != importance.targetTokens()) {
            throw new IllegalStateException("target tokens disagree: " + targetCount + " in the examples, " + importance.targetTokens() + " probed");
        }

        byte[] png;
        try {
            png = chart(report).png();
        } catch (IOException e) {
            throw AdeptCommand.ioError("encode", Path.of("importance.png"), e);
        }
        writeOutputs(outDir, Map.of(ProbeReport.FILE_NAME, report.toJson().getBytes(java.nio.charset.StandardCharsets.UTF_8), "importance.png", png));
        printSummary(stdout, report, config, outDir);
        return 0;
    }

    static BarChart chart(ProbeReport report) {
        java.util.Set<Integer> marked = new HashSet<>(report.lowest());
        String title = String.format(Locale.ROOT, "Layer importance: %s (%s, %d layers)", report.modelName(), shortArch(report.architecture()),
                report.layers());
        String subtitle = String.format(Locale.ROOT, "base loss %.4f on %,d target tokens of %s", report.importance().baseLoss(),
                report.importance().targetTokens(), Path.of(report.corpusPath()).getFileName());
        return new BarChart(title, subtitle, "layer", "\u0394L = loss without layer \u2212 base loss", report.importance().deltas(), marked,
                "\u0394L (higher = more important)", "lowest " + report.lowest().size() + " (expansion candidates)");
    }

    /**
     * Writes every file atomically into dir; on failure removes what this call wrote (and dir, when it created it)
     * and throws an {@link java.io.UncheckedIOException} naming the file that could not be written.
     */
    static void writeOutputs(Path dir, Map<String, byte[]> files) {
        boolean created = !Files.exists(dir);
        List<Path> written = new ArrayList<>();
        Path current = dir;
        boolean complete = false;
        try {
            Files.createDirectories(dir);
            for (var e : new java.util.TreeMap<>(files).entrySet()) {
                current = dir.resolve(e.getKey());
                ProbeReport.writeAtomically(current, e.getValue());
                written.add(current);
            }
            complete = true;
        } catch (IOException e) {
            throw AdeptCommand.ioError("write", current, e);
        } finally {
            if (!complete) {
                for (Path p : written) AdeptCommand.deleteQuietly(p);
                if (created) AdeptCommand.deleteQuietly(dir);  // fails when not empty: something else wrote there meanwhile; then it stays
            }
        }
    }

    private static void printSummary(PrintWriter out, ProbeReport report, ModelConfig config, Path outDir) {
        LayerImportance imp = report.importance();
        double[] d = imp.deltas();
        double[] norm = imp.normalized();
        java.util.Set<Integer> lowest = new HashSet<>(report.lowest());
        out.printf(Locale.ROOT, "probed %s: %d layers, %,d of %,d items (%,d target tokens%s), %d batches of <= %d, max length %d%n",
                report.modelName(), report.layers(), report.examples(), report.items(), imp.targetTokens(),
                report.tokenBudget() > 0 ? ", budget " + report.tokenBudget() : "", report.batches(), report.batchSize(), report.maxLength());
        out.printf(Locale.ROOT, "base loss %.6f%n", imp.baseLoss());
        out.println();
        out.println("layer          dL  normalised");
        for (int l = 0; l < d.length; l++) {
            out.printf(Locale.ROOT, "%5d  %+10.6f  %10.4f%s%n", l, d[l], norm[l], lowest.contains(l) ? "  <- lowest " + lowest.size() : "");
        }
        out.println();
        if (!lowest.isEmpty()) out.println("lowest " + lowest.size() + " (expansion candidates, adept expand --k " + lowest.size() + "): " + ProbeReport.join(report.lowest()));
        try {
            ExpansionPlan auto = LayerExpansion.lowestWithinBudget(imp, config, 0.15);
            out.println("--k auto (15% budget) would copy " + auto.k() + ": " + ProbeReport.join(auto.sources()) + " (" + auto.reason() + ")");
        } catch (ExpansionException e) {
            // no auto-K for this model; nothing to suggest
        }
        out.printf(Locale.ROOT, "wrote %s and %s (%.1f s)%n", outDir.resolve(ProbeReport.FILE_NAME), outDir.resolve("importance.png"),
                report.timings().getOrDefault("total", 0.0));
        out.flush();
    }

    private static String shortArch(String className) {
        return className == null ? "?" : className.replace("ForCausalLM", "");
    }

    static String name(Path dir) {
        Path name = dir.toAbsolutePath().normalize().getFileName();
        return name == null ? "model" : name.toString();
    }

    static double seconds(long nanos) {
        return Math.round(nanos / 1e6) / 1e3;
    }

    static String version() {
        return adept.AdeptVersion.current();
    }

    CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }
}
