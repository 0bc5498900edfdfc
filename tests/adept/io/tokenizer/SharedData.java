package adept.io.tokenizer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * The shared, read-only data fixtures ({@code ../shared/data} seen from the repository root), which a clone may lack:
 * tests that need them skip. Found through {@code -Dadept.shared.data=DIR} or {@code $ADEPT_SHARED_DATA}, else as
 * {@code shared/data} in the working directory or one of its ancestors.
 */
final class SharedData {
    private SharedData() {}

    private static final Path ROOT = locate();

    private static Path locate() {
        String given = System.getProperty("adept.shared.data", System.getenv("ADEPT_SHARED_DATA"));
        if (given != null && !given.isEmpty()) return Files.isDirectory(Path.of(given)) ? Path.of(given) : null;
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path candidate = d.resolve("shared").resolve("data");
            if (Files.isDirectory(candidate.resolve("tokenizers")) || Files.isDirectory(candidate.resolve("corpora"))) return candidate;
        }
        return null;
    }

    /** {@code shared/data/<relative>}, or the test is skipped (with a message saying what is missing). */
    static Path require(String relative) {
        assumeTrue(ROOT != null, "shared data fixtures not found (../shared/data; set -Dadept.shared.data=DIR); skipping");
        Path p = ROOT.resolve(relative);
        assumeTrue(Files.exists(p), "shared data fixture " + p + " is absent; skipping");
        return p;
    }

    /** Every row of a gzip-compressed JSON Lines file, in order. */
    static List<JsonObject> readJsonl(Path file) {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(file), 1 << 16)) {
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            List<JsonObject> rows = new ArrayList<>();
            for (String line : text.split("\n")) {
                if (!line.isEmpty()) rows.add(JsonParser.parseString(line).getAsJsonObject());
            }
            return rows;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
