package adept.train;

import adept.expand.ExpansionMetadata;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.CheckpointException;
import adept.io.checkpoint.StrictJson;
import com.google.gson.FieldNamingPolicy;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
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
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.YAMLException;

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
 * {@link #load} checks everything it can without training: unknown keys (top level, in runs, in evaluate), values of
 * the wrong type, every run's {@link TrainSettings#validate}, missing files and folders, duplicate run names, a run
 * folder that holds a run with other settings. Relative paths resolve against the config file's folder. Errors are
 * {@link TrainException}s whose message is one line naming the file and the key (or run). Nothing is written.
 */
public final class RunConfig {
    /** One training run of the pipeline: its name, folder (out/NAME) and complete settings (absolute paths). */
    public record Run(String name, Path dir, TrainSettings settings) {
        /** The final model folder; it exists once the run has finished. */
        public Path model() {
            return dir.resolve(Trainer.MODEL_DIR);
        }

        /** Finished with these settings: the final model exists and run.json matches. */
        public boolean done() {
            return Files.isRegularFile(model().resolve("config.json")) && priorDifferences().map(List::isEmpty).orElse(false);
        }

        /** Started before (run.json exists) but not finished: the trainer resumes it from its newest checkpoint. */
        public boolean started() {
            return Files.exists(dir.resolve(Trainer.RUN_FILE));
        }

        /** How the settings in dir/run.json differ from these; empty when there is no run.json. */
        java.util.Optional<List<String>> priorDifferences() {
            Path file = dir.resolve(Trainer.RUN_FILE);
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
    /** The training keys whose values are paths, resolved against the config file's folder. */
    static final List<String> PATH_KEYS = List.of("model", "data", "probe", "eval");
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
        for (Run r : runs) out.add(Path.of(r.settings().model));
        return List.copyOf(out);
    }

    /** Reads and checks a config file (see the class comment); writes nothing. */
    public static RunConfig load(Path file) {
        Path f = file.toAbsolutePath().normalize();
        return parse(readConfig(file), f, file.toString());
    }

    /** Why p, which is not a regular file, cannot be read as one: a folder, nothing, or a device, FIFO or socket. */
    static String notAFile(Path p) {
        if (Files.isDirectory(p)) return p + " is a folder, not a file";
        if (!Files.exists(p)) return "no such file " + p;
        return p + " is not a regular file (a device, FIFO or socket); save the text to a file first";
    }

    /** Configs are small: at most this many bytes (a device or a runaway file is refused, not read into memory). */
    static final long MAX_CONFIG_BYTES = 1 << 20;

    /** A config file's text: a regular file of at most {@link #MAX_CONFIG_BYTES}, valid UTF-8; errors name the file. */
    static String readConfig(Path file) {
        Path f = file.toAbsolutePath().normalize();
        if (!Files.exists(f)) throw new TrainException(file + ": no such config file");
        byte[] bytes;
        try {
            bytes = adept.io.checkpoint.FileOps.readBounded(f, MAX_CONFIG_BYTES, "run config");
        } catch (CheckpointException e) {
            throw new TrainException(e.getMessage().replace(f.toString(), file.toString()));
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                    .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new TrainException(file + ": not valid UTF-8 text (" + adept.io.checkpoint.FileOps.firstInvalidUtf8(bytes) + ")");
        }
    }

    /** Parses and checks config text as if read from file (relative paths resolve against its folder); label names it in errors. */
    public static RunConfig parse(String text, Path file, String label) {
        Path f = file.toAbsolutePath().normalize();
        return new Parser(label, f).parse(tree(text, f.getFileName().toString(), label));
    }

    /** Checks a config already read into a JSON tree (as {@link #parse} does after reading); label names it in errors. */
    public static RunConfig parseTree(JsonObject root, Path file, String label) {
        return new Parser(label, file.toAbsolutePath().normalize()).parse(root);
    }

    /** The text as a JSON object: YAML (safe types only, no duplicate keys) or JSON. */
    static JsonObject tree(String text, String fileName, String label) {
        String lower = fileName.toLowerCase(Locale.ROOT);
        boolean json = lower.endsWith(".json") || (!lower.endsWith(".yaml") && !lower.endsWith(".yml") && text.stripLeading().startsWith("{"));
        JsonElement root;
        if (json) {
            try {
                root = StrictJson.parse(text);
            } catch (StrictJson.Malformed e) {
                throw new TrainException(label + ": not valid JSON: " + firstLine(e.getMessage()));
            }
        } else {
            LoaderOptions options = new LoaderOptions();
            options.setAllowDuplicateKeys(false);
            options.setAllowRecursiveKeys(false);
            options.setMaxAliasesForCollections(20);
            options.setCodePointLimit(1 << 22);
            options.setNestingDepthLimit(64);
            Object loaded;
            try {
                loaded = new Yaml(new StrictConstructor(options, label)).load(text);
            } catch (org.yaml.snakeyaml.error.MarkedYAMLException e) {
                var mark = e.getProblemMark();
                String at = mark == null ? "" : "line " + (mark.getLine() + 1) + ", column " + (mark.getColumn() + 1) + ": ";
                String problem = e.getProblem() != null ? e.getProblem() : e.getMessage();
                throw new TrainException(label + ": not valid YAML: " + at + String.valueOf(problem).strip().replaceAll("\\s+", " "));
            } catch (YAMLException e) {
                throw new TrainException(label + ": not valid YAML: " + String.valueOf(e.getMessage()).strip().replaceAll("\\s+", " "));
            }
            root = fromYaml(loaded, label, "");
        }
        if (root == null || root.isJsonNull()) throw new TrainException(label + ": empty config (see adept run --keys)");
        if (!root.isJsonObject()) throw new TrainException(label + ": expected keys and values at the top level (see adept run --keys)");
        return root.getAsJsonObject();
    }

    /**
     * Safe types, minus YAML 1.1's surprising integers: 010 (octal 8), 0x10, 0b10 and 1:30 (sexagesimal 90) are refused
     * with their line, rather than read as another number than the one the user meant.
     */
    private static final class StrictConstructor extends SafeConstructor {
        private static final Pattern SURPRISING_INT = Pattern.compile("[-+]?(0[0-9_]+|0[xXbB].*|[0-9][0-9_]*(:[0-5]?[0-9])+)");

        StrictConstructor(LoaderOptions options, String label) {
            super(options);
            org.yaml.snakeyaml.constructor.Construct ints = yamlConstructors.get(org.yaml.snakeyaml.nodes.Tag.INT);
            yamlConstructors.put(org.yaml.snakeyaml.nodes.Tag.INT, new org.yaml.snakeyaml.constructor.AbstractConstruct() {
                @Override
                public Object construct(org.yaml.snakeyaml.nodes.Node node) {
                    String text = ((org.yaml.snakeyaml.nodes.ScalarNode) node).getValue();
                    if (SURPRISING_INT.matcher(text.strip()).matches()) {
                        throw new TrainException(label + ": line " + (node.getStartMark().getLine() + 1) + ": " + text + " is a YAML 1.1 "
                                + (text.contains(":") ? "base-60" : text.matches("[-+]?0[xX].*") ? "hexadecimal" : text.matches("[-+]?0[bB].*") ? "binary" : "octal")
                                + " number (" + ints.construct(node) + "); write it in decimal without a leading zero, or quote it");
                    }
                    return ints.construct(node);
                }
            });
        }
    }

    /** Containers being converted, by identity: a recursive alias (a: &x [*x]) would otherwise recurse forever. */
    private static final ThreadLocal<java.util.IdentityHashMap<Object, Boolean>> CONVERTING = ThreadLocal.withInitial(java.util.IdentityHashMap::new);

    private static JsonElement fromYaml(Object o, String label, String where) {
        if (o instanceof Map<?, ?> || o instanceof List<?>) {
            var open = CONVERTING.get();
            if (open.put(o, Boolean.TRUE) != null) {
                throw new TrainException(label + ": " + (where.isEmpty() ? "" : where.substring(0, where.length() - 1) + ": ")
                        + "a recursive alias (a value that contains itself) is not allowed");
            }
            try {
                return convert(o, label, where);
            } finally {
                open.remove(o);
            }
        }
        return convert(o, label, where);
    }

    private static JsonElement convert(Object o, String label, String where) {
        if (o == null) return JsonNull.INSTANCE;
        if (o instanceof String s) return new JsonPrimitive(s);
        if (o instanceof Boolean b) return new JsonPrimitive(b);
        if (o instanceof Number n) return new JsonPrimitive(n);
        if (o instanceof Map<?, ?> m) {
            JsonObject out = new JsonObject();
            for (var e : m.entrySet()) {
                if (!(e.getKey() instanceof String k)) throw new TrainException(label + ": " + where + "key " + e.getKey() + " is not text");
                out.add(k, fromYaml(e.getValue(), label, where + k + "."));
            }
            return out;
        }
        if (o instanceof List<?> l) {
            JsonArray out = new JsonArray();
            for (int i = 0; i < l.size(); i++) out.add(fromYaml(l.get(i), label, where));
            return out;
        }
        String key = where.isEmpty() ? "" : where.substring(0, where.length() - 1) + ": ";
        throw new TrainException(label + ": " + key + "a " + o.getClass().getSimpleName() + " value is not allowed here (quote it to make it text)");
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
        final JsonObject defaults = new TrainSettings().toJsonObject();
        final Map<String, Field> fields = new LinkedHashMap<>();

        Parser(String label, Path file) {
            this.label = label;
            this.file = file;
            this.folder = file.getParent();
            for (Field f : TrainSettings.class.getDeclaredFields()) {
                if (!Modifier.isStatic(f.getModifiers())) fields.put(FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES.translateName(f), f);
            }
        }

        TrainException error(String where, String message) {
            return new TrainException(label + ": " + (where.isEmpty() ? "" : where + ": ") + message);
        }

        RunConfig parse(JsonObject root) {
            Set<String> topKnown = new LinkedHashSet<>(fields.keySet());
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
            runKnown.addAll(fields.keySet());
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
                TrainSettings s = settings(merged, at, entry);
                String name;
                JsonElement n = entry.get("name");
                if (n == null || n.isJsonNull()) {
                    name = s.mode.toLowerCase(Locale.ROOT);
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
                s.out = dir.toString();
                try {
                    s.validate();
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

        /** Settings from the merged keys, every value checked against its field's type first (the error names the key and where it was set). */
        TrainSettings settings(JsonObject merged, String at, JsonObject entry) {
            JsonObject normalized = new JsonObject();
            for (var e : merged.entrySet()) {
                String key = e.getKey();
                String where = entry.has(key) ? (at.isEmpty() ? key : at + "." + key) : key;
                JsonElement v = normalize(fields.get(key), e.getValue(), where);
                if (PATH_KEYS.contains(key) && !v.isJsonNull()) v = new JsonPrimitive(resolve(v.getAsString()).toString());
                normalized.add(key, v);
            }
            return TrainSettings.fromJson(normalized, label + (at.isEmpty() ? "" : ": " + at));
        }

        JsonElement normalize(Field f, JsonElement v, String where) {
            Class<?> type = f.getType();
            if (v.isJsonNull()) {
                if (type.isPrimitive()) throw error(where, "expected " + typeName(type) + ", got null");
                JsonElement d = defaults.get(FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES.translateName(f));
                if (d != null && !d.isJsonNull()) throw error(where, "expected a value (default " + TrainSettings.formatDefault(d) + "), got null");
                return v;
            }
            if (type == String.class) {
                // lora_match: adept or a count, which YAML reads as a number
                if (f.getName().equals("loraMatch") && v.isJsonPrimitive() && v.getAsJsonPrimitive().isNumber()) return new JsonPrimitive(v.getAsString());
                if (!isText(v)) throw error(where, "expected text, got " + v);
                return v;
            }
            if (type == List.class && f.getGenericType() instanceof java.lang.reflect.ParameterizedType pt
                    && pt.getActualTypeArguments()[0] == String.class) {
                if (!v.isJsonArray()) throw error(where, "expected a list of names, e.g. [q_proj, v_proj], got " + v);
                for (JsonElement x : v.getAsJsonArray()) if (!isText(x)) throw error(where, "expected a list of names, got " + v);
                return v;
            }
            if (type == List.class) {
                if (!v.isJsonArray()) throw error(where, "expected a list of whole numbers, e.g. [3, 7], got " + v);
                JsonArray out = new JsonArray();
                for (JsonElement x : v.getAsJsonArray()) out.add(number(x, true, where, "a list of whole numbers"));
                return out;
            }
            boolean integral = type == int.class || type == long.class || type == Integer.class || type == Long.class;
            JsonPrimitive p = number(v, integral, where, typeName(type));
            if ((type == int.class || type == Integer.class) && (p.getAsBigDecimal().compareTo(BigDecimal.valueOf(Integer.MAX_VALUE)) > 0
                    || p.getAsBigDecimal().compareTo(BigDecimal.valueOf(Integer.MIN_VALUE)) < 0)) {
                throw error(where, "out of range: " + v);
            }
            return p;
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

        static String typeName(Class<?> type) {
            if (type == boolean.class || type == Boolean.class) return "true or false";
            if (type == double.class || type == Double.class) return "a number";
            return "a whole number";
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
                String value = key.equals("data") ? s.data : key.equals("probe") ? s.probe : s.eval;
                if (value == null) continue;
                Path p = Path.of(value);
                if (!Files.isRegularFile(p)) throw error(where, key + ": " + notAFile(p));
            }
            Path model = Path.of(s.model);
            if (!Files.isDirectory(model)) throw error(where, "model: no such folder " + model);
            Checkpoint checkpoint;
            try {
                checkpoint = Checkpoint.open(model);
            } catch (CheckpointException | adept.nn.ModelException | java.io.UncheckedIOException e) {
                throw error(where, "model: " + firstLine(e.getMessage()));
            }
            int context = checkpoint.config().modelConfig().maxPositionEmbeddings();
            if (s.blockSize != null && s.blockSize > context) {
                throw error(where, "block_size " + s.blockSize + " exceeds the model's context (max_position_embeddings " + context + ")");
            }
            TrainMode mode = s.trainMode();
            boolean expanded = ExpansionMetadata.from(checkpoint.metadata(), model.toString()).isPresent();
            if (!expanded && s.layers == null && mode.probesLayers() && s.probe == null) {
                throw error(where, "probe: mode " + mode.label() + " probes the unexpanded model " + model + " first: give probe, layers or an expanded model");
            }
            if (mode == TrainMode.LORA) {
                try {
                    LoraMode.rank(s, checkpoint);
                } catch (TrainException e) {
                    throw error(where, e.getMessage());
                }
            }
            if (s.layers != null && !expanded) {
                int m = checkpoint.config().modelConfig().numHiddenLayers();
                for (int l : s.layers) if (l < 0 || l >= m) throw error(where, "layers: " + l + " is out of range 0.." + (m - 1));
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
            String dtype = text(o, "dtype", runs.get(0).settings().dtype);
            String device = text(o, "device", runs.get(0).settings().device);
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
                    int context = Checkpoint.open(Path.of(r.settings().model)).config().modelConfig().maxPositionEmbeddings();
                    if (maxLength > context) {
                        throw error("evaluate.max_length", maxLength + " exceeds the context of " + r.settings().model + " (max_position_embeddings " + context + ")");
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
