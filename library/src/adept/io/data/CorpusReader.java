package adept.io.data;

import adept.io.checkpoint.StrictJson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads corpora: JSON Lines (optionally gzip) with {"text": ...} or {"instruction": ...,
 * "output": ...} objects, or a plain text file (one item); the format is found from the content, whatever the
 * file's name. Errors name the file and line.
 */
public final class CorpusReader {
    private CorpusReader() {}

    /** The longest JSON line, or plain text file, read as one item (64 MiB, as for training documents). */
    public static final int MAX_ITEM_BYTES = TrainingDocuments.MAX_LINE_BYTES;

    /**
     * The items of file, whose format is found from its content ({@link CorpusFormat#detect}: gzip by its magic bytes,
     * JSON Lines when the first non-blank character is <code>{</code>), not from its name. Text must be UTF-8.
     *
     * @throws DataException naming the file (and line) when it is not a regular file, binary, not UTF-8, has a line
     *     (or, as plain text, a size) over {@link #MAX_ITEM_BYTES}, or an item that is not valid
     */
    public static List<CorpusItem> read(Path file) {
        return read(file, MAX_ITEM_BYTES);
    }

    static List<CorpusItem> read(Path file, int maxItemBytes) {
        CorpusFormat format = CorpusFormat.detect(file);
        String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        if (format.kind() == CorpusFormat.Kind.PLAIN_TEXT && name.matches(".*\\.(jsonl|ndjson|json)(\\.gz)?")) {
            // The name promises JSON; scoring the file as one plain text would hide the mistake.
            throw new DataException(file + ": named like JSON Lines, but its first non-blank character is not '{'"
                    + " (JSON Lines: one {\"text\": ...} object a line; rename it .txt to read it as plain text)");
        }
        List<CorpusItem> items = new ArrayList<>();
        long number = 0;
        try (InputStream in = CorpusFormat.open(file, format.gzip(), Files.newInputStream(file))) {
            if (format.kind() == CorpusFormat.Kind.PLAIN_TEXT) {
                byte[] bytes = in.readNBytes(maxItemBytes + 1);
                if (bytes.length > maxItemBytes) {
                    throw new DataException(file + ": plain text larger than " + maxItemBytes + " bytes" + (format.gzip() ? " (decompressed)" : "")
                            + " is more than one item can hold; split it into JSON Lines {\"text\": ...}");
                }
                String text = stripBom(decode(file, 0, bytes, bytes.length));
                if (!text.isBlank()) items.add(new CorpusItem.Text(text, 0));
            } else {
                LineReader lines = new LineReader(in, maxItemBytes);
                while (lines.next()) {
                    number++;
                    if (lines.overflow) {
                        throw new DataException(file + ":" + number + ": line longer than " + maxItemBytes + " bytes");
                    }
                    String line = decode(file, number, lines.bytes, lines.length);
                    if (number == 1) line = stripBom(line);
                    if (line.isBlank()) continue;
                    items.add(parse(file, number, line));
                }
            }
        } catch (NoSuchFileException e) {
            throw new DataException(file + ": no such file");
        } catch (java.util.zip.ZipException e) {
            throw new DataException(file + ":" + (number + 1) + ": corrupt gzip data: " + e.getMessage(), e);
        } catch (java.io.EOFException e) {
            throw new DataException(file + ":" + (number + 1) + ": the gzip data is truncated", e);
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (items.isEmpty()) throw new DataException(file + ": the corpus is empty");
        return items;
    }

    private static String stripBom(String s) {
        return s.startsWith("\uFEFF") ? s.substring(1) : s;
    }

    private static String decode(Path file, long number, byte[] bytes, int length) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes, 0, length)).toString();
        } catch (CharacterCodingException e) {
            throw new DataException(file + (number > 0 ? ":" + number : "") + ": not valid UTF-8 text");
        }
    }

    /** Lines of bytes (without "\n", "\r\n" kept as "\r" which JSON treats as white space), never more than max bytes held. */
    private static final class LineReader {
        private final InputStream in;
        private final int max;
        private final byte[] buffer = new byte[1 << 16];
        private int pos;
        private int limit;
        byte[] bytes = new byte[1 << 12];
        int length;
        boolean overflow;

        LineReader(InputStream in, int max) {
            this.in = in;
            this.max = max;
        }

        boolean next() throws IOException {
            length = 0;
            overflow = false;
            boolean any = false;
            while (true) {
                if (pos == limit) {
                    pos = 0;
                    limit = Math.max(0, in.read(buffer, 0, buffer.length));
                    if (limit == 0) return any;
                }
                any = true;
                int newline = pos;
                while (newline < limit && buffer[newline] != '\n') newline++;
                int take = newline - pos;
                if ((long) length + take > max) {
                    overflow = true;
                    return true;
                }
                if (length + take > bytes.length) bytes = java.util.Arrays.copyOf(bytes, Math.max(length + take, Math.min(max, bytes.length * 2)));
                System.arraycopy(buffer, pos, bytes, length, take);
                length += take;
                pos = newline;
                if (newline < limit) {
                    pos++;
                    return true;
                }
            }
        }
    }

    private static CorpusItem parse(Path file, long number, String line) {
        JsonObject object = parseObject(file, number, line);
        if (object.has("text")) return new CorpusItem.Text(string(file, number, object, "text"), number);
        if (object.has("instruction") && object.has("output")) {
            return new CorpusItem.Instruction(string(file, number, object, "instruction"), string(file, number, object, "output"), number);
        }
        throw new DataException(file + ":" + number + ": expected a \"text\" field or \"instruction\" and \"output\" fields");
    }

    /** One line of JSON Lines as a JSON object, parsed strictly ({@link StrictJson}); errors name file:number. */
    public static JsonObject parseObject(Path file, long number, String line) {
        JsonElement element;
        try {
            element = StrictJson.parse(line);
        } catch (StrictJson.Malformed e) {
            throw new DataException(file + ":" + number + ": malformed JSON: " + e.getMessage());
        }
        if (!element.isJsonObject()) throw new DataException(file + ":" + number + ": expected a JSON object, got " + abbreviate(line));
        return element.getAsJsonObject();
    }

    static String string(Path file, long number, JsonObject object, String field) {
        JsonElement value = object.get(field);
        if (value == null || !value.isJsonPrimitive() || !value.getAsJsonPrimitive().isString()) {
            throw new DataException(file + ":" + number + ": field \"" + field + "\" must be a string");
        }
        return value.getAsString();
    }

    private static String abbreviate(String s) {
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }
}
