package adept.train;

import adept.expand.ExpansionMetadata;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.CheckpointException;
import adept.io.checkpoint.StrictJson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A pipeline config (`adept run --config FILE`): probe, expand, train and evaluate one or several runs.
 * YAML or JSON (by extension: .json / .yaml / .yml; otherwise by content), for example:
 *
 * <pre>
 * out: results/math            # pipeline folder; run NAME trains into out/NAME/
 * model: path/to/base          # shared by every run: any training key (adept run --keys)
 * probe: data/general_probe.jsonl.gz
 * data: data/math.jsonl.gz
 * steps: 300
 * runs:                        # optional; absent = one run named after the mode
 *   - {name: full, mode: full}
 *   - {name: adept-s1, mode: adept, seed: 1}
 * evaluate:                    # optional: every run's model (and the base model) on held-out files
 *   data: [data/general_heldout.jsonl.gz, data/math_heldout.jsonl.gz]
 * </pre>
 *
 * {@link #parseTree} checks everything it can without training: unknown keys (top level, in runs, in evaluate), values of
 * the wrong type, every run's {@link TrainSettings#validate}, missing files and folders, duplicate run names, a run
 * folder that holds a run with other settings. Relative paths resolve against the config file's folder. Errors are
 * {@link TrainException}s whose message is one line naming the file and the key (or run). Nothing is written.
 */
public final class RunConfig {
    /** One training run of the pipeline: its name, folder (out/NAME) and complete settings (absolute paths). */
    public record Run(String name, Path dir, TrainSettings settings) {
        /** The final model folder; it exists once the run has finished. */
        public Path model() {
            return dir.resolve(RunFolder.MODEL_DIR);
        }

        /** Finished with these settings: the final model exists and run.json matches. */
        public boolean done() {
            return Files.isRegularFile(model().resolve("config.json")) && priorDifferences().map(List::isEmpty).orElse(false);
        }

        /** Started before (run.json exists) but not finished: the trainer resumes it from its newest checkpoint. */
        public boolean started() {
            return Files.exists(dir.resolve(RunFolder.RUN_FILE));
        }

        /** How the settings in dir/run.json differ from these; empty when there is no run.json. */
        java.util.Optional<List<String>> priorDifferences() {
            Path file = dir.resolve(RunFolder.RUN_FILE);
            if (!Files.exists(file)) return java.util.Optional.empty();
            TrainSettings prior;
            try {
                prior = TrainSettings.fromJson(StrictJson.parse(Files.readString(file, StandardCharsets.UTF_8)).getAsJsonObject(), file.toString());
            } catch (IOException | RuntimeException e) {
                throw new TrainException(file + ": unreadable (" + e.getMessage() + "); delete " + dir + " or rename the run");
            }
            return java.util.Optional.of(settings.differences(prior));
        }
    }

    /** The final evaluation: every run's model (and each base model when base) on each file. */
    public record Evaluation(List<Path> data, int batchSize, Integer maxLength, boolean base, String dtype, String device) {
        public Evaluation {
            data = List.copyOf(data);
        }
    }

    public static final Set<String> PIPELINE_KEYS = Set.of("out", "runs", "evaluate");
    public static final String EVALUATION_JSON = "evaluation.json";
    public static final String EVALUATION_MD = "evaluation.md";
    static final Pattern RUN_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");

    /** Keys of the pipeline itself, of a run entry and of evaluate: key, default, description. */
    static final List<TrainSettings.KeyDoc> PIPELINE_REFERENCE = List.of(
            new TrainSettings.KeyDoc("out", "required", "Pipeline folder: run NAME trains into out/NAME/; the evaluation goes to out/evaluation.json and .md."),
            new TrainSettings.KeyDoc("runs", "one run named after mode", "List of runs; each entry is {name: NAME, KEY: VALUE, ...} with any training key but out."),
            new TrainSettings.KeyDoc("runs[].name", "the run's mode", "The run's name and folder (letters, digits, '.', '_', '-'); unique."),
            new TrainSettings.KeyDoc("evaluate", "none", "Final evaluation of every run's model (and the base model) on held-out files."),
            new TrainSettings.KeyDoc("evaluate.data", "required", "A held-out file (text or JSON Lines, gzip or not) or a list of them."),
            new TrainSettings.KeyDoc("evaluate.batch_size", "4", "Sequences per forward pass."),
            new TrainSettings.KeyDoc("evaluate.max_length", "min(1024, max_position_embeddings)", "Tokens per sequence; longer items are split into windows."),
            new TrainSettings.KeyDoc("evaluate.base", "true", "Also evaluate each run's base model (row \"base\")."),
            new TrainSettings.KeyDoc("evaluate.dtype", "the shared dtype", "float32, bfloat16, float16 or float64."),
            new TrainSettings.KeyDoc("evaluate.device", "the shared device", "cpu, cuda or cuda:N."));

    static final Set<String> EVALUATE_KEYS = new LinkedHashSet<>(List.of("data", "batch_size", "max_length", "base", "dtype", "device"));

    public final Path file;
    public final Path out;
    public final List<Run> runs;
    /** Null when the config has no evaluate section. */
    public final Evaluation evaluation;

    private RunConfig(Path file, Path out, List<Run> runs, Evaluation evaluation) {
        this.file = file;
        this.out = out;
        this.runs = List.copyOf(runs);
        this.evaluation = evaluation;
    }

    /** The distinct base models of the runs, in the order of the runs. */
    public List<Path> baseModels() {
        Set<Path> out = new LinkedHashSet<>();
        for (Run r : runs) out.add(r.settings().inputs().model());
        return List.copyOf(out);
    }

    /** Why p, which is not a regular file, cannot be read as one: a folder, nothing, or a device, FIFO or socket. */
    static String notAFile(Path p) {
        if (Files.isDirectory(p)) return p + " is a folder, not a file";
        if (!Files.exists(p)) return "no such file " + p;
        return p + " is not a regular file (a device, FIFO or socket); save the text to a file first";
    }

    /** Checks a config already read into a JSON tree (adept.cli.ConfigFiles reads YAML and JSON files); label names it in errors. */
    public static RunConfig parseTree(JsonObject root, Path file, String label) {
        return new Parser(label, file.toAbsolutePath().normalize()).parse(root);
    }

    /** The key reference: pipeline keys, then every training key with its default and description. */
    public static List<TrainSettings.KeyDoc> reference() {
        List<TrainSettings.KeyDoc> out = new ArrayList<>(PIPELINE_REFERENCE);
        for (TrainSettings.KeyDoc d : TrainSettings.reference()) {
            if (d.key().equals("out")) continue;  // the pipeline's out; a run's folder is out/NAME
            out.add(d);
        }
        return out;
    }

    /** {@link #reference} as aligned text, as `adept run --keys` prints it and README.md lists it. */
    public static String referenceText() {
        List<TrainSettings.KeyDoc> pipeline = PIPELINE_REFERENCE;
        List<TrainSettings.KeyDoc> all = reference();
        int keyWidth = all.stream().mapToInt(d -> d.key().length()).max().orElse(0);
        int defaultWidth = Math.min(24, all.stream().mapToInt(d -> d.defaultValue().length()).max().orElse(0));
        StringBuilder b = new StringBuilder();
        b.append("Pipeline keys (top level), runs and evaluate:\n");
        for (int i = 0; i < all.size(); i++) {
            if (i == pipeline.size()) {
                b.append("\nTraining keys (top level: shared by every run; in a runs entry: that run's value):\n");
            }
            TrainSettings.KeyDoc d = all.get(i);
            String line = String.format(Locale.ROOT, "  %-" + keyWidth + "s  %-" + defaultWidth + "s  %s", d.key(), d.defaultValue(), d.description());
            if (d.defaultValue().length() > defaultWidth) {
                line = String.format(Locale.ROOT, "  %-" + keyWidth + "s  %s%n  %-" + keyWidth + "s  %-" + defaultWidth + "s  %s", d.key(),
                        d.defaultValue(), "", "", d.description());
            }
            b.append(line.stripTrailing()).append('\n');
        }
        return b.toString();
    }

    private static final class Parser {
        final String label;
        final Path file;
        final Path folder;
        final Set<String> trainingKeys = TrainSettings.keys();

        Parser(String label, Path file) {
            this.label = label;
            this.file = file;
            this.folder = file.getParent();
        }

        TrainException error(String where, String message) {
            return new TrainException(label + ": " + (where.isEmpty() ? "" : where + ": ") + message);
        }

        RunConfig parse(JsonObject root) {
            Set<String> topKnown = new LinkedHashSet<>(trainingKeys);
            topKnown.addAll(PIPELINE_KEYS);
            checkKeys(root, topKnown, "");
            JsonElement outValue = root.get("out");
            if (outValue == null || outValue.isJsonNull()) throw error("out", "the pipeline folder is required (each run trains into out/NAME/)");
            if (!isText(outValue)) throw error("out", "expected a folder path, got " + outValue);
            Path out = resolve(outValue.getAsString());
            if (Files.exists(out) && !Files.isDirectory(out)) throw error("out", out + " exists and is not a folder");

            JsonObject shared = new JsonObject();
            for (var e : root.entrySet()) if (!PIPELINE_KEYS.contains(e.getKey())) shared.add(e.getKey(), e.getValue());

            List<JsonObject> entries = new ArrayList<>();
            JsonElement runsValue = root.get("runs");
            if (runsValue == null || runsValue.isJsonNull()) {
                entries.add(new JsonObject());
            } else {
                if (!runsValue.isJsonArray() || runsValue.getAsJsonArray().isEmpty()) {
                    throw error("runs", "expected a list of runs, e.g. [{name: full, mode: full}], got " + runsValue);
                }
                JsonArray a = runsValue.getAsJsonArray();
                for (int i = 0; i < a.size(); i++) {
                    if (!a.get(i).isJsonObject()) throw error("runs[" + (i + 1) + "]", "expected {name: NAME, KEY: VALUE, ...}, got " + a.get(i));
                    entries.add(a.get(i).getAsJsonObject());
                }
            }
            Set<String> runKnown = new LinkedHashSet<>(List.of("name"));
            runKnown.addAll(trainingKeys);
            runKnown.remove("out");
            List<Run> runs = new ArrayList<>();
            Map<String, String> seen = new HashMap<>();
            for (int i = 0; i < entries.size(); i++) {
                JsonObject entry = entries.get(i);
                String at = runsValue == null || runsValue.isJsonNull() ? "" : "runs[" + (i + 1) + "]";
                if (entry.has("out")) throw error(at + ".out", "a run trains into out/NAME: set out at the top level and name the run");
                checkKeys(entry, runKnown, at);
                JsonObject merged = shared.deepCopy();
                for (var e : entry.entrySet()) if (!e.getKey().equals("name")) merged.add(e.getKey(), e.getValue());
                TrainSettingsBuilder b = settings(merged, at, entry);
                String name;
                JsonElement n = entry.get("name");
                if (n == null || n.isJsonNull()) {
                    name = ((TrainMode) b.get("mode")).label();
                } else {
                    if (!isText(n)) throw error(at + ".name", "expected a name, got " + n);
                    name = n.getAsString();
                }
                if (!RUN_NAME.matcher(name).matches() || name.equals(EVALUATION_JSON) || name.equals(EVALUATION_MD)) {
                    throw error(at.isEmpty() ? "name" : at + ".name", "\"" + name + "\" is not a usable folder name (letters, digits, '.', '_', '-')");
                }
                String where = at.isEmpty() ? "run " + name : at + " (" + name + ")";
                String earlier = seen.putIfAbsent(name, at);
                if (earlier != null) {
                    throw error(at + ".name", "duplicate run name \"" + name + "\" (also " + earlier + "); give each run its own name");
                }
                Path dir = out.resolve(name);
                TrainSettings s;
                try {
                    s = b.out(dir).build();
                } catch (TrainException e) {
                    throw error(where, e.getMessage());
                }
                checkFiles(s, where);
                Run run = new Run(name, dir, s);
                if (Files.exists(dir) && !Files.isDirectory(dir)) throw error(where, dir + " exists and is not a folder");
                List<String> diff = run.priorDifferences().orElse(List.of());
                if (!diff.isEmpty()) {
                    throw error(where, dir + " holds a run with other settings (differs in " + String.join(", ", diff)
                            + "); delete that folder or give the run another name");
                }
                runs.add(run);
            }
            Evaluation evaluation = evaluation(root.get("evaluate"), shared, runs);
            return new RunConfig(file, out, runs, evaluation);
        }

        void checkKeys(JsonObject o, Set<String> known, String at) {
            for (String key : o.keySet()) {
                if (known.contains(key)) continue;
                String hint = closest(key, known);
                throw error(at.isEmpty() ? key : at + "." + key, "unknown key" + (hint == null ? "" : " (did you mean " + hint + "?)")
                        + "; adept run --keys lists them");
            }
        }

        /** Settings from the merged keys, each value read by its key's type (the error names the key and where it was set); paths resolve against the config's folder. */
        TrainSettingsBuilder settings(JsonObject merged, String at, JsonObject entry) {
            TrainSettingsBuilder b = TrainSettings.builder();
            for (var e : merged.entrySet()) {
                String key = e.getKey();
                String where = entry.has(key) ? (at.isEmpty() ? key : at + "." + key) : key;
                Setting setting = Setting.of(key);
                Object value;
                try {
                    value = setting.fromJson(e.getValue());
                } catch (IllegalArgumentException ex) {
                    throw error(where, ex.getMessage());
                }
                b.set(key, value instanceof Path p ? folder.resolve(p).toAbsolutePath().normalize() : value);
            }
            return b;
        }

        /** A number, also from text (YAML 1.1 reads 1e-4 as text). */
        JsonPrimitive number(JsonElement v, boolean integral, String where, String expected) {
            BigDecimal d = null;
            if (v.isJsonPrimitive() && !v.getAsJsonPrimitive().isBoolean()) {
                try {
                    d = new BigDecimal(v.getAsString().strip());
                } catch (NumberFormatException e) {
                    d = null;
                }
            }
            if (d == null) throw error(where, "expected " + expected + ", got " + v);
            if (integral) {
                try {
                    return new JsonPrimitive(d.longValueExact());
                } catch (ArithmeticException e) {
                    throw error(where, "expected " + expected + ", got " + v);
                }
            }
            return new JsonPrimitive(d.doubleValue());
        }

        static boolean isText(JsonElement v) {
            return v.isJsonPrimitive() && v.getAsJsonPrimitive().isString();
        }

        Path resolve(String path) {
            return folder.resolve(path).toAbsolutePath().normalize();
        }

        /** The files and the model a run reads exist; cheap checks of the model against the settings. */
        void checkFiles(TrainSettings s, String where) {
            for (String key : List.of("data", "probe", "eval")) {
                Path p = key.equals("data") ? s.inputs().data() : key.equals("probe") ? s.inputs().probe() : s.inputs().eval();
                if (p == null) continue;
                if (!Files.isRegularFile(p)) throw error(where, key + ": " + notAFile(p));
            }
            Path model = s.inputs().model();
            if (!Files.isDirectory(model)) throw error(where, "model: no such folder " + model);
            Checkpoint checkpoint;
            try {
                checkpoint = Checkpoint.open(model);
            } catch (CheckpointException | adept.nn.ModelException | java.io.UncheckedIOException e) {
                throw error(where, "model: " + firstLine(e.getMessage()));
            }
            int context = checkpoint.config().modelConfig().maxPositionEmbeddings();
            Integer blockSize = s.inputs().blockSize();
            if (blockSize != null && blockSize > context) {
                throw error(where, "block_size " + blockSize + " exceeds the model's context (max_position_embeddings " + context + ")");
            }
            TrainMode mode = s.preparation().mode();
            boolean expanded = ExpansionMetadata.from(checkpoint.metadata(), model.toString()).isPresent();
            if (!expanded && s.preparation().layers() == null && mode.probesLayers() && s.inputs().probe() == null) {
                throw error(where, "probe: mode " + mode.label() + " probes the unexpanded model " + model + " first: give probe, layers or an expanded model");
            }
            if (mode == TrainMode.LORA) {
                try {
                    LoraMode.rank(s, checkpoint);
                } catch (TrainException e) {
                    throw error(where, e.getMessage());
                }
            }
            if (s.preparation().layers() != null && !expanded) {
                int m = checkpoint.config().modelConfig().numHiddenLayers();
                for (int l : s.preparation().layers()) if (l < 0 || l >= m) throw error(where, "layers: " + l + " is out of range 0.." + (m - 1));
            }
        }

        Evaluation evaluation(JsonElement value, JsonObject shared, List<Run> runs) {
            if (value == null || value.isJsonNull()) return null;
            if (!value.isJsonObject()) throw error("evaluate", "expected {data: [FILE, ...], ...}, got " + value);
            JsonObject o = value.getAsJsonObject();
            checkKeys(o, EVALUATE_KEYS, "evaluate");
            JsonElement d = o.get("data");
            if (d == null || d.isJsonNull()) throw error("evaluate.data", "give a held-out file or a list of them");
            List<JsonElement> items = new ArrayList<>();
            if (d.isJsonArray()) d.getAsJsonArray().forEach(items::add);
            else items.add(d);
            if (items.isEmpty()) throw error("evaluate.data", "give a held-out file or a list of them");
            List<Path> files = new ArrayList<>();
            Set<Path> unique = new HashSet<>();
            for (JsonElement item : items) {
                if (!isText(item)) throw error("evaluate.data", "expected a file path, got " + item);
                Path p = resolve(item.getAsString());
                if (!Files.isRegularFile(p)) throw error("evaluate.data", notAFile(p));
                if (!unique.add(p)) throw error("evaluate.data", p + " is listed twice");
                files.add(p);
            }
            int batchSize = 4;
            if (o.has("batch_size") && !o.get("batch_size").isJsonNull()) {
                batchSize = number(o.get("batch_size"), true, "evaluate.batch_size", "a whole number").getAsInt();
                if (batchSize < 1) throw error("evaluate.batch_size", "must be >= 1, got " + batchSize);
            }
            Integer maxLength = null;
            if (o.has("max_length") && !o.get("max_length").isJsonNull()) {
                maxLength = number(o.get("max_length"), true, "evaluate.max_length", "a whole number").getAsInt();
                if (maxLength < 2) throw error("evaluate.max_length", "must be >= 2, got " + maxLength);
            }
            boolean base = true;
            if (o.has("base") && !o.get("base").isJsonNull()) {
                JsonElement b = o.get("base");
                if (!b.isJsonPrimitive() || !b.getAsJsonPrimitive().isBoolean()) throw error("evaluate.base", "expected true or false, got " + b);
                base = b.getAsBoolean();
            }
            String dtype = text(o, "dtype", runs.get(0).settings().hardware().dtype().toString());
            String device = text(o, "device", runs.get(0).settings().hardware().device().toString());
            adept.tensor.DType evalType;
            try {
                evalType = adept.tensor.DType.parse(dtype);
            } catch (RuntimeException e) {
                throw error("evaluate.dtype", firstLine(e.getMessage()));
            }
            if (!evalType.isFloatingPoint()) throw error("evaluate.dtype", dtype + " is not a floating-point type: use float32, bfloat16, float16 or float64");
            try {
                adept.tensor.Device.parse(device);
            } catch (RuntimeException e) {
                throw error("evaluate.device", firstLine(e.getMessage()));
            }
            if (maxLength != null) {
                for (Run r : runs) {
                    int context = Checkpoint.open(r.settings().inputs().model()).config().modelConfig().maxPositionEmbeddings();
                    if (maxLength > context) {
                        throw error("evaluate.max_length", maxLength + " exceeds the context of " + r.settings().inputs().model() + " (max_position_embeddings " + context + ")");
                    }
                }
            }
            return new Evaluation(files, batchSize, maxLength, base, dtype, device);
        }

        String text(JsonObject o, String key, String fallback) {
            JsonElement v = o.get(key);
            if (v == null || v.isJsonNull()) return fallback;
            if (!isText(v)) throw error("evaluate." + key, "expected text, got " + v);
            return v.getAsString();
        }
    }

    /** The known key nearest to key by edit distance (a swap of neighbours counts 1), when close enough to be a typo. */
    static String closest(String key, Set<String> known) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String k : known) {
            int d = distance(key.toLowerCase(Locale.ROOT).replace('-', '_'), k);
            if (d < bestDistance) {
                bestDistance = d;
                best = k;
            }
        }
        return bestDistance <= Math.max(1, Math.min(3, key.length() / 3)) ? best : null;
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        int[] before = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    cur[j] = Math.min(cur[j], before[j - 2] + 1);  // a swap of two neighbours
                }
            }
            int[] t = before;
            before = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    static String firstLine(String message) {
        if (message == null) return "(no message)";
        String m = message.strip();
        int end = m.indexOf('\n');
        return (end < 0 ? m : m.substring(0, end)).strip();
    }
}
