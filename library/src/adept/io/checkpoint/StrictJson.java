package adept.io.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.internal.LazilyParsedNumber;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;

/**
 * The one strict JSON reader of adept's input files (config.json, safetensors headers, the shard index, tokenizer
 * files, JSON Lines corpora): RFC 8259 JSON only (no comments, unquoted keys, single quotes, NaN or trailing data), and
 * beyond Gson's strict mode it refuses a key that occurs twice in one object (Gson keeps the last silently, so two
 * readers of the same file could disagree) and a number that does not fit a double ({@code 1e400} would read as
 * Infinity). Numbers keep their spelling ({@code 1e-06} stays so when written back). Nesting deeper than
 * {@value #MAX_DEPTH} is refused rather than risking a stack overflow.
 *
 * <p>Errors are {@link Malformed} with a message of one line, without Gson's advice to read leniently; callers put the
 * file name in front.
 */
public final class StrictJson {
    private StrictJson() {}

    /** Nesting deeper than this is refused (Hugging Face's files nest a handful of levels). */
    public static final int MAX_DEPTH = 200;

    /** A JSON text that is not strict JSON; the message is one line and names the place (line, column, path). */
    public static final class Malformed extends RuntimeException {
        Malformed(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Parses one JSON document (surrounding white space allowed). */
    public static JsonElement parse(String text) {
        if (text.isBlank()) throw new Malformed("empty (no JSON value)", null);
        JsonReader reader = new JsonReader(new StringReader(text));
        reader.setStrictness(Strictness.STRICT);
        reader.setNestingLimit(MAX_DEPTH);
        try {
            JsonElement root = read(reader, 0);
            if (reader.peek() != JsonToken.END_DOCUMENT) throw new Malformed("unexpected data after the JSON value" + at(reader), null);
            return root;
        } catch (Malformed e) {
            throw e;
        } catch (IOException | IllegalStateException | NumberFormatException e) {
            throw new Malformed(clean(e.getMessage(), reader), e);
        } catch (StackOverflowError e) {
            throw new Malformed("nested too deeply", null);
        }
    }

    private static JsonElement read(JsonReader reader, int depth) throws IOException {
        JsonToken token = reader.peek();
        switch (token) {
            case BEGIN_OBJECT -> {
                if (depth >= MAX_DEPTH) throw new Malformed("nested deeper than " + MAX_DEPTH + " levels" + at(reader), null);
                reader.beginObject();
                JsonObject object = new JsonObject();
                while (reader.hasNext()) {
                    String name = reader.nextName();
                    if (object.has(name)) throw new Malformed("key \"" + abbreviate(name) + "\" occurs twice in one object" + at(reader), null);
                    object.add(name, read(reader, depth + 1));
                }
                reader.endObject();
                return object;
            }
            case BEGIN_ARRAY -> {
                if (depth >= MAX_DEPTH) throw new Malformed("nested deeper than " + MAX_DEPTH + " levels" + at(reader), null);
                reader.beginArray();
                JsonArray array = new JsonArray();
                while (reader.hasNext()) array.add(read(reader, depth + 1));
                reader.endArray();
                return array;
            }
            case STRING -> {
                return new JsonPrimitive(reader.nextString());
            }
            case NUMBER -> {
                String literal = reader.nextString();
                double value = Double.parseDouble(literal);
                if (Double.isInfinite(value)) throw new Malformed("number " + abbreviate(literal) + " is out of range" + at(reader), null);
                return new JsonPrimitive(new LazilyParsedNumber(literal));
            }
            case BOOLEAN -> {
                return new JsonPrimitive(reader.nextBoolean());
            }
            case NULL -> {
                reader.nextNull();
                return JsonNull.INSTANCE;
            }
            default -> throw new Malformed("unexpected " + token + at(reader), null);
        }
    }

    private static String at(JsonReader reader) {
        String s = reader.toString();  // "JsonReader at line L column C path $.x"
        int i = s.indexOf(" at line ");
        return i < 0 ? "" : s.substring(i);
    }

    /** Gson's message without its advice to read leniently and its troubleshooting link. */
    static String clean(String message, JsonReader reader) {
        if (message == null || message.isBlank()) return "not valid JSON" + at(reader);
        String m = message;
        int link = m.indexOf("\nSee ");
        if (link >= 0) m = m.substring(0, link);
        m = m.replace("Use JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON", "not valid JSON")
                .replace("Use JsonReader.setLenient(true) to accept malformed JSON", "not valid JSON");
        m = m.replace('\n', ' ').replace('\r', ' ').strip();
        return m.length() > 300 ? m.substring(0, 300) + "..." : m;
    }

    private static String abbreviate(String s) {
        String t = s.replace("\u0000", "\\u0000");
        return t.length() > 60 ? t.substring(0, 60) + "..." : t;
    }
}
