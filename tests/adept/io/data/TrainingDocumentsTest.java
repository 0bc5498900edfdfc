package adept.io.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingDocumentsTest {
    @TempDir
    Path dir;

    private static List<TrainingDocuments.Piece> pieces(Path file) {
        List<TrainingDocuments.Piece> out = new ArrayList<>();
        try (TrainingDocuments documents = TrainingDocuments.open(file)) {
            for (TrainingDocuments.Piece p; (p = documents.next()) != null; ) out.add(p);
        }
        return out;
    }

    private String error(Path file, String content) throws IOException {
        Files.writeString(file, content, StandardCharsets.UTF_8);
        return assertThrows(DataException.class, () -> pieces(file)).getMessage();
    }

    @Test
    void formatIsDetectedByContentNotName() throws IOException {
        Path gzText = DataFixtures.gzip(dir.resolve("notes.txt"), "the cat sat\n");
        Path jsonl = DataFixtures.jsonl(dir.resolve("data.json"), List.of("the dog"));
        Path upperGz = DataFixtures.gzip(dir.resolve("DATA.GZ"), "\n\n  {\"text\": \"a\"}\n");
        Path text = Files.writeString(dir.resolve("corpus.jsonl"), "  \nplain words { here\n");
        assertEquals(new CorpusFormat(true, CorpusFormat.Kind.PLAIN_TEXT), CorpusFormat.detect(gzText));
        assertEquals(new CorpusFormat(false, CorpusFormat.Kind.JSON_LINES), CorpusFormat.detect(jsonl));
        assertEquals(new CorpusFormat(true, CorpusFormat.Kind.JSON_LINES), CorpusFormat.detect(upperGz));
        assertEquals(new CorpusFormat(false, CorpusFormat.Kind.PLAIN_TEXT), CorpusFormat.detect(text));
        assertEquals("the cat sat\n", pieces(gzText).getFirst().text());
        assertEquals("a", pieces(upperGz).getFirst().text());
        assertEquals(3, pieces(upperGz).getFirst().line());
    }

    @Test
    void jsonLinesAreOneDocumentEachSkippingBlankLines() throws IOException {
        Path file = Files.writeString(dir.resolve("c.jsonl"), "{\"text\": \"the cat\"}\n\n   \n{\"text\": \"a dog\", \"id\": 7}\r\n");
        List<TrainingDocuments.Piece> pieces = pieces(file);
        assertEquals(List.of(new TrainingDocuments.Piece("the cat", 1, true, true), new TrainingDocuments.Piece("a dog", 4, true, true)), pieces);
    }

    @Test
    void aLongDocumentComesInBoundedPartsWithTheWholeTextsTokens() throws IOException {
        // Issue 20: one 17 MB JSON Lines document took 5 GB to tokenise at once. A document of words, runs of spaces and
        // line ends; a line of plain text with a stretch of no space at all (cut anywhere, never inside a surrogate pair).
        StringBuilder text = new StringBuilder();
        for (int i = 0; text.length() < 600_000; i++) text.append(i % 97 == 0 ? "cat   sat\n" : i % 2 == 0 ? "the cat " : "sat on ");
        String oneLine = text.toString().replace("\n", " ") + "\uD83D\uDE00".repeat(200_000) + " the mat";
        Path jsonl = Files.writeString(dir.resolve("long.jsonl"), "{\"text\": \"" + text.toString().replace("\n", "\\n") + "\"}\n{\"text\": \"a dog\"}\n");
        Path plain = Files.writeString(dir.resolve("long.txt"), oneLine);
        for (Path file : List.of(jsonl, plain)) {
            List<TrainingDocuments.Piece> pieces = pieces(file);
            int parts = file == jsonl ? pieces.size() - 1 : pieces.size();
            assertTrue(parts >= 10, file + ": parts " + parts);
            StringBuilder joined = new StringBuilder();
            for (int i = 0; i < parts; i++) {
                TrainingDocuments.Piece p = pieces.get(i);
                assertTrue(p.text().length() <= TrainingDocuments.PIECE_CHARS, "bounded: " + p.text().length());
                assertEquals(i == 0, p.startsDocument());
                assertEquals(i == parts - 1, p.endsDocument());
                assertEquals(1, p.line());
                assertTrue(!Character.isLowSurrogate(p.text().charAt(0)), "never inside a surrogate pair");
                joined.append(p.text());
            }
            String expected = file == jsonl ? text.toString() : oneLine;
            assertEquals(expected, joined.toString(), file + ": the parts are the whole text");
            if (file == plain) continue;
            assertEquals(new TrainingDocuments.Piece("a dog", 2, true, true), pieces.getLast());
            try (adept.io.tokenizer.Tokenizer tokenizer = adept.io.tokenizer.Tokenizer.load(adept.testing.TinyModel.writeTokenizer(
                    Files.createDirectories(dir.resolve("tok"))))) {
                List<Long> whole = new ArrayList<>();
                for (long id : tokenizer.encode(expected, false, false)) whole.add(id);
                List<Long> inParts = new ArrayList<>();
                for (int i = 0; i < parts; i++) for (long id : tokenizer.encode(pieces.get(i).text(), false, false)) inParts.add(id);
                assertEquals(whole, inParts, file + ": tokens in parts equal the whole text's");
            }
        }
    }

    @Test
    void plainTextIsOneDocumentInPiecesCutAtLineEnds() throws IOException {
        StringBuilder text = new StringBuilder("\uFEFF");
        for (int i = 0; text.length() < 300 << 10; i++) text.append("line ").append(i).append(" of the text\n");
        text.append("last line without a newline");
        Path file = Files.writeString(dir.resolve("big.txt"), text, StandardCharsets.UTF_8);
        List<TrainingDocuments.Piece> pieces = pieces(file);
        assertTrue(pieces.size() >= 4, "pieces: " + pieces.size());
        StringBuilder joined = new StringBuilder();
        for (int i = 0; i < pieces.size(); i++) {
            TrainingDocuments.Piece p = pieces.get(i);
            assertEquals(i == 0, p.startsDocument());
            assertEquals(i == pieces.size() - 1, p.endsDocument());
            if (i < pieces.size() - 1) assertTrue(p.text().endsWith("\n"), "cut at a line end");
            joined.append(p.text());
        }
        assertEquals(text.substring(1), joined.toString(), "the pieces are the whole text, without the BOM");
        try (TrainingDocuments documents = TrainingDocuments.open(file)) {
            while (documents.next() != null) {}
            assertEquals(1, documents.documentCount());
            assertEquals(Files.size(file), documents.bytesRead());
        }
    }

    @Test
    void jsonErrorsNameTheLine() throws IOException {
        Path file = dir.resolve("bad.jsonl");
        String ok = "{\"text\": \"the cat\"}\n\n";
        String malformed = error(file, ok + "{\"text\": oops}\n");
        assertTrue(malformed.startsWith(file + ":3: malformed JSON"), malformed);
        String missing = error(file, ok + "{\"body\": \"x\"}\n");
        assertTrue(missing.startsWith(file + ":3: ") && missing.contains("\"text\""), missing);
        String number = error(file, ok + "{\"text\": 12}\n");
        assertTrue(number.startsWith(file + ":3: field \"text\" must be a string"), number);
        String array = error(file, ok + "[\"text\"]\n");
        assertTrue(array.startsWith(file + ":3: expected a JSON object"), array);
        String trailing = error(file, ok + "{\"text\": \"a\"} x\n");
        assertTrue(trailing.startsWith(file + ":3: malformed JSON"), trailing);
    }

    @Test
    void emptyCorpusIsAnError() throws IOException {
        for (String content : new String[] {"", " \n\t\n\n"}) {
            Path file = Files.writeString(dir.resolve("empty.txt"), content);
            assertEquals(file + ": the corpus is empty", assertThrows(DataException.class, () -> TrainingDocuments.open(file)).getMessage());
        }
        Path gz = DataFixtures.gzip(dir.resolve("empty.gz"), "\n\n");
        assertEquals(gz + ": the corpus is empty", assertThrows(DataException.class, () -> TrainingDocuments.open(gz)).getMessage());
    }

    @Test
    void nonRegularFilesAreRefused() throws Exception {
        String directory = assertThrows(DataException.class, () -> TrainingDocuments.open(dir)).getMessage();
        assertEquals(dir + ": is a directory, not a corpus file", directory);
        Path missing = dir.resolve("missing.txt");
        assertEquals(missing + ": no such file", assertThrows(DataException.class, () -> TrainingDocuments.open(missing)).getMessage());

        Path fifo = dir.resolve("fifo.jsonl");
        Process mkfifo;
        try {
            mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("mkfifo unavailable: " + e.getMessage());
            return;
        }
        Assumptions.assumeTrue(mkfifo.waitFor(10, TimeUnit.SECONDS) && mkfifo.exitValue() == 0, "mkfifo failed");
        String message = assertThrows(DataException.class, () -> TrainingDocuments.open(fifo)).getMessage();
        assertTrue(message.startsWith(fifo + ": not a regular file"), message);
    }

    @Test
    void binaryContentIsRefused() throws IOException {
        Path file = Files.write(dir.resolve("model.txt"), new byte[] {'t', 'h', 'e', 0, 1, 2, '\n'});
        String message = assertThrows(DataException.class, () -> TrainingDocuments.open(file)).getMessage();
        assertTrue(message.startsWith(file + ": binary content"), message);
    }

    @Test
    void invalidUtf8NamesTheLine() throws IOException {
        Path file = Files.write(dir.resolve("latin1.txt"), new byte[] {'o', 'k', '\n', 'c', 'a', 'f', (byte) 0xe9, '\n'});
        String message = assertThrows(DataException.class, () -> pieces(file)).getMessage();
        assertEquals(file + ":2: not valid UTF-8 text", message);
    }

    @Test
    void overlongLinesAreAnErrorNamingTheLine() throws IOException {
        Path file = Files.writeString(dir.resolve("long.jsonl"), "{\"text\": \"a\"}\n{\"text\": \"" + "x".repeat(5000) + "\"}\n");
        try (TrainingDocuments documents = TrainingDocuments.open(file, 1000)) {
            assertEquals("a", documents.next().text());
            String message = assertThrows(DataException.class, documents::next).getMessage();
            assertEquals(file + ":2: line longer than 1000 bytes", message);
        }
        try (TrainingDocuments documents = TrainingDocuments.open(file, 6000)) {
            assertEquals("a", documents.next().text());
            assertEquals(5000, documents.next().text().length());
            assertNull(documents.next());
            assertEquals(2, documents.documentCount());
        }
    }
}
