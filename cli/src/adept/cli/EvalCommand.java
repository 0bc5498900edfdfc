package adept.cli;

import adept.report.ProgressBar;
import adept.eval.MultipleChoice;
import adept.eval.Perplexity;
import adept.io.checkpoint.Checkpoint;
import adept.io.data.CorpusItem;
import adept.io.data.CorpusReader;
import adept.io.data.DataException;
import adept.io.data.Example;
import adept.io.data.Examples;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Held-out loss / perplexity and multiple-choice accuracy of one or more models on one or more files, in one table. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Evaluates every --model on every --data file and prints one table (also --markdown, --json).",
                "Text files (plain text, or JSON Lines of {\"text\"} / {\"instruction\", \"output\"}): token-weighted mean next-token"
                        + " cross-entropy (loss) and perplexity; for instructions only the answer tokens count; long items are cut into windows.",
                "Multiple-choice files (JSON Lines of {\"question\", \"choices\", \"answer\"}, MMLU-style, detected by content): accuracy by"
                        + " the log-likelihood of each choice after \"Question: ...\\nAnswer:\", summed (acc) and per byte (acc_norm);"
                        + " --shots K uses the file's first K items as worked examples."})
public final class EvalCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "model folder (repeat for several)")
    List<Path> models;

    @Option(names = "--data", required = true, paramLabel = "FILE", description = "text / JSONL corpus or multiple-choice JSONL (repeat for several)")
    List<Path> data;

    @Mixin
    DeviceOption device;

    @Mixin
    ComputeDTypeOption dtype;

    @Option(names = "--batch-size", defaultValue = "4", paramLabel = "N", description = "sequences per forward pass (default: ${DEFAULT-VALUE})")
    int batchSize;

    @Option(names = "--max-length", paramLabel = "N",
            description = "tokens per sequence; longer text items are split into windows (default: min(max_position_embeddings, 1024))")
    Integer maxLength;

    @Option(names = "--shots", defaultValue = "0", paramLabel = "K", description = "multiple choice: worked examples per prompt (default: ${DEFAULT-VALUE})")
    int shots;

    @Option(names = "--limit", defaultValue = "0", paramLabel = "N",
            description = "multiple choice: score at most the first N items of each file after the shots; 0 = all (default: ${DEFAULT-VALUE})")
    int limit;

    @Option(names = "--json", paramLabel = "FILE", description = "also write the results to FILE as JSON")
    Path json;

    @Option(names = "--markdown", paramLabel = "FILE", description = "also write the table to FILE as Markdown")
    Path markdown;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** One model on one file. */
    record Row(Path model, Path data, String kind, Map<String, Object> values) {}

    @Override
    public Integer call() {
        if (batchSize < 1) throw usage("--batch-size must be >= 1, got " + batchSize);
        if (shots < 0) throw usage("--shots must be >= 0, got " + shots);
        if (limit < 0) throw usage("--limit must be >= 0, got " + limit);
        ModelOptions.requireComputable(dtype.dtype(), device.device(), "--dtype");
        // Cheap checks first: every model's config and every file, before any weights are read.
        List<Checkpoint> checkpoints = new ArrayList<>();
        for (Path m : models) checkpoints.add(Checkpoint.open(m));
        Map<Path, Object> files = new LinkedHashMap<>();  // text: List<CorpusItem>; multiple choice: List<Item>
        for (Path f : data) {
            if (!Files.isRegularFile(f)) {
                if (!Files.exists(f)) throw new DataException(f + ": no such file");
                throw new DataException(f + ": not a regular file");
            }
            files.put(f, MultipleChoice.looksLikeMultipleChoice(f) ? MultipleChoice.read(f) : CorpusReader.read(f));
        }
        List<Row> rows = new ArrayList<>();
        for (Checkpoint checkpoint : checkpoints) {
            ModelConfig config = checkpoint.config().modelConfig();
            int length = maxLength != null ? maxLength : Math.min(config.maxPositionEmbeddings(), 1024);
            if (maxLength == null && length < 2) {
            // The length came from the model, not from an option: blame the file.
            throw new adept.io.checkpoint.CheckpointException(checkpoint.config().source() + ": max_position_embeddings " + config.maxPositionEmbeddings()
                    + " leaves no room for a token to predict (at least 2 positions are needed)");
        }
        if (length < 2) throw usage("--max-length must be >= 2, got " + length);
            if (length > config.maxPositionEmbeddings()) {
                throw usage("--max-length " + length + " exceeds the model's max_position_embeddings " + config.maxPositionEmbeddings());
            }
            try (Tokenizer tokenizer = Tokenizer.load(checkpoint.dir());
                 CausalLM model = checkpoint.loadModel(dtype.dtype(), device.device())) {
                long padId = Examples.paddingId(tokenizer, config.vocabSize());
                for (var e : files.entrySet()) rows.add(evaluate(checkpoint.dir(), e.getKey(), e.getValue(), model, tokenizer, config, length, padId));
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        if (rows.size() == 1) printSingle(out, rows.get(0));
        else out.print(table(rows, false));
        out.flush();
        if (json != null) write(json, json(rows));
        if (markdown != null) write(markdown, table(rows, true));
        return 0;
    }

    @SuppressWarnings("unchecked")
    private Row evaluate(Path modelDir, Path file, Object content, CausalLM model, Tokenizer tokenizer, ModelConfig config, int length, long padId) {
        Map<String, Object> v = new LinkedHashMap<>();
        String label = name(modelDir) + " on " + file.getFileName();
        if (content instanceof List<?> list && !list.isEmpty() && list.get(0) instanceof MultipleChoice.Item) {
            List<MultipleChoice.Item> items = (List<MultipleChoice.Item>) list;
            if (limit > 0 && items.size() > shots + limit) items = items.subList(0, shots + limit);
            ProgressBar bar = new ProgressBar("eval " + label, items.size() - Math.min(shots, items.size() - 1));
            int[] shown = {0};
            MultipleChoice.Result r = MultipleChoice.evaluate(model, tokenizer, items, shots, batchSize, length, padId, (done, total) -> {
                while (shown[0] < done) {
                    shown[0]++;
                    bar.step(null);
                }
            });
            bar.done();
            v.put("accuracy", r.accuracy());
            v.put("accuracy_norm", r.accuracyNorm());
            v.put("chance", r.chance());
            v.put("items", r.items());
            v.put("shots", r.shots());
            v.put("seconds", r.seconds());
            return new Row(modelDir, file, "multiple_choice", v);
        }
        List<CorpusItem> items = (List<CorpusItem>) content;
        List<Example> examples = Examples.tokenize(file, items, tokenizer, length, Examples.LongItems.SPLIT, 0);
        Examples.requireInVocabulary(file, examples, config.vocabSize());
        int batches = (examples.size() + batchSize - 1) / batchSize;
        ProgressBar bar = new ProgressBar("eval " + label, batches);
        Perplexity.Result r = Perplexity.evaluate(model, examples, batchSize, padId,
                (batch, total, lossSum, tokens) -> bar.step(String.format(Locale.ROOT, "loss %.4f", lossSum / Math.max(tokens, 1))));
        bar.done();
        v.put("loss", r.loss());
        v.put("perplexity", r.perplexity());
        v.put("tokens", r.tokens());
        v.put("items", items.size());
        v.put("sequences", r.examples());
        v.put("max_length", length);
        v.put("seconds", r.seconds());
        v.put("tokens_per_second", r.tokensPerSecond());
        return new Row(modelDir, file, "text", v);
    }

    private static void printSingle(PrintWriter out, Row row) {
        Map<String, Object> v = row.values();
        if (row.kind().equals("text")) {
            out.printf(Locale.ROOT, "loss        %.6f%n", (double) v.get("loss"));
            out.printf(Locale.ROOT, "perplexity  %.4f%n", (double) v.get("perplexity"));
            out.printf(Locale.ROOT, "tokens      %d%n", (long) v.get("tokens"));
            out.printf(Locale.ROOT, "items       %d%n", (int) v.get("items"));
            out.printf(Locale.ROOT, "sequences   %d (at most %d tokens each)%n", (int) v.get("sequences"), (int) v.get("max_length"));
            out.printf(Locale.ROOT, "time        %.2f s (%.1f tokens/s)%n", (double) v.get("seconds"), (double) v.get("tokens_per_second"));
        } else {
            out.printf(Locale.ROOT, "accuracy       %.4f (summed log-likelihood)%n", (double) v.get("accuracy"));
            out.printf(Locale.ROOT, "accuracy_norm  %.4f (log-likelihood per byte)%n", (double) v.get("accuracy_norm"));
            out.printf(Locale.ROOT, "chance         %.4f%n", (double) v.get("chance"));
            out.printf(Locale.ROOT, "items          %d scored (%d-shot)%n", (int) v.get("items"), (int) v.get("shots"));
            out.printf(Locale.ROOT, "time           %.2f s%n", (double) v.get("seconds"));
        }
    }

    /** Models as rows, files as columns: loss / perplexity for text, acc / acc_norm for multiple choice. */
    static String table(List<Row> rows, boolean markdown) {
        List<Path> models = rows.stream().map(Row::model).distinct().toList();
        List<Path> files = rows.stream().map(Row::data).distinct().toList();
        List<String> header = new ArrayList<>(List.of("model"));
        for (Path f : files) {
            boolean mc = rows.stream().anyMatch(r -> r.data().equals(f) && r.kind().equals("multiple_choice"));
            String n = f.getFileName().toString();
            header.add(mc ? n + " acc / acc_norm" : n + " loss (ppl)");
        }
        List<List<String>> body = new ArrayList<>();
        for (Path m : models) {
            List<String> line = new ArrayList<>(List.of(name(m)));
            for (Path f : files) {
                Row r = rows.stream().filter(x -> x.model().equals(m) && x.data().equals(f)).findFirst().orElseThrow();
                Map<String, Object> v = r.values();
                line.add(r.kind().equals("text")
                        ? String.format(Locale.ROOT, "%.4f (%.2f)", (double) v.get("loss"), (double) v.get("perplexity"))
                        : String.format(Locale.ROOT, "%.3f / %.3f", (double) v.get("accuracy"), (double) v.get("accuracy_norm")));
            }
            body.add(line);
        }
        StringBuilder s = new StringBuilder();
        if (markdown) {
            s.append("| ").append(String.join(" | ", header)).append(" |\n");
            s.append("|").append("---|".repeat(header.size())).append("\n");
            for (List<String> l : body) s.append("| ").append(String.join(" | ", l)).append(" |\n");
            return s.toString();
        }
        int[] widths = new int[header.size()];
        for (int i = 0; i < widths.length; i++) {
            widths[i] = header.get(i).length();
            for (List<String> l : body) widths[i] = Math.max(widths[i], l.get(i).length());
        }
        List<List<String>> all = new ArrayList<>();
        all.add(header);
        all.addAll(body);
        for (List<String> l : all) {
            for (int i = 0; i < l.size(); i++) s.append(i == 0 ? "" : "  ").append(String.format("%-" + widths[i] + "s", l.get(i)));
            s.append('\n');
        }
        return s.toString();
    }

    private String json(List<Row> rows) {
        JsonArray results = new JsonArray();
        for (Row r : rows) {
            JsonObject o = new JsonObject();
            o.addProperty("model", r.model().toString());
            o.addProperty("data", r.data().toString());
            o.addProperty("kind", r.kind());
            for (var e : r.values().entrySet()) o.addProperty(e.getKey(), (Number) e.getValue());
            o.addProperty("batch_size", batchSize);
            o.addProperty("dtype", dtype.name());
            o.addProperty("device", device.name());
            results.add(o);
        }
        JsonObject top = new JsonObject();
        top.add("results", results);
        return new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create().toJson(top) + "\n";
    }

    private static String name(Path dir) {
        Path n = dir.toAbsolutePath().normalize();
        Path parent = n.getParent();
        // trained models live in RUN/model: name them by their run
        return n.getFileName().toString().equals("model") && parent != null ? parent.getFileName() + "/model" : n.getFileName().toString();
    }

    private void write(Path file, String text) {
        try {
            writeAtomically(file, text);
        } catch (IOException e) {
            throw AdeptCommand.ioError("write", file, e);
        }
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }

    /** Writes text to a temporary sibling, fsyncs it, renames it over target and fsyncs the folder. */
    static void writeAtomically(Path target, String text) throws IOException {
        Path absolute = target.toAbsolutePath();
        Files.createDirectories(absolute.getParent());
        adept.io.checkpoint.FileOps.writeStringAtomically(absolute, text);
    }
}
