package adept.expand;

import adept.io.checkpoint.Provenance;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * What an expansion did, as stored with the expanded checkpoint: the JSON string under the safetensors
 * {@code __metadata__} key {@value #METADATA_KEY} and the sidecar file {@value #FILE_NAME}. Later stages
 * learn which layers are copies (and of what) from here, never by looking for zero matrices.
 *
 * @param originalLayers   M, the layer count of the source model
 * @param sources          the copied original layers, ascending (K of them)
 * @param copyIndices      the copies' indices in the expanded model, ascending
 * @param sourceOfEachLayer for every layer of the expanded model, the original layer it is or copies
 * @param method           "lowest-dL", "explicit" or "llama-pro"
 * @param reason           why these layers, in words
 * @param scores           dL per original layer that drove the choice, or null when none was used
 * @param scoresFile       where the scores came from (importance.json), or null
 * @param baseModel        the source checkpoint folder
 * @param trainable        Hugging Face names of the tensors to train (every tensor of the copies)
 * @param adeptVersion     the adept version that expanded
 */
public record ExpansionMetadata(
        int originalLayers,
        List<Integer> sources,
        List<Integer> copyIndices,
        int[] sourceOfEachLayer,
        String method,
        String reason,
        double[] scores,
        String scoresFile,
        String baseModel,
        List<String> trainable,
        String adeptVersion) {

    public static final String METADATA_KEY = "adept.expansion";
    public static final String FILE_NAME = "adept_expansion.json";
    public static final String FORMAT = "adept.expansion/1";
    private static final Gson COMPACT = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();
    private static final Gson PRETTY = new GsonBuilder().disableHtmlEscaping().serializeNulls().setPrettyPrinting().create();

    public ExpansionMetadata {
        sources = List.copyOf(sources);
        copyIndices = List.copyOf(copyIndices);
        trainable = List.copyOf(trainable);
        sourceOfEachLayer = sourceOfEachLayer.clone();
        scores = scores == null ? null : scores.clone();
        if (copyIndices.size() != sources.size()) {
            throw new ExpansionException("expansion metadata: " + sources.size() + " sources but " + copyIndices.size() + " copies");
        }
        if (sourceOfEachLayer.length != originalLayers + sources.size()) {
            throw new ExpansionException("expansion metadata: source_of_each_layer has " + sourceOfEachLayer.length + " entries, expected "
                    + (originalLayers + sources.size()));
        }
        if (scores != null && scores.length != originalLayers) {
            throw new ExpansionException("expansion metadata: " + scores.length + " scores for " + originalLayers + " layers");
        }
    }

    /** The record of applying plan: its layout, the trainable tensors, the scores behind it and where they and the model came from. */
    public static ExpansionMetadata of(ExpansionPlan plan, List<String> trainable, double[] scores, String scoresFile, String baseModel,
                                       String adeptVersion) {
        return new ExpansionMetadata(plan.originalLayers(), plan.sources(), plan.copyIndices(), plan.sourceOfEachLayer(), plan.method(),
                plan.reason(), scores, scoresFile, baseModel, trainable, adeptVersion);
    }

    /** K, the number of copies. */
    public int k() {
        return sources.size();
    }

    /** The layer count of the expanded model. */
    public int expandedLayers() {
        return sourceOfEachLayer.length;
    }

    /** The plan this metadata records. */
    public ExpansionPlan plan() {
        return new ExpansionPlan(originalLayers, sources, method, reason);
    }

    /** True when layer of the expanded model is a copy. */
    public boolean isCopy(int layer) {
        return copyIndices.contains(layer);
    }

    /** The metadata as a JSON object (format {@value #FORMAT}). */
    public JsonObject toJsonObject() {
        JsonObject o = new JsonObject();
        o.addProperty("format", FORMAT);
        o.addProperty("method", method);
        o.addProperty("reason", reason);
        o.addProperty("k", k());
        o.addProperty("original_layers", originalLayers);
        o.addProperty("expanded_layers", expandedLayers());
        o.add("sources", ints(sources));
        o.add("copy_indices", ints(copyIndices));
        o.add("source_of_each_layer", ints(Arrays.stream(sourceOfEachLayer).boxed().toList()));
        if (scores == null) {
            o.add("scores", null);
        } else {
            JsonArray s = new JsonArray();
            for (double v : scores) s.add(new JsonPrimitive(v));
            o.add("scores", s);
        }
        o.addProperty("scores_file", scoresFile);
        o.addProperty("base_model", baseModel);
        JsonArray t = new JsonArray();
        trainable.forEach(t::add);
        o.add("trainable", t);
        o.addProperty("adept_version", adeptVersion);
        return o;
    }

    /** One line, for the safetensors header. */
    public String toJson() {
        return COMPACT.toJson(toJsonObject());
    }

    /** Indented, for the sidecar file. */
    public String toPrettyJson() {
        return PRETTY.toJson(toJsonObject()) + "\n";
    }

    /** p recording this expansion as a saved model carries it: under {@value #METADATA_KEY} and as the {@value #FILE_NAME} sidecar. */
    public Provenance recordedIn(Provenance p) {
        return p.withMetadata(METADATA_KEY, toJson()).withSidecar(FILE_NAME, toPrettyJson());
    }

    /** The metadata stored in a checkpoint's safetensors metadata, if any. */
    public static java.util.Optional<ExpansionMetadata> from(Map<String, String> safetensorsMetadata, String where) {
        String json = safetensorsMetadata.get(METADATA_KEY);
        return json == null ? java.util.Optional.empty() : java.util.Optional.of(parse(json, where));
    }

    /** Reads the JSON of {@link #toJson}; errors name where. */
    public static ExpansionMetadata parse(String json, String where) {
        JsonObject o;
        try {
            JsonElement e = adept.io.checkpoint.StrictJson.parse(json);
            if (!e.isJsonObject()) throw new ExpansionException(where + ": expansion metadata is not a JSON object");
            o = e.getAsJsonObject();
        } catch (adept.io.checkpoint.StrictJson.Malformed e) {
            throw new ExpansionException(where + ": malformed expansion metadata: " + e.getMessage());
        }
        try {
            String format = o.get("format").getAsString();
            if (!FORMAT.equals(format)) throw new ExpansionException(where + ": expansion metadata format \"" + format + "\", expected " + FORMAT);
            double[] scores = null;
            if (o.has("scores") && !o.get("scores").isJsonNull()) {
                JsonArray a = o.getAsJsonArray("scores");
                scores = new double[a.size()];
                for (int i = 0; i < scores.length; i++) scores[i] = a.get(i).getAsDouble();
            }
            List<String> trainable = new ArrayList<>();
            for (JsonElement e : o.getAsJsonArray("trainable")) trainable.add(e.getAsString());
            ExpansionMetadata m = new ExpansionMetadata(o.get("original_layers").getAsInt(), intList(o.getAsJsonArray("sources")),
                    intList(o.getAsJsonArray("copy_indices")),
                    intList(o.getAsJsonArray("source_of_each_layer")).stream().mapToInt(Integer::intValue).toArray(),
                    string(o, "method"), string(o, "reason"), scores, string(o, "scores_file"), string(o, "base_model"), trainable,
                    string(o, "adept_version"));
            // The stored layout must be the one the plan implies.
            ExpansionPlan plan = m.plan();
            if (!plan.copyIndices().equals(m.copyIndices) || !Arrays.equals(plan.sourceOfEachLayer(), m.sourceOfEachLayer)) {
                throw new ExpansionException(where + ": expansion metadata is inconsistent: copy indices / sources of each layer do not match the sources");
            }
            return m;
        } catch (NullPointerException | ClassCastException | IllegalStateException | UnsupportedOperationException | NumberFormatException e) {
            throw new ExpansionException(where + ": expansion metadata lacks a field or has one of the wrong type: " + e.getMessage());
        }
    }

    private static String string(JsonObject o, String name) {
        JsonElement e = o.get(name);
        return e == null || e.isJsonNull() ? null : e.getAsString();
    }

    private static JsonArray ints(List<Integer> values) {
        JsonArray a = new JsonArray();
        values.forEach(a::add);
        return a;
    }

    private static List<Integer> intList(JsonArray a) {
        List<Integer> out = new ArrayList<>();
        for (JsonElement e : a) out.add(e.getAsInt());
        return out;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof ExpansionMetadata m && originalLayers == m.originalLayers && sources.equals(m.sources)
                && copyIndices.equals(m.copyIndices) && Arrays.equals(sourceOfEachLayer, m.sourceOfEachLayer)
                && java.util.Objects.equals(method, m.method) && java.util.Objects.equals(reason, m.reason) && Arrays.equals(scores, m.scores)
                && java.util.Objects.equals(scoresFile, m.scoresFile) && java.util.Objects.equals(baseModel, m.baseModel)
                && trainable.equals(m.trainable) && java.util.Objects.equals(adeptVersion, m.adeptVersion);
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(originalLayers, sources, copyIndices, Arrays.hashCode(sourceOfEachLayer), method, reason,
                Arrays.hashCode(scores), scoresFile, baseModel, trainable, adeptVersion);
    }

    @Override
    public String toString() {
        return "ExpansionMetadata[" + method + ", M=" + originalLayers + ", sources " + sources + ", copies " + copyIndices + "]";
    }
}
