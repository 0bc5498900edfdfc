package adept.cli;

import adept.report.ProgressBar;
import adept.eval.Perplexity;
import adept.io.checkpoint.Checkpoint;
import adept.io.data.CorpusReader;
import adept.io.data.Example;
import adept.io.data.Examples;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.train.RunConfig;
import adept.train.TrainException;
import adept.train.Trainer;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * A whole experiment from one config file: for each run, probe + expand (when its mode needs it) and train into
 * out/NAME/, then evaluate every run's model and the base model on held-out files (out/evaluation.json, .md).
 * The config is checked completely before any work ({@link RunConfig}); finished runs are skipped, unfinished
 * ones resume from their newest checkpoint, and the evaluation is recomputed only for models newer than it.
 */
@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run a pipeline config (YAML or JSON): probe, expand, train and evaluate one or several runs.",
                "Finished runs are skipped, interrupted ones resume (Ctrl-C writes a checkpoint and stops, exit 130);",
                "rerun the same command to go on. adept run --keys lists every key with its default."})
public final class RunCommand implements Callable<Integer> {
    /** Exit code after Ctrl-C / SIGTERM (128 + SIGINT): the current run wrote a checkpoint. */
    public static final int EXIT_INTERRUPTED = 130;

    @Option(names = "--config", paramLabel = "FILE", description = "pipeline config, .yaml / .yml or .json")
    Path config;

    @Option(names = "--keys", description = "print every config key with its default and description, and exit")
    boolean keys;

    @Option(names = "--dry-run", description = "check the config and show what each run would do (train, resume, done), and exit")
    boolean dryRun;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (keys) {
            out.print(RunConfig.referenceText());
            out.flush();
            return 0;
        }
        if (config == null) throw new CommandLine.ParameterException(spec.commandLine(), "Missing required option: '--config=FILE' (or --keys)");
        var dist = adept.parallel.DistEnvironment.current();
        if (dist.isPresent() && dist.get().worldSize() > 1) {
            // Every rank would train and write the same runs on its own.
            throw new adept.parallel.DistException("adept run trains in one process; for data parallelism use adept train --nproc N "
                    + "(or adept train under torchrun), not RANK / WORLD_SIZE with adept run");
        }
        RunConfig c = RunConfig.parseTree(ConfigFiles.load(config), config, config.toString());
        int n = c.runs.size();
        List<String> states = new ArrayList<>();
        for (RunConfig.Run r : c.runs) states.add(r.done() ? "done" : r.started() ? "resume" : "train");
        if (dryRun) {
            for (int i = 0; i < n; i++) {
                RunConfig.Run r = c.runs.get(i);
                out.printf(Locale.ROOT, "[%d/%d] %s: %s (%s) -> %s%n", i + 1, n, r.name(), states.get(i), r.settings().preparation().mode().label(), r.dir());
            }
            if (c.evaluation != null) out.println("evaluate: " + c.evaluation.data().size() + " file(s) -> " + c.out.resolve(RunConfig.EVALUATION_MD));
            out.flush();
            return 0;
        }
        for (int i = 0; i < n; i++) {
            RunConfig.Run r = c.runs.get(i);
            String tag = String.format(Locale.ROOT, "[%d/%d] %s", i + 1, n, r.name());
            if (r.done()) {
                err.printf(Locale.ROOT, "adept run: %s: done (%s)%n", tag, r.model());
                err.flush();
                continue;
            }
            err.printf(Locale.ROOT, "adept run: %s: %s, mode %s, %d steps -> %s%n", tag, r.started() ? "resuming" : "training", r.settings().preparation().mode().label(),
                    r.settings().optimizer().steps(), r.dir());
            err.flush();
            Trainer.Result result = TrainCommand.runTraining(r.settings(), false, "run " + tag);
            if (result.status() != Trainer.Status.COMPLETED) {
                err.printf(Locale.ROOT, "adept run: %s stopped at step %d of %d; run the same command again to resume%n", tag, result.step(),
                        r.settings().optimizer().steps());
                err.flush();
                return EXIT_INTERRUPTED;
            }
        }
        if (c.evaluation != null) evaluate(c, out, err);
        out.flush();
        return 0;
    }

    /** One cell of the evaluation: a model on a file. */
    record Cell(String model, String modelPath, String data, double loss, double perplexity, long tokens) {
        JsonObject toJson() {
            JsonObject o = new JsonObject();
            o.addProperty("model", model);
            o.addProperty("model_path", modelPath);
            o.addProperty("data", data);
            o.addProperty("loss", loss);
            o.addProperty("perplexity", perplexity);
            o.addProperty("tokens", tokens);
            return o;
        }
    }

    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().serializeNulls().serializeSpecialFloatingPointValues().create();

    /** Evaluates what is missing or stale and rewrites out/evaluation.json and .md when anything changed. */
    static void evaluate(RunConfig c, PrintWriter out, PrintWriter err) {
        RunConfig.Evaluation e = c.evaluation;
        Map<String, Path> models = new LinkedHashMap<>();
        if (e.base()) {
            List<Path> bases = c.baseModels();
            for (Path b : bases) models.put(bases.size() == 1 ? "base" : "base:" + b.getFileName(), b);
        }
        for (RunConfig.Run r : c.runs) models.put(r.name(), r.model());
        Path jsonFile = c.out.resolve(RunConfig.EVALUATION_JSON);
        Path mdFile = c.out.resolve(RunConfig.EVALUATION_MD);
        JsonObject settings = new JsonObject();
        settings.addProperty("max_length", e.maxLength());
        settings.addProperty("dtype", e.dtype());
        Map<String, Cell> previous = previous(jsonFile, settings);
        FileTime written = previous.isEmpty() ? null : modified(jsonFile);
        boolean changed = !Files.exists(mdFile);
        List<Cell> cells = new ArrayList<>();
        for (var m : models.entrySet()) {
            FileTime modelTime = newest(m.getValue());
            List<Path> todo = new ArrayList<>();
            for (Path data : e.data()) {
                Cell old = previous.get(key(m.getKey(), m.getValue(), data));
                boolean fresh = old != null && written != null && modelTime.compareTo(written) <= 0 && modified(data).compareTo(written) <= 0;
                if (!fresh) todo.add(data);
            }
            if (!todo.isEmpty()) {
                err.printf(Locale.ROOT, "adept run: evaluating %s on %d file(s)%n", m.getKey(), todo.size());
                err.flush();
                changed = true;
            }
            Map<Path, Cell> computed = todo.isEmpty() ? Map.of() : evaluateModel(m.getKey(), m.getValue(), todo, e);
            for (Path data : e.data()) {
                Cell cell = computed.containsKey(data) ? computed.get(data) : previous.get(key(m.getKey(), m.getValue(), data));
                cells.add(cell);
            }
        }
        if (cells.size() != previous.size()) changed = true;
        String table = markdown(c, models.keySet(), e.data(), cells);
        if (changed) {
            JsonObject o = new JsonObject();
            o.add("settings", settings);
            JsonArray results = new JsonArray();
            for (Cell cell : cells) results.add(cell.toJson());
            o.add("results", results);
            try {
                EvalCommand.writeAtomically(jsonFile, GSON.toJson(o) + "\n");
                EvalCommand.writeAtomically(mdFile, table);
            } catch (IOException x) {
                throw AdeptCommand.ioError("write", jsonFile, x);
            }
            out.println("evaluation: " + mdFile);
        } else {
            out.println("evaluation: up to date (" + mdFile + ")");
        }
        out.print(table);
        out.flush();
    }

    private static String key(String model, Path modelPath, Path data) {
        return model + "\u0000" + modelPath + "\u0000" + data;
    }

    /** The cells of an earlier evaluation made with the same settings, by model, model path and file. */
    private static Map<String, Cell> previous(Path file, JsonObject settings) {
        Map<String, Cell> out = new LinkedHashMap<>();
        if (!Files.isRegularFile(file)) return out;
        try {
            JsonObject o = JsonParser.parseString(adept.io.checkpoint.FileOps.readUtf8(file, 64 << 20, "evaluation.json")).getAsJsonObject();
            if (!Objects.equals(o.get("settings"), settings)) return out;
            for (JsonElement x : o.getAsJsonArray("results")) {
                JsonObject r = x.getAsJsonObject();
                Cell cell = new Cell(r.get("model").getAsString(), r.get("model_path").getAsString(), r.get("data").getAsString(),
                        r.get("loss").getAsDouble(), r.get("perplexity").getAsDouble(), r.get("tokens").getAsLong());
                out.put(key(cell.model(), Path.of(cell.modelPath()), Path.of(cell.data())), cell);
            }
        } catch (RuntimeException unreadable) {
            out.clear();  // recomputed and rewritten
        }
        return out;
    }

    private static Map<Path, Cell> evaluateModel(String name, Path dir, List<Path> files, RunConfig.Evaluation e) {
        Checkpoint checkpoint = Checkpoint.open(dir);
        ModelConfig config = checkpoint.config().modelConfig();
        int length = e.maxLength() != null ? e.maxLength() : Math.min(config.maxPositionEmbeddings(), 1024);
        Map<Path, Cell> out = new LinkedHashMap<>();
        try (CausalLM model = checkpoint.loadModel(DType.parse(e.dtype()), Device.parse(e.device()));
             Tokenizer tokenizer = Tokenizer.load(dir)) {
            long padId = Examples.paddingId(tokenizer, config.vocabSize());
            for (Path data : files) {
                List<Example> examples = Examples.tokenize(data, CorpusReader.read(data), tokenizer, length, Examples.LongItems.SPLIT, 0);
                Examples.requireInVocabulary(data, examples, config.vocabSize());
                int batches = (examples.size() + e.batchSize() - 1) / e.batchSize();
                ProgressBar bar = new ProgressBar("eval " + name + " " + data.getFileName(), batches);
                Perplexity.Result r = Perplexity.evaluate(model, examples, e.batchSize(), padId,
                        (b, total, lossSum, tokens) -> bar.step(String.format(Locale.ROOT, "loss %.4f", lossSum / Math.max(tokens, 1))));
                bar.done();
                out.put(data, new Cell(name, dir.toString(), data.toString(), r.loss(), r.perplexity(), r.tokens()));
            }
        }
        return out;
    }

    static String markdown(RunConfig c, Iterable<String> models, List<Path> files, List<Cell> cells) {
        StringBuilder b = new StringBuilder();
        b.append("# Evaluation: ").append(c.out.getFileName()).append("\n\n");
        b.append("Mean next-token cross-entropy (loss, nats per token) and perplexity = exp(loss) of each model on each held-out file.\n\n");
        b.append("| model |");
        for (Path f : files) b.append(' ').append(adept.train.HeldOut.label(f)).append(" loss | ").append(adept.train.HeldOut.label(f)).append(" perplexity |");
        b.append("\n|---|");
        b.append("---:|---:|".repeat(files.size()));
        b.append('\n');
        int i = 0;
        for (String m : models) {
            b.append("| ").append(m).append(" |");
            for (int f = 0; f < files.size(); f++) {
                Cell cell = cells.get(i++);
                b.append(String.format(Locale.ROOT, " %.4f | %.3f |", cell.loss(), cell.perplexity()));
            }
            b.append('\n');
        }
        b.append("\nFiles:\n\n");
        for (Path f : files) b.append("- ").append(adept.train.HeldOut.label(f)).append(": ").append(f).append('\n');
        return b.toString();
    }

    private static FileTime modified(Path p) {
        try {
            return Files.getLastModifiedTime(p);
        } catch (IOException e) {
            throw AdeptCommand.ioError("read", p, e);
        }
    }

    /** The newest modification time of the files in a model folder. */
    private static FileTime newest(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).map(RunCommand::modified).max(FileTime::compareTo).orElse(FileTime.fromMillis(0));
        } catch (IOException e) {
            throw AdeptCommand.ioError("read", dir, e);
        } catch (java.io.UncheckedIOException e) {
            throw new TrainException(dir + ": cannot be read (" + e.getMessage() + ")");
        }
    }
}
