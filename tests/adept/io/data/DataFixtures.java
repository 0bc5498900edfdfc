package adept.io.data;

import adept.io.tokenizer.Tokenizer;
import adept.testing.TinyModel;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.zip.GZIPOutputStream;

/** Corpora and the TinyModel word-level tokenizer for the data tests. */
final class DataFixtures {
    private DataFixtures() {}

    static Tokenizer tokenizer(Path dir) throws IOException {
        Files.createDirectories(dir);
        return Tokenizer.load(TinyModel.writeTokenizer(dir));
    }

    /** count sentences of random vocabulary words (seeded), 3 to 12 words each. */
    static List<String> sentences(int count, long seed) {
        Random random = new Random(seed);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int words = 3 + random.nextInt(10);
            StringBuilder s = new StringBuilder();
            for (int w = 0; w < words; w++) {
                if (w > 0) s.append(' ');
                s.append(TinyModel.WORDS.get(random.nextInt(TinyModel.WORDS.size())));
            }
            out.add(s.toString());
        }
        return out;
    }

    /** JSON Lines {"text": ...} of texts (no quotes or backslashes in them). */
    static Path jsonl(Path file, List<String> texts) throws IOException {
        List<String> lines = new ArrayList<>();
        for (String t : texts) lines.add("{\"text\": \"" + t + "\"}");
        return Files.write(file, lines, StandardCharsets.UTF_8);
    }

    static Path gzip(Path file, String text) throws IOException {
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(file))) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        }
        return file;
    }

    /** [BOS] + tokens + [EOS] of each text, concatenated, as Tokenizer.encode gives them. */
    static long[] expected(Tokenizer tokenizer, List<String> texts) {
        List<Long> ids = new ArrayList<>();
        for (String t : texts) for (long id : tokenizer.encode(t, tokenizer.addsBosByDefault(), true)) ids.add(id);
        return ids.stream().mapToLong(Long::longValue).toArray();
    }

    static long[] all(TokenFile file) {
        long[] ids = new long[Math.toIntExact(file.tokenCount())];
        file.copyTokens(0, ids.length, ids, 0);
        return ids;
    }
}
