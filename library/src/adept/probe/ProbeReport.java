package adept.probe;

import adept.io.data.DataException;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The result of {@code adept probe} as written to {@code importance.json}: the per-layer scores and
 * everything needed to know where they came from.
 *
 * <p>Layout (format 1):
 * <pre>
 * {"format": "adept.probe/1", "adept_version": ..., "created": ISO-8601,
 *  "model": {"path", "name", "architecture", "num_hidden_layers", "dtype", "device"},
 *  "corpus": {"path", "items" (in the file), "examples" (items probed, after the token budget), "target_tokens", "batch_size", "batches", "max_length", "token_budget"},
 *  "base_loss": L, "skip_loss": [M], "delta": [M] (dL = skip - base, sign kept), "normalized": [M] (min-max of dL),
 *  "highlight_k": K, "lowest": [K layer indices], "timings_s": {...}}
 * </pre>
 * Reading takes base_loss and skip_loss as the truth; delta and normalized are checked against them
 * (they are there for people and plotting tools).
 */
public record ProbeReport(
        String adeptVersion,
        String created,
        String modelPath,
        String modelName,
        String architecture,
        String dtype,
        String device,
        String corpusPath,
        long items,
        long examples,
        int batchSize,
        int batches,
        int maxLength,
        long tokenBudget,
        LayerImportance importance,
        int highlightK,
        Map<String, Double> timings) {

    public static final String FORMAT = "adept.probe/1";
    /** The largest importance.json read (one of a 1,000-layer model is some 100 KB). */
    static final long MAX_BYTES = 64L << 20;
    public static final String FILE_NAME = "importance.json";
    private static final Gson PRETTY = new GsonBuilder().disableHtmlEscaping().serializeNulls().setPrettyPrinting().create();

    public ProbeReport {
        timings = timings == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(timings));
    }

    /** The number of layers probed. */
    public int layers() {
        return importance.skipLoss().length;
    }

    /** The highlighted (lowest-dL) layers, ascending. */
    public List<Integer> lowest() {
        return highlightK > 0 ? importance.lowest(Math.min(highlightK, layers())) : List.of();
    }

    /** The report as importance.json's object. */
    public JsonObject toJsonObject() {
        JsonObject root = new JsonObject();
        root.addProperty("format", FORMAT);
        root.addProperty("adept_version", adeptVersion);
        root.addProperty("created", created);
        JsonObject model = new JsonObject();
        model.addProperty("path", modelPath);
        model.addProperty("name", modelName);
        model.addProperty("architecture", architecture);
        model.addProperty("num_hidden_layers", layers());
        model.addProperty("dtype", dtype);
        model.addProperty("device", device);
        root.add("model", model);
        JsonObject corpus = new JsonObject();
        corpus.addProperty("path", corpusPath);
        corpus.addProperty("items", items);
        corpus.addProperty("examples", examples);
        corpus.addProperty("target_tokens", importance.targetTokens());
        corpus.addProperty("batch_size", batchSize);
        corpus.addProperty("batches", batches);
        corpus.addProperty("max_length", maxLength);
        corpus.addProperty("token_budget", tokenBudget);
        root.add("corpus", corpus);
        root.addProperty("base_loss", importance.baseLoss());
        root.add("skip_loss", array(importance.skipLoss()));
        root.add("delta", array(importance.deltas()));
        root.add("normalized", array(importance.normalized()));
        root.addProperty("highlight_k", highlightK);
        JsonArray lowest = new JsonArray();
        for (int l : lowest()) lowest.add(l);
        root.add("lowest", lowest);
        JsonObject t = new JsonObject();
        timings.forEach(t::addProperty);
        root.add("timings_s", t);
        return root;
    }

    /** importance.json's text: indented, trailing newline. */
    public String toJson() {
        return PRETTY.toJson(toJsonObject()) + "\n";
    }

    /** Writes the report atomically (temporary sibling, fsync, rename). */
    public void write(Path file) throws IOException {
        writeAtomically(file, toJson().getBytes(StandardCharsets.UTF_8));
    }

    // ---- reading ----

    /** Reads and checks an importance.json; errors (a DataException) name the file and the field. */
    public static ProbeReport read(Path file) {
        String text;
        if (Files.exists(file) && !Files.isRegularFile(file)) throw new DataException(file + ": not a regular file (is this an importance.json?)");
        try {
            if (Files.size(file) > MAX_BYTES) throw new DataException(file + ": larger than " + MAX_BYTES + " bytes; not an importance.json");
            text = adept.io.checkpoint.FileOps.readUtf8(file, MAX_BYTES, "importance.json");
        } catch (adept.io.checkpoint.CheckpointException e) {
            throw new DataException(e.getMessage());
        } catch (NoSuchFileException e) {
            throw new DataException(file + ": no such importance file (run adept probe first)");
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage(), e);
        }
        return parse(text, file.toString());
    }

    /** Reads importance.json text; errors name where and the field. */
    public static ProbeReport parse(String text, String where) {
        JsonElement rootElement;
        try {
            rootElement = adept.io.checkpoint.StrictJson.parse(text);
        } catch (adept.io.checkpoint.StrictJson.Malformed e) {
            throw new DataException(where + ": malformed JSON: " + e.getMessage());
        }
        if (!rootElement.isJsonObject()) throw new DataException(where + ": not a JSON object (is this an importance.json from adept probe?)");
        JsonObject root = rootElement.getAsJsonObject();
        JsonElement format = root.get("format");
        if (format == null || !format.isJsonPrimitive() || !format.getAsString().equals(FORMAT)) {
            throw new DataException(where + ": field \"format\" is " + (format == null ? "missing" : format.toString())
                    + ", expected \"" + FORMAT + "\" (is this an importance.json from adept probe?)");
        }
        F f = new F(root, where);
        JsonObject model = f.object("model");
        JsonObject corpus = f.object("corpus");
        F fm = new F(model, where + ": model");
        F fc = new F(corpus, where + ": corpus");
        double base = f.number("base_loss");
        double[] skip = f.numbers("skip_loss");
        int layers = (int) fm.integer("num_hidden_layers");
        if (skip.length == 0) throw new DataException(where + ": field \"skip_loss\" is empty");
        if (skip.length != layers) {
            throw new DataException(where + ": field \"skip_loss\" has " + skip.length + " entries but model.num_hidden_layers is " + layers);
        }
        LayerImportance importance = new LayerImportance(base, skip, fc.integer("target_tokens"));
        if (root.has("delta")) {
            double[] delta = f.numbers("delta");
            double[] expected = importance.deltas();
            if (delta.length != layers) throw new DataException(where + ": field \"delta\" has " + delta.length + " entries, expected " + layers);
            for (int l = 0; l < layers; l++) {
                if (Math.abs(delta[l] - expected[l]) > 1e-9 * Math.max(1, Math.abs(expected[l]))) {
                    throw new DataException(where + ": delta[" + l + "] = " + delta[l] + " disagrees with skip_loss - base_loss = " + expected[l]);
                }
            }
        }
        Map<String, Double> timings = new LinkedHashMap<>();
        if (root.has("timings_s") && root.get("timings_s").isJsonObject()) {
            for (var e : root.getAsJsonObject("timings_s").entrySet()) {
                if (e.getValue().isJsonPrimitive() && e.getValue().getAsJsonPrimitive().isNumber()) timings.put(e.getKey(), e.getValue().getAsDouble());
            }
        }
        return new ProbeReport(f.stringOrNull("adept_version"), f.stringOrNull("created"), fm.stringOrNull("path"), fm.stringOrNull("name"),
                fm.stringOrNull("architecture"), fm.stringOrNull("dtype"), fm.stringOrNull("device"), fc.stringOrNull("path"),
                fc.integerOr("items", 0), fc.integerOr("examples", 0), (int) fc.integerOr("batch_size", 0), (int) fc.integerOr("batches", 0),
                (int) fc.integerOr("max_length", 0), fc.integerOr("token_budget", 0), importance, (int) f.integerOr("highlight_k", 0), timings);
    }

    /** Typed field access with errors naming the file and field. */
    private record F(JsonObject o, String where) {
        JsonElement get(String name) {
            JsonElement e = o.get(name);
            if (e == null || e.isJsonNull()) throw new DataException(where + ": field \"" + name + "\" is missing");
            return e;
        }

        JsonObject object(String name) {
            JsonElement e = get(name);
            if (!e.isJsonObject()) throw new DataException(where + ": field \"" + name + "\" must be an object");
            return e.getAsJsonObject();
        }

        double number(String name) {
            return number(get(name), name);
        }

        double number(JsonElement e, String name) {
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) throw new DataException(where + ": field \"" + name + "\" must be a number");
            double v = e.getAsDouble();
            if (!Double.isFinite(v)) throw new DataException(where + ": field \"" + name + "\" must be finite");
            return v;
        }

        double[] numbers(String name) {
            JsonElement e = get(name);
            if (!e.isJsonArray()) throw new DataException(where + ": field \"" + name + "\" must be an array of numbers");
            JsonArray a = e.getAsJsonArray();
            double[] out = new double[a.size()];
            for (int i = 0; i < out.length; i++) out[i] = number(a.get(i), name + "[" + i + "]");
            return out;
        }

        long integer(String name) {
            JsonElement e = get(name);
            double v = number(e, name);
            if (v != Math.rint(v) || v < 0) throw new DataException(where + ": field \"" + name + "\" must be a non-negative integer");
            return (long) v;
        }

        long integerOr(String name, long fallback) {
            return o.has(name) && !o.get(name).isJsonNull() ? integer(name) : fallback;
        }

        String stringOrNull(String name) {
            JsonElement e = o.get(name);
            if (e == null || e.isJsonNull()) return null;
            if (!e.isJsonPrimitive()) throw new DataException(where + ": field \"" + name + "\" must be a string");
            return e.getAsString();
        }
    }

    private static JsonArray array(double[] values) {
        JsonArray a = new JsonArray();
        for (double v : values) a.add(new JsonPrimitive(v));
        return a;
    }

    // ---- atomic files ----

    /**
     * Writes target through a temporary sibling that is fsynced and renamed over target (readers see the old
     * file or the whole new one); the temporary file is removed on failure.
     */
    public static void writeAtomically(Path target, byte[] bytes) throws IOException {
        adept.io.checkpoint.FileOps.writeBytesAtomically(target.toAbsolutePath(), bytes);
    }

    /** Layer indices as a compact list, e.g. "3, 7, 9". */
    public static String join(List<Integer> layers) {
        List<String> s = new ArrayList<>();
        for (int l : layers) s.add(Integer.toString(l));
        return String.join(", ", s);
    }
}
