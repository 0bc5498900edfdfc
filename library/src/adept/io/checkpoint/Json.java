package adept.io.checkpoint;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonPrimitive;
import java.math.BigDecimal;

/** Strict JSON parsing and typed field access with errors that name the file and the field. */
final class Json {
    private Json() {}

    static final Gson COMPACT = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();
    static final Gson PRETTY = new GsonBuilder().disableHtmlEscaping().serializeNulls().setPrettyPrinting().create();

    /** Parses one JSON document strictly (see {@link StrictJson}: no comments, duplicate keys, trailing data, NaN or 1e400). */
    static JsonElement parse(String text, String where) {
        try {
            return StrictJson.parse(text);
        } catch (StrictJson.Malformed e) {
            throw new CheckpointException(where + ": malformed JSON: " + e.getMessage(), e);
        }
    }

    /** An integer value (1, 1.0 and 1e3 count; 1.5 does not), or null when the element is not one. */
    static Long exactLong(JsonElement e) {
        if (e == null || !e.isJsonPrimitive()) return null;
        JsonPrimitive p = e.getAsJsonPrimitive();
        if (!p.isNumber()) return null;
        try {
            return new BigDecimal(p.getAsString()).longValueExact();
        } catch (ArithmeticException | NumberFormatException ex) {
            return null;
        }
    }

    static String describe(JsonElement e) {
        if (e == null || e.isJsonNull()) return "null";
        if (e.isJsonObject()) return "an object";
        if (e.isJsonArray()) return "an array";
        JsonPrimitive p = e.getAsJsonPrimitive();
        if (p.isBoolean()) return "the boolean " + p.getAsBoolean();
        if (p.isNumber()) return "the number " + p.getAsString();
        String s = p.getAsString();
        return "the string \"" + (s.length() > 40 ? s.substring(0, 40) + "..." : s) + "\"";
    }
}
