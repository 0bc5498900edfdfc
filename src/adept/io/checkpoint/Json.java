package adept.io.checkpoint;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.math.BigDecimal;

/** Strict JSON parsing and typed field access with errors that name the file and the field. */
final class Json {
    private Json() {}

    static final Gson COMPACT = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();
    static final Gson PRETTY = new GsonBuilder().disableHtmlEscaping().serializeNulls().setPrettyPrinting().create();

    /** Parses one JSON document strictly (no comments, single quotes, trailing data or NaN). */
    static JsonElement parse(String text, String where) {
        try {
            JsonReader reader = new JsonReader(new StringReader(text));
            reader.setStrictness(Strictness.STRICT);
            JsonElement root = JsonParser.parseReader(reader);
            if (reader.peek() != JsonToken.END_DOCUMENT) throw new JsonParseException("unexpected data after the JSON value");
            return root;
        } catch (JsonParseException | IOException | IllegalStateException e) {
            String detail = e.getCause() != null && e.getCause().getMessage() != null ? e.getCause().getMessage() : e.getMessage();
            throw new CheckpointException(where + ": malformed JSON: " + detail, e);
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
