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

    /** Every well-formed line with a "step" (a torn last line is skipped). */
    public static List<JsonObject> read(Path file) {
        List<JsonObject> out = new ArrayList<>();
        if (!Files.exists(file)) return out;
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (line.isBlank()) continue;
                try {
                    JsonObject o = JsonParser.parseString(line).getAsJsonObject();
                    if (o.has("step")) out.add(o);
                } catch (RuntimeException torn) {
                    // a line cut off by a kill: it will be logged again
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return out;
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
