package adept.train;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * An append-only JSON Lines log (metrics.jsonl, importance.jsonl). On resume, lines of steps at or after
 * the checkpoint's are dropped first (they will be logged again), so the log reads as one uninterrupted run.
 */
public final class RunLog implements AutoCloseable {
    private final Path file;
    private BufferedWriter writer;

    /** A log appending to file (opened on the first line). */
    public RunLog(Path file) {
        this.file = file;
    }

    /** The JSON Lines file appended to. */
    public Path file() {
        return file;
    }

    /** Keeps only the lines whose "step" is below step (a torn last line from a kill is dropped too). */
    public void truncateFrom(long step) {
        if (!Files.exists(file)) return;
        List<String> keep = new ArrayList<>();
        for (JsonObject o : read(file)) if (o.get("step").getAsLong() < step) keep.add(o.toString());
        try {
            adept.io.checkpoint.FileOps.writeStringAtomically(file, keep.isEmpty() ? "" : String.join("\n", keep) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot rewrite " + file + ": " + e.getMessage(), e);
        }
    }

    /** Appends one object as a line (buffered; see {@link #flush}). */
    public void append(JsonObject line) {
        try {
            if (writer == null) {
                writer = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            }
            writer.write(line.toString());
            writer.write('\n');
            writer.flush();  // readable while the run goes on (tail -f)
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** Writes buffered lines to the file. */
    public void flush() {
        try {
            if (writer != null) writer.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** A log line longer than this is damage (adept's are a few hundred bytes): refused before it is held in memory. */
    static final int MAX_LINE_BYTES = 1 << 20;
    /** Fields that, when present, are finite numbers. */
    private static final java.util.Set<String> NUMBERS = java.util.Set.of("loss", "eval_loss", "lr", "grad_norm", "rate_mean", "effective_lr",
            "importance", "multiplier", "elements", "tokens");
    /** Largest layer number and unit index a log may name (a plot has a row per layer and a column per unit). */
    static final int MAX_LAYER = 4095;
    static final int MAX_INDEX = (1 << 20) - 1;

    /**
     * Every line, checked as strictly as a user's file: each names its step (a whole number >= 0), and the fields
     * adept writes have their types and ranges; the first bad line is an error naming file and line. Only a torn
     * last line (a kill during a write) is skipped. Not valid UTF-8, a line over {@link #MAX_LINE_BYTES} and a file
     * that is not a regular file (a FIFO, /dev/zero) are errors too.
     */
    public static List<JsonObject> read(Path file) {
        return read(file, List.of());
    }

    /** The lines of an importance log ({@link #read}): each also names its unit's layer and index and its multiplier. */
    public static List<JsonObject> readImportance(Path file) {
        return read(file, List.of("layer", "index", "multiplier"));
    }

    private static List<JsonObject> read(Path file, List<String> required) {
        List<JsonObject> out = new ArrayList<>();
        if (!Files.exists(file)) return out;
        if (!Files.isRegularFile(file)) throw new TrainException(file + ": not a regular file (a folder, FIFO or device)");
        try (java.io.InputStream in = new java.io.BufferedInputStream(Files.newInputStream(file))) {
            java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
            int number = 0;
            long lineStart = 0;  // byte offset of the line being read
            long next = 0;
            boolean end = false;
            while (!end) {
                lineStart = next;
                line.reset();
                int b;
                while ((b = in.read()) != -1 && b != '\n') {
                    if (line.size() >= MAX_LINE_BYTES) throw new TrainException(file + ":" + (number + 1) + ": a line longer than " + MAX_LINE_BYTES + " bytes; not an adept log");
                    line.write(b);
                }
                end = b == -1;
                next = lineStart + line.size() + 1;
                number++;
                if (end && line.size() == 0) break;
                JsonObject o;
                try {
                    String text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(line.toByteArray())).toString();
                    if (text.isBlank()) continue;
                    com.google.gson.JsonElement e = JsonParser.parseString(text);
                    if (!e.isJsonObject()) throw new com.google.gson.JsonParseException("not a JSON object");
                    o = e.getAsJsonObject();
                } catch (java.nio.charset.CharacterCodingException | RuntimeException bad) {
                    if (end) break;  // a line cut off by a kill: it will be logged again
                    String why = bad instanceof java.nio.charset.CharacterCodingException
                            ? "not valid UTF-8 (byte " + (lineStart + adept.io.checkpoint.FileOps.firstInvalidUtf8Offset(line.toByteArray())) + " of the file)"
                            : "not a JSON object";
                    throw new TrainException(file + ":" + number + ": " + why + "; the log is damaged");
                }
                check(o, file + ":" + number);
                for (String field : required) if (!o.has(field)) throw new TrainException(file + ":" + number + ": no " + field + "; the log is damaged");
                out.add(o);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return out;
    }

    private static void check(JsonObject o, String where) {
        wholeNumber(o, "step", where, 0, Long.MAX_VALUE / 2, true);
        wholeNumber(o, "layer", where, -1, MAX_LAYER, false);  // -1: tensors outside the layers (embeddings)
        wholeNumber(o, "index", where, 0, MAX_INDEX, false);
        for (String field : NUMBERS) {
            if (!o.has(field)) continue;
            com.google.gson.JsonElement e = o.get(field);
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber() || !Double.isFinite(e.getAsDouble())) {
                throw new TrainException(where + ": " + field + " must be a finite number, got " + e);
            }
        }
        if (o.has("frozen") && !(o.get("frozen").isJsonPrimitive() && o.get("frozen").getAsJsonPrimitive().isBoolean())) {
            throw new TrainException(where + ": frozen must be true or false, got " + o.get("frozen"));
        }
        if (o.has("unit") && !(o.get("unit").isJsonPrimitive() && o.get("unit").getAsJsonPrimitive().isString())) {
            throw new TrainException(where + ": unit must be text, got " + o.get("unit"));
        }
    }

    private static void wholeNumber(JsonObject o, String field, String where, long min, long max, boolean required) {
        if (!o.has(field)) {
            if (required) throw new TrainException(where + ": no " + field + "; the log is damaged");
            return;
        }
        com.google.gson.JsonElement e = o.get(field);
        java.math.BigDecimal v = null;
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber()) {
            try {
                v = new java.math.BigDecimal(e.getAsJsonPrimitive().getAsString());
            } catch (NumberFormatException notANumber) {
                v = null;
            }
        }
        if (v == null || v.signum() != 0 && v.stripTrailingZeros().scale() > 0 || v.compareTo(java.math.BigDecimal.valueOf(min)) < 0
                || v.compareTo(java.math.BigDecimal.valueOf(max)) > 0) {
            throw new TrainException(where + ": " + field + " must be a whole number in [" + min + ", " + max + "], got " + e);
        }
    }

    @Override
    public void close() {
        try {
            if (writer != null) writer.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
        writer = null;
    }
}
