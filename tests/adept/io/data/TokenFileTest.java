package adept.io.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import adept.io.tokenizer.Tokenizer;
import adept.testing.TinyModel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenFileTest {
    @TempDir
    static Path tokenizerDir;
    static Tokenizer tokenizer;

    @TempDir
    Path dir;

    @BeforeAll
    static void loadTokenizer() throws IOException {
        tokenizer = DataFixtures.tokenizer(tokenizerDir);
    }

    @AfterAll
    static void closeTokenizer() {
        tokenizer.close();
    }

    private TokenFile build(Path corpus) {
        return TokenFile.build(corpus, tokenizer, tokenizerDir, dir.resolve("cache"), null);
    }

    @Test
    void documentsArePackedWithBosAndEos() throws IOException {
        List<String> texts = List.of("the cat sat on the mat .", "hello world", "a dog ran to the park");
        Path corpus = DataFixtures.jsonl(dir.resolve("c.jsonl"), texts);
        try (TokenFile file = build(corpus)) {
            assertFalse(file.reused());
            assertEquals(3, file.documentCount());
            long[] expected = DataFixtures.expected(tokenizer, texts);
            assertArrayEquals(expected, DataFixtures.all(file));
            // Independently of Tokenizer.encode: BOS words EOS per document.
            assertEquals(TinyModel.BOS, file.token(0));
            assertEquals(TinyModel.id("the"), file.token(1));
            assertEquals(TinyModel.EOS, file.token(TinyModel.idsWithBos(texts.get(0)).length));
            assertEquals(TinyModel.BOS, file.token(TinyModel.idsWithBos(texts.get(0)).length + 1));
            assertEquals(TinyModel.EOS, file.token(file.tokenCount() - 1));
            assertEquals(4 * file.tokenCount(), Files.size(file.binFile()));
            assertThrows(IndexOutOfBoundsException.class, () -> file.token(file.tokenCount()));
        }
    }

    @Test
    void gzipIsDetectedByContent() throws IOException {
        List<String> texts = List.of("the sun is big", "the moon is small");
        Path gzText = DataFixtures.gzip(dir.resolve("corpus.txt"), String.join("\n", texts) + "\n");
        Path plain = Files.writeString(dir.resolve("plain.md"), String.join("\n", texts) + "\n");
        Path jsonl = DataFixtures.jsonl(dir.resolve("corpus.json"), texts);
        try (TokenFile fromGz = build(gzText); TokenFile fromPlain = build(plain); TokenFile fromJsonl = build(jsonl)) {
            assertEquals(1, fromGz.documentCount());
            assertArrayEquals(DataFixtures.all(fromPlain), DataFixtures.all(fromGz));
            assertArrayEquals(DataFixtures.expected(tokenizer, List.of(String.join("\n", texts) + "\n")), DataFixtures.all(fromGz));
            assertEquals(2, fromJsonl.documentCount());
            assertArrayEquals(DataFixtures.expected(tokenizer, texts), DataFixtures.all(fromJsonl));
        }
    }

    @Test
    void cacheIsReusedWithoutRetokenizingAndRebuiltWhenTheCorpusChanges() throws IOException {
        Path corpus = DataFixtures.jsonl(dir.resolve("c.jsonl"), DataFixtures.sentences(50, 1));
        List<Long> progress = new ArrayList<>();
        long[] first;
        Path bin;
        try (TokenFile file = TokenFile.build(corpus, tokenizer, tokenizerDir, dir.resolve("cache"), progress::add)) {
            assertFalse(file.reused());
            first = DataFixtures.all(file);
            bin = file.binFile();
        }
        assertEquals(50, progress.size());
        for (int i = 1; i < progress.size(); i++) assertTrue(progress.get(i) >= progress.get(i - 1));
        assertEquals(Files.size(corpus), progress.getLast());
        FileTime written = Files.getLastModifiedTime(bin);

        progress.clear();
        try (TokenFile again = TokenFile.build(corpus, tokenizer, tokenizerDir, dir.resolve("cache"), progress::add)) {
            assertTrue(again.reused());
            assertEquals(bin, again.binFile());
            assertArrayEquals(first, DataFixtures.all(again));
            assertEquals(50, again.documentCount());
        }
        assertTrue(progress.isEmpty(), "reused: the corpus is not read again");
        assertEquals(written, Files.getLastModifiedTime(bin));

        try (TokenFile opened = TokenFile.open(bin)) {
            assertArrayEquals(first, DataFixtures.all(opened));
        }

        DataFixtures.jsonl(corpus, DataFixtures.sentences(50, 2));
        Files.setLastModifiedTime(corpus, FileTime.fromMillis(Files.getLastModifiedTime(corpus).toMillis() + 5000));
        try (TokenFile changed = build(corpus)) {
            assertFalse(changed.reused());
            assertFalse(changed.binFile().equals(bin), "a new key");
            assertArrayEquals(DataFixtures.expected(tokenizer, DataFixtures.sentences(50, 2)), DataFixtures.all(changed));
        }
    }

    @Test
    void aGarbledMetaOrAWrongSizeBinIsRebuiltNeverTrusted() throws IOException {
        List<String> texts = DataFixtures.sentences(20, 3);
        Path corpus = DataFixtures.jsonl(dir.resolve("c.jsonl"), texts);
        long[] expected = DataFixtures.expected(tokenizer, texts);
        Path bin;
        try (TokenFile file = build(corpus)) {
            bin = file.binFile();
        }
        Path json = bin.resolveSibling(bin.getFileName().toString().replace(".bin", ".json"));
        String meta = Files.readString(json);
        assertTrue(meta.contains("\"tokenizer_fingerprint\"") && meta.contains("\"format_version\": " + TokenFile.FORMAT_VERSION), meta);

        Files.writeString(json, meta.substring(0, meta.length() / 2));
        try (TokenFile file = build(corpus)) {
            assertFalse(file.reused(), "truncated meta");
            assertArrayEquals(expected, DataFixtures.all(file));
        }
        Files.writeString(json, meta.replaceFirst("\"tokens\": \\d+", "\"tokens\": 3"));
        try (TokenFile file = build(corpus)) {
            assertFalse(file.reused(), "meta whose token count does not match the bin");
            assertArrayEquals(expected, DataFixtures.all(file));
        }
        Files.write(bin, new byte[] {1, 2, 3, 4}, StandardOpenOption.APPEND);
        try (TokenFile file = build(corpus)) {
            assertFalse(file.reused(), "bin too long");
            assertArrayEquals(expected, DataFixtures.all(file));
        }
        try (var channel = java.nio.channels.FileChannel.open(bin, StandardOpenOption.WRITE)) {
            channel.truncate(40);
        }
        assertThrows(DataException.class, () -> TokenFile.open(bin));
        try (TokenFile file = build(corpus)) {
            assertFalse(file.reused(), "bin truncated");
            assertArrayEquals(expected, DataFixtures.all(file));
        }
        try (TokenFile file = build(corpus)) {
            assertTrue(file.reused());
        }
    }

    @Test
    void aLeftoverTemporaryFileIsIgnoredAndRemoved() throws IOException {
        Path corpus = DataFixtures.jsonl(dir.resolve("c.jsonl"), DataFixtures.sentences(5, 4));
        Path bin;
        try (TokenFile file = build(corpus)) {
            bin = file.binFile();
        }
        Files.delete(bin);
        Path temp = bin.resolveSibling("." + bin.getFileName() + ".12345.tmp");
        Files.write(temp, new byte[] {9, 9, 9});
        try (TokenFile file = build(corpus)) {
            assertFalse(file.reused());
            assertArrayEquals(DataFixtures.expected(tokenizer, DataFixtures.sentences(5, 4)), DataFixtures.all(file));
        }
        assertFalse(Files.exists(temp));
        try (Stream<Path> files = Files.list(dir.resolve("cache"))) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".tmp")));
        }
    }

    @Test
    void plainTextLargerThanAPieceTokenizesAsOneText() throws IOException {
        StringBuilder text = new StringBuilder();
        List<String> sentences = DataFixtures.sentences(40000, 5);
        for (int i = 0; text.length() < 300 << 10; i++) text.append(sentences.get(i)).append(i % 3 == 0 ? "\n\n" : "\n");
        Path corpus = Files.writeString(dir.resolve("big.txt"), text, StandardCharsets.UTF_8);
        try (TokenFile file = build(corpus)) {
            assertEquals(1, file.documentCount());
            assertArrayEquals(tokenizer.encode(text.toString(), true, true), DataFixtures.all(file));
        }
    }

    @Test
    void aTokenizerWithoutEosIsAnErrorNamingItsFolder() throws IOException {
        Path noEos = Files.createDirectories(dir.resolve("no-eos"));
        TinyModel.writeTokenizer(noEos);
        Files.writeString(noEos.resolve("tokenizer_config.json"), "{\"bos_token\": \"<bos>\", \"eos_token\": null, \"add_bos_token\": true}");
        Path corpus = DataFixtures.jsonl(dir.resolve("c.jsonl"), List.of("the cat"));
        try (Tokenizer t = Tokenizer.load(noEos)) {
            String message = assertThrows(DataException.class, () -> TokenFile.build(corpus, t, noEos, dir.resolve("cache"), null)).getMessage();
            assertTrue(message.startsWith(noEos + ": ") && message.contains("EOS"), message);
        }
    }

    @Test
    void theTokenizerIsPartOfTheKey() throws IOException {
        Path other = Files.createDirectories(dir.resolve("other"));
        TinyModel.writeTokenizer(other);
        Files.writeString(other.resolve("tokenizer_config.json"), "{\"bos_token\": \"<bos>\", \"eos_token\": \"<eos>\", \"add_bos_token\": false}");
        Path corpus = DataFixtures.jsonl(dir.resolve("c.jsonl"), List.of("the cat", "a dog"));
        try (Tokenizer noBos = Tokenizer.load(other);
                TokenFile withBos = build(corpus);
                TokenFile without = TokenFile.build(corpus, noBos, other, dir.resolve("cache"), null)) {
            assertFalse(without.reused());
            assertFalse(withBos.binFile().equals(without.binFile()));
            assertArrayEquals(new long[] {TinyModel.id("the"), TinyModel.id("cat"), TinyModel.EOS, TinyModel.id("a"), TinyModel.id("dog"), TinyModel.EOS},
                    DataFixtures.all(without));
        }
    }

    @Test
    void corpusErrorsPropagateAndLeaveNoFiles() throws IOException {
        Path corpus = Files.writeString(dir.resolve("c.jsonl"), "{\"text\": \"the cat\"}\n{\"text\": \"a\"}\n{\"text\": oops}\n");
        String message = assertThrows(DataException.class, () -> build(corpus)).getMessage();
        assertTrue(message.startsWith(corpus + ":3: malformed JSON"), message);
        try (Stream<Path> files = Files.list(dir.resolve("cache"))) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".bin") || f.getFileName().toString().endsWith(".tmp")
                    || f.getFileName().toString().endsWith(".json")));
        }
        Path empty = Files.writeString(dir.resolve("empty.jsonl"), "\n");
        assertEquals(empty + ": the corpus is empty", assertThrows(DataException.class, () -> build(empty)).getMessage());
    }
}
