package adept.demo;

import adept.train.TrainListener;
import adept.report.TrainPlots;
import adept.train.RunFolder;
import adept.eval.Perplexity;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.FileOps;
import adept.io.checkpoint.SaveOptions;
import adept.io.data.CorpusReader;
import adept.io.data.Example;
import adept.io.data.Examples;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.nn.Generator;
import adept.nn.ModelConfig;
import adept.nn.Sampler;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Torch;
import adept.train.TrainMode;
import adept.train.TrainSettings;
import adept.train.TrainSettingsBuilder;
import adept.train.Trainer;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The whole method on real text, as one resumable pipeline of seven stages:
 *
 * <ol>
 *   <li>text: general English and mathematics documents from a {@link TextSource}, split into train / probe /
 *       held-out JSON Lines;
 *   <li>tokenizer: SentencePiece unigram on the general text, as a Hugging Face tokenizer.json;
 *   <li>pretraining: a small Llama model from scratch ({@code full} mode) on the general text: the base model;
 *   <li>-6. adaptation of the base to mathematics with {@code full}, {@code llama-pro} and {@code adept}, the same
 *       token budget each;
 *   <li>evaluation of the four models on held-out general and mathematics text, samples, plots and report.md.
 * </ol>
 *
 * Each stage leaves its outputs in the demo folder and is skipped when they are there; training stages resume from
 * the trainer's checkpoints, so an interrupted run (Ctrl-C, kill -9) continues where it stopped.
 */
public final class Demo {
    public static final int STAGES = 7;
    public static final List<String> MODES = List.of("full", "llama-pro", "adept");
    public static final String GENERAL_PROMPT = "And God said unto";
    public static final String DOMAIN_PROMPT = "The function";

    /** Receives progress. */
    public interface Listener {
        /** Stage index (1-based) of count starts, or is skipped because its outputs exist. */
        void stage(int index, int count, String what, boolean skipped);

        /** A line of progress text. */
        void info(String line);

        /** A listener for one training run (progress bar); label names it. */
        TrainListener trainer(String label);
    }

    /** How the demo ended. */
    public enum Status { COMPLETED, INTERRUPTED }

    /** One model of the comparison. */
    public record Row(String name, double generalLoss, double domainLoss, long trainable, long total, double trainSeconds, Path model,
                      String generalSample, String domainSample, double rateMultiplier) {}

    /** How the demo ended, its folder, the table's rows, the report and the wall time. */
    public record Result(Status status, Path out, List<Row> rows, Path report, double seconds) {}

    static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().serializeSpecialFloatingPointValues().create();

    private final DemoSettings s;
    private final TextSource source;
    private final Path out;
    private final Path cache;
    private final Listener listener;
    private final AtomicBoolean stop;
    /** How the demo was started ("./adept demo --quick"), for the report's command lines. */
    private final String launcher;

    /** The demo of settings on source's text into out (downloads cached in cache); stop set ends it at the next checkpoint. */
    public Demo(DemoSettings settings, TextSource source, Path out, Path cache, Listener listener, AtomicBoolean stop, String launcher) {
        this.s = settings;
        this.source = source;
        this.out = out.toAbsolutePath().normalize();
        this.cache = cache.toAbsolutePath().normalize();
        this.listener = listener;
        this.stop = stop != null ? stop : new AtomicBoolean();
        this.launcher = launcher;
    }

    /** A file of the demo's prepared text, in out/data/. */
    public Path data(String name) {
        return out.resolve("data").resolve(name);
    }

    /** The folder of the demo's tokenizer. */
    public Path tokenizerDir() {
        return out.resolve("tokenizer");
    }

    /** The folder of one training run, out/runs/NAME. */
    public Path run(String name) {
        return out.resolve("runs").resolve(name);
    }

    /** The pretrained base model's folder. */
    public Path baseModel() {
        return run("pretrain").resolve(RunFolder.MODEL_DIR);
    }

    /** Runs the stages not yet done (finished ones are skipped) and writes the report. */
    public Result run() {
        long t0 = System.nanoTime();
        checkSettings();
        stageText(1);
        stageTokenizer(2);
        if (!stageTrain(3, "pretraining the base model from scratch on general text (full)", pretrainSettings())) return interrupted(t0);
        int index = 4;
        for (String mode : MODES) {
            if (!stageTrain(index++, "adapting the base model to " + source.domainName() + " with " + mode, adaptSettings(mode))) return interrupted(t0);
        }
        List<Row> rows = stageEvaluate(7);
        Path report = DemoReport.write(this, s, rows, source.domainName(), launcher, listener::info);
        return new Result(Status.COMPLETED, out, rows, report, (System.nanoTime() - t0) / 1e9);
    }

    private Result interrupted(long t0) {
        return new Result(Status.INTERRUPTED, out, List.of(), null, (System.nanoTime() - t0) / 1e9);
    }

    /** demo.json records the sizes; a folder made with other sizes is refused (mixing them would break resumption). */
    private void checkSettings() {
        Path file = out.resolve("demo.json");
        String mine = GSON.toJson(s) + "\n";
        try {
            if (Files.exists(file)) {
                String theirs = Files.readString(file);
                if (!JsonParser.parseString(theirs).equals(JsonParser.parseString(mine))) {
                    throw new DemoException(out + " holds a demo run with other settings (" + file.getFileName()
                            + "); use another --out folder, or --restart to discard it");
                }
                return;
            }
            Files.createDirectories(out);
            FileOps.writeStringAtomically(file, mine);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    // ---- 1. text

    private void stageText(int index) {
        Path done = data("corpus.json");
        if (Files.exists(done)) {
            listener.stage(index, STAGES, "text: reusing " + out.relativize(done.getParent()), true);
            return;
        }
        listener.stage(index, STAGES, "preparing text (general English and " + source.domainName() + ")", false);
        TextSource.Text text = source.read(cache, listener::info);
        if (text.general().size() < 10 || text.domain().size() < 5) {
            throw new DemoException("too little text: " + text.general().size() + " general and " + text.domain().size() + " domain documents");
        }
        Random random = new Random(s.seed);
        List<TextSource.Document> general = new ArrayList<>(text.general());
        List<TextSource.Document> domain = new ArrayList<>(text.domain());
        Collections.shuffle(general, random);
        Collections.shuffle(domain, random);
        // General: held-out first, then the probe's documents, the rest trains; so probe and held-out never overlap.
        int generalHeldout = Math.max(2, Math.min(s.heldoutDocs, general.size() / 20));
        int probeDocs = Math.max(2, Math.min(s.probeItems / 2 + 1, general.size() / 20));
        int domainHeldout = Math.max(2, Math.min(s.heldoutDocs, domain.size() / 20));
        try {
            Files.createDirectories(data(""));
            writeJsonl(data("general_heldout.jsonl"), general.subList(0, generalHeldout));
            writeJsonl(data("general_probe_docs.jsonl"), general.subList(generalHeldout, generalHeldout + probeDocs));
            List<TextSource.Document> generalTrain = general.subList(generalHeldout + probeDocs, general.size());
            writeJsonl(data("general_train.jsonl"), generalTrain);
            writeJsonl(data("math_heldout.jsonl"), domain.subList(0, domainHeldout));
            writeJsonl(data("math_train.jsonl"), domain.subList(domainHeldout, domain.size()));
            // SentencePiece input: the general training text, one line per sentence-ish line.
            Path spmInput = data("tokenizer_input.txt");
            try (BufferedWriter w = Files.newBufferedWriter(spmInput, StandardCharsets.UTF_8)) {
                for (TextSource.Document d : generalTrain) {
                    for (String line : d.text().split("\n")) if (!line.isBlank()) w.write(line.strip() + "\n");
                }
            }
            JsonObject summary = new JsonObject();
            summary.addProperty("general_train", generalTrain.size());
            summary.addProperty("general_heldout", generalHeldout);
            summary.addProperty("general_probe_documents", probeDocs);
            summary.addProperty("domain_train", domain.size() - domainHeldout);
            summary.addProperty("domain_heldout", domainHeldout);
            summary.addProperty("general_chars", generalTrain.stream().mapToLong(d -> d.text().length()).sum());
            summary.addProperty("domain_chars", domain.subList(domainHeldout, domain.size()).stream().mapToLong(d -> d.text().length()).sum());
            summary.addProperty("general_sources", DebianText.countBySource(general));
            summary.addProperty("domain_sources", DebianText.countBySource(domain));
            summary.add("origins", GSON.toJsonTree(text.origins()));
            FileOps.writeStringAtomically(data("corpus.json"), GSON.toJson(summary) + "\n");
            listener.info(String.format(Locale.ROOT, "data: general %d train / %d probe / %d held-out documents; %s %d train / %d held-out",
                    generalTrain.size(), probeDocs, generalHeldout, source.domainName(), domain.size() - domainHeldout, domainHeldout));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the corpora into " + data("") + ": " + e.getMessage(), e);
        }
    }

    private static void writeJsonl(Path file, List<TextSource.Document> docs) throws IOException {
        StringBuilder b = new StringBuilder();
        Gson plain = new GsonBuilder().disableHtmlEscaping().create();
        for (TextSource.Document d : docs) {
            JsonObject o = new JsonObject();
            o.addProperty("text", d.text());
            o.addProperty("source", d.source());
            b.append(plain.toJson(o)).append('\n');
        }
        FileOps.writeStringAtomically(file, b.toString());
    }

    // ---- 2. tokenizer (and the probe corpus, cut to fit the context in tokens)

    private void stageTokenizer(int index) {
        Path probe = data("general_probe.jsonl");
        if (Files.exists(tokenizerDir().resolve("tokenizer.json")) && Files.exists(probe)) {
            listener.stage(index, STAGES, "tokenizer: reusing " + out.relativize(tokenizerDir()), true);
            return;
        }
        listener.stage(index, STAGES, "training a SentencePiece unigram tokenizer (vocabulary " + s.vocabSize + ") on the general text", false);
        long t0 = System.nanoTime();
        int size = SentencePieceTokenizer.train(data("tokenizer_input.txt"), tokenizerDir(), s.vocabSize);
        listener.info(String.format(Locale.ROOT, "tokenizer: %,d pieces in %.1f s -> %s", size, (System.nanoTime() - t0) / 1e9,
                out.relativize(tokenizerDir().resolve("tokenizer.json"))));
        try (Tokenizer tokenizer = Tokenizer.load(tokenizerDir())) {
            List<TextSource.Document> items = new ArrayList<>();
            for (var item : CorpusReader.read(data("general_probe_docs.jsonl"))) {
                String text = ((adept.io.data.CorpusItem.Text) item).text();
                for (String piece : fit(tokenizer, text, s.blockSize)) {
                    if (items.size() < s.probeItems && piece.length() > 40) items.add(new TextSource.Document(piece, "probe"));
                }
            }
            writeJsonl(probe, items);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + probe + ": " + e.getMessage(), e);
        }
    }

    /** Text cut at words into pieces of at most maxTokens tokens (BOS included). */
    static List<String> fit(Tokenizer tokenizer, String text, int maxTokens) {
        int tokens = tokenizer.encode(text, tokenizer.addsBosByDefault(), false).length;
        if (tokens <= maxTokens) return List.of(text);
        int chars = (int) Math.max(20, (long) text.length() * (maxTokens - 4) / tokens);
        List<String> out = new ArrayList<>();
        for (String piece : TextCleaning.cutAtWords(text, chars)) {
            if (tokenizer.encode(piece, tokenizer.addsBosByDefault(), false).length <= maxTokens) out.add(piece);
            else if (chars > 40) out.addAll(fit(tokenizer, piece, maxTokens));
        }
        return out;
    }

    // ---- 3-6. training

    TrainSettings pretrainSettings() {
        return intervals(common()
                .model(out.resolve("models/init"))
                .data(data("general_train.jsonl"))
                .eval(data("general_heldout.jsonl"))
                .out(run("pretrain"))
                .mode(TrainMode.FULL)
                .steps(s.pretrainSteps)
                .lr(s.pretrainLr)
                .warmupSteps((long) Math.max(1, s.pretrainSteps / 20)));
    }

    TrainSettings adaptSettings(String mode) {
        TrainSettingsBuilder t = common()
                .model(baseModel())
                .data(data("math_train.jsonl"))
                .eval(data("math_heldout.jsonl"))
                .out(run(mode))
                .mode(TrainMode.parse(mode))
                .steps(s.adaptSteps)
                .lr(s.adaptLr)
                .warmupSteps((long) Math.max(1, s.adaptSteps / 20));
        if (!mode.equals("full")) t.k(s.k);
        if (mode.equals("adept")) t.probe(data("general_probe.jsonl")).refreshEvery(s.refreshEvery);
        return intervals(t);
    }

    private TrainSettingsBuilder common() {
        return TrainSettings.builder()
                .blockSize(s.blockSize)
                .batchSize(s.batchSize)
                .seed(s.seed)
                .evalTokens(s.curveTokens)
                .keepCheckpoints(1);
    }

    /** Held-out curve points and checkpoints: 20 and 10 per run. */
    private static TrainSettings intervals(TrainSettingsBuilder t) {
        long steps = (Long) t.get("steps");
        return t.evalEvery(Math.max(1, steps / 20)).saveEvery(Math.max(1, steps / 10)).build();
    }

    /** Runs (or resumes, or skips) one training run; false when it was interrupted. */
    private boolean stageTrain(int index, String what, TrainSettings t) {
        Path runDir = t.output().out();
        if (Files.exists(runDir.resolve("summary.json")) && Files.exists(runDir.resolve(RunFolder.MODEL_DIR).resolve("config.json"))) {
            listener.stage(index, STAGES, what + ": done earlier, " + out.relativize(runDir), true);
            return true;
        }
        listener.stage(index, STAGES, what, false);
        if (index == 3) initModel(t.inputs().model());
        Torch.init();
        TrainListener trainer = listener.trainer(runDir.getFileName().toString());
        Trainer.Result r = new Trainer(t).listen(trainer).stopWhen(stop).listen(TrainPlots.listener(trainer::info)).run();
        if (r.status() != Trainer.Status.COMPLETED) return false;
        listener.info(String.format(Locale.ROOT, "%s: %d steps, last loss %.4f, held-out %.4f; %,d of %,d parameters trainable (%.1f%%); %.0f s",
                runDir.getFileName(), r.step(), r.lastLoss(), r.evalLoss(), r.trainableParameters(), r.totalParameters(),
                100 * r.trainableFraction(), r.seconds()));
        return true;
    }

    /** The randomly initialised model (seeded, so a rerun makes the same one), with the tokenizer files. */
    private void initModel(Path dir) {
        if (Files.exists(dir.resolve("config.json"))) return;
        int vocab;
        try (Tokenizer tokenizer = Tokenizer.load(tokenizerDir())) {
            vocab = tokenizer.vocabSize();
        }
        ModelConfig config = s.modelConfig(vocab);
        Torch.init();
        try (CausalLM model = CausalLM.random(config, s.seed, 0.02, DType.FLOAT32, Device.CPU)) {
            SaveOptions options = SaveOptions.defaults();
            for (String f : List.of("tokenizer.json", "tokenizer_config.json")) options = options.withExtraFile(f, tokenizerDir().resolve(f));
            Checkpoint.save(model, dir, options);
        }
        listener.info(String.format(Locale.ROOT, "model: Llama, %,d parameters, random init -> %s", config.parameterCount(), out.relativize(dir)));
    }

    // ---- 7. evaluation

    List<String> modelNames() {
        List<String> names = new ArrayList<>();
        names.add("base");
        names.addAll(MODES);
        return names;
    }

    Path modelOf(String name) {
        return name.equals("base") ? baseModel() : run(name).resolve(RunFolder.MODEL_DIR);
    }

    Path runOf(String name) {
        return name.equals("base") ? run("pretrain") : run(name);
    }

    private List<Row> stageEvaluate(int index) {
        Path results = out.resolve("results");
        boolean all = modelNames().stream().allMatch(n -> Files.exists(results.resolve("eval-" + n + ".json")));
        listener.stage(index, STAGES, all ? "evaluation: done earlier, " + out.relativize(results)
                : "evaluating the four models on held-out general and " + source.domainName() + " text", all);
        List<Row> rows = new ArrayList<>();
        for (String name : modelNames()) {
            Path file = results.resolve("eval-" + name + ".json");
            JsonObject o;
            try {
                if (!Files.exists(file)) {
                    o = evaluate(name);
                    Files.createDirectories(results);
                    FileOps.writeStringAtomically(file, GSON.toJson(o) + "\n");
                } else {
                    o = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
            }
            JsonObject summary = readJson(runOf(name).resolve("summary.json"));
            rows.add(new Row(name, o.get("general_loss").getAsDouble(), o.get("domain_loss").getAsDouble(),
                    summary.get("trainable_parameters").getAsLong(), summary.get("total_parameters").getAsLong(), trainSeconds(runOf(name)),
                    modelOf(name), o.get("general_sample").getAsString(), o.get("domain_sample").getAsString(),
                    name.equals("base") ? Double.NaN : summary.has("mean_rate_multiplier") ? summary.get("mean_rate_multiplier").getAsDouble() : 1.0));
        }
        return rows;
    }

    private JsonObject evaluate(String name) {
        Path model = modelOf(name);
        long t0 = System.nanoTime();
        Torch.init();
        JsonObject o = new JsonObject();
        try (Tokenizer tokenizer = Tokenizer.load(model); CausalLM lm = Checkpoint.load(model, DType.FLOAT32, Device.CPU)) {
            long pad = Examples.paddingId(tokenizer, lm.config().vocabSize());
            for (String kind : List.of("general", "domain")) {
                Path file = data(kind.equals("general") ? "general_heldout.jsonl" : "math_heldout.jsonl");
                List<Example> examples = Examples.tokenize(file, CorpusReader.read(file), tokenizer, s.blockSize, Examples.LongItems.SPLIT, 0);
                Perplexity.Result r = Perplexity.evaluate(lm, examples, s.batchSize, pad, null);
                o.addProperty(kind + "_loss", r.loss());
                o.addProperty(kind + "_tokens", r.tokens());
            }
            o.addProperty("general_sample", sample(lm, tokenizer, GENERAL_PROMPT));
            o.addProperty("domain_sample", sample(lm, tokenizer, DOMAIN_PROMPT));
        }
        listener.info(String.format(Locale.ROOT, "evaluated %s: general %.4f, %s %.4f (%.1f s)", name, o.get("general_loss").getAsDouble(),
                source.domainName(), o.get("domain_loss").getAsDouble(), (System.nanoTime() - t0) / 1e9));
        return o;
    }

    /** The prompt continued by the model (temperature 0.8, top-p 0.9, fixed seed), prompt included. */
    String sample(CausalLM lm, Tokenizer tokenizer, String prompt) {
        long[] ids = tokenizer.encode(prompt, tokenizer.addsBosByDefault(), false);
        long[] eos = tokenizer.eosIds();
        long[] generated = new Generator(lm).generate(ids, s.generateTokens, new Sampler(0.8, 0.9, s.seed), t -> {
            for (long e : eos) if (e == t) return true;
            return false;
        }, null);
        long[] all = new long[ids.length + generated.length];
        System.arraycopy(ids, 0, all, 0, ids.length);
        System.arraycopy(generated, 0, all, ids.length, generated.length);
        return tokenizer.decode(all, true);
    }

    /** Training time of a run (the trainer's elapsed_s, summed over resumptions). */
    static double trainSeconds(Path run) {
        double last = Double.NaN;
        for (JsonObject o : adept.train.RunLog.read(run.resolve(RunFolder.METRICS_FILE))) {
            if (o.has("elapsed_s")) last = o.get("elapsed_s").getAsDouble();
        }
        return last;
    }

    static JsonObject readJson(Path file) {
        try {
            return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw new DemoException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    Path out() {
        return out;
    }

    static JsonArray array(double[] values) {
        JsonArray a = new JsonArray();
        for (double v : values) a.add(v);
        return a;
    }
}
