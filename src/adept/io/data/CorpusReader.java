package adept.io.data;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * Reads corpora: JSON Lines (optionally gzip) with {"text": ...} or {"instruction": ...,
 * "output": ...} objects, or a plain text file (one item). Errors name the file and line.
 */
public final class CorpusReader {
    private CorpusReader() {}

    /** Every item of the corpus file (format detected by content); errors name the file and line. */
    public static List<CorpusItem> read(Path file) {
        String name = file.getFileName().toString();
        boolean jsonl = name.endsWith(".jsonl") || name.endsWith(".jsonl.gz") || name.endsWith(".json.gz") || name.endsWith(".ndjson");
        List<CorpusItem> items = new ArrayList<>();
        try (BufferedReader reader = open(file)) {
            if (!jsonl) {
                StringBuilder all = new StringBuilder();
                char[] buffer = new char[1 << 16];
                for (int n; (n = reader.read(buffer)) > 0; ) all.append(buffer, 0, n);
                if (!all.toString().isBlank()) items.add(new CorpusItem.Text(all.toString(), 0));
            } else {
                String line;
                long number = 0;
                while ((line = reader.readLine()) != null) {
                    number++;
                    if (line.isBlank()) continue;
                    items.add(parse(file, number, line));
                }
            }
        } catch (NoSuchFileException e) {
            throw new DataException(file + ": no such file");
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (items.isEmpty()) throw new DataException(file + ": the corpus is empty");
        return items;
    }

    private static BufferedReader open(Path file) throws IOException {
        InputStream in = Files.newInputStream(file);
        if (file.getFileName().toString().endsWith(".gz")) in = new GZIPInputStream(in, 1 << 16);
        return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 16);
    }

    private static CorpusItem parse(Path file, long number, String line) {
        JsonObject object = parseObject(file, number, line);
        if (object.has("text")) return new CorpusItem.Text(string(file, number, object, "text"), number);
        if (object.has("instruction") && object.has("output")) {
            return new CorpusItem.Instruction(string(file, number, object, "instruction"), string(file, number, object, "output"), number);
        }
        throw new DataException(file + ":" + number + ": expected a \"text\" field or \"instruction\" and \"output\" fields");
    }

    /** One line of JSON Lines as a JSON object, parsed strictly; errors name file:number. */
    public static JsonObject parseObject(Path file, long number, String line) {
        try {
            // Strict: Gson's default parser is lenient and would take {"text": oops} (unquoted) or trailing garbage.
            com.google.gson.stream.JsonReader reader = new com.google.gson.stream.JsonReader(new java.io.StringReader(line));
            reader.setStrictness(com.google.gson.Strictness.STRICT);
            JsonElement element = JsonParser.parseReader(reader);
            if (reader.peek() != com.google.gson.stream.JsonToken.END_DOCUMENT) throw new JsonParseException("unexpected data after the JSON value");
            if (!element.isJsonObject()) throw new DataException(file + ":" + number + ": expected a JSON object, got " + abbreviate(line));
            return element.getAsJsonObject();
        } catch (JsonParseException | IOException | IllegalStateException e) {
            throw new DataException(file + ":" + number + ": malformed JSON: " + rootMessage(e));
        }
    }

    static String string(Path file, long number, JsonObject object, String field) {
        JsonElement value = object.get(field);
        if (value == null || !value.isJsonPrimitive() || !value.getAsJsonPrimitive().isString()) {
            throw new DataException(file + ":" + number + ": field \"" + field + "\" must be a string");
        }
        return value.getAsString();
    }

    private static String rootMessage(Throwable e) {
        while (e.getCause() != null) e = e.getCause();
        return e.getMessage();
    }

    private static String abbreviate(String s) {
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }
}
