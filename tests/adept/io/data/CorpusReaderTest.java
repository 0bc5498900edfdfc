package adept.io.data;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 9: the corpus format comes from the content, not the name; what is not a corpus is refused, not scored. */
class CorpusReaderTest {
    @TempDir
    Path tmp;

    static final String JSONL = "{\"text\": \"one\"}\n{\"text\": \"two\"}\n";

    static Path gzip(Path file, byte[] content) throws IOException {
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(file))) {
            out.write(content);
        }
        return file;
    }

    static String message(Path file) {
        return assertThrows(DataException.class, () -> CorpusReader.read(file)).getMessage();
    }

    static void assertTwoTexts(List<CorpusItem> items) {
        assertEquals(List.of(new CorpusItem.Text("one", 1), new CorpusItem.Text("two", 2)), items);
    }

    @Test
    void formatComesFromTheContentWhateverTheName() throws IOException {
        byte[] jsonl = JSONL.getBytes(StandardCharsets.UTF_8);
        assertTwoTexts(CorpusReader.read(Files.write(tmp.resolve("data.json"), jsonl)));
        assertTwoTexts(CorpusReader.read(Files.write(tmp.resolve("data.txt"), jsonl)));
        assertTwoTexts(CorpusReader.read(Files.write(tmp.resolve("data"), jsonl)));
        assertTwoTexts(CorpusReader.read(gzip(tmp.resolve("data.jsonl.GZ"), jsonl)));
        assertTwoTexts(CorpusReader.read(gzip(tmp.resolve("data.gz"), jsonl)));
        assertTwoTexts(CorpusReader.read(gzip(tmp.resolve("data.jsonl"), jsonl)));
        // Plain text, gzipped or not, is one item; a name that promises JSON Lines is then a mistake, not a plain text.
        byte[] text = "just text\n".getBytes(StandardCharsets.UTF_8);
        assertEquals(List.of(new CorpusItem.Text("just text\n", 0)), CorpusReader.read(gzip(tmp.resolve("text.gz"), text)));
        assertEquals(List.of(new CorpusItem.Text("just text\n", 0)), CorpusReader.read(Files.write(tmp.resolve("text.md"), text)));
        assertTrue(message(gzip(tmp.resolve("text.jsonl.gz"), text)).contains("named like JSON Lines"));
        assertTrue(message(Files.write(tmp.resolve("text.JSON"), text)).contains("named like JSON Lines"));
    }

    @Test
    void whatIsNotACorpusIsRefused() throws Exception {
        assertTrue(message(Files.write(tmp.resolve("empty.jsonl.gz"), new byte[0])).contains("the corpus is empty"));
        assertTrue(message(gzip(tmp.resolve("blank.jsonl.gz"), new byte[0])).contains("the corpus is empty"));
        byte[] binary = new byte[1000];
        for (int i = 0; i < binary.length; i++) binary[i] = (byte) (i * 31);
        assertTrue(message(Files.write(tmp.resolve("model.bin"), binary)).contains("binary"));
        assertTrue(message(Files.write(tmp.resolve("bad.gz"), new byte[] {0x1f, (byte) 0x8b, 1, 2, 3})).contains("gzip"));
        assertTrue(message(Path.of("/dev/zero")).contains("not a regular file"));
        Path fifo = tmp.resolve("fifo");
        Process p = new ProcessBuilder("mkfifo", fifo.toString()).start();
        if (p.waitFor() == 0) assertTrue(message(fifo).contains("not a regular file"), "a pipe (--data /dev/stdin, <(...)) is refused");
        assertTrue(message(tmp.resolve("absent.jsonl")).contains("no such file"));
    }

    @Test
    void invalidUtf8IsAnErrorNamingTheLine() throws IOException {
        byte[] bad = "{\"text\": \"ok\"}\n{\"text\": \"\u00e9\"}\n".getBytes(StandardCharsets.ISO_8859_1);
        String m = message(Files.write(tmp.resolve("latin1.jsonl"), bad));
        assertTrue(m.contains("latin1.jsonl:2") && m.contains("UTF-8"), m);
        assertTrue(message(Files.write(tmp.resolve("latin1.txt"), "caf\u00e9".getBytes(StandardCharsets.ISO_8859_1))).contains("UTF-8"));
    }

    @Test
    void overlongLineIsAnErrorNamingItBeforeItIsHeld() throws IOException {
        Path file = Files.writeString(tmp.resolve("long.jsonl"), "{\"text\": \"a\"}\n{\"text\": \"" + "x".repeat(5000) + "\"}\n");
        DataException e = assertThrows(DataException.class, () -> CorpusReader.read(file, 1000));
        assertTrue(e.getMessage().contains("long.jsonl:2") && e.getMessage().contains("longer than 1000 bytes"), e.getMessage());
        Path text = Files.writeString(tmp.resolve("long.txt"), "y".repeat(5000));
        assertTrue(assertThrows(DataException.class, () -> CorpusReader.read(text, 1000)).getMessage().contains("larger than 1000 bytes"));
    }

    @Test
    void duplicateKeysAndMalformedLinesNameTheLine() throws IOException {
        String m = message(Files.writeString(tmp.resolve("dup.jsonl"), "{\"text\": \"a\", \"text\": \"b\"}\n"));
        assertTrue(m.contains("dup.jsonl:1") && m.contains("occurs twice"), m);
        String lenient = message(Files.writeString(tmp.resolve("bad.jsonl"), "{\"text\": \"a\"}\n{text: 1}\n"));
        assertTrue(lenient.contains("bad.jsonl:2") && !lenient.contains("setStrictness"), lenient);
    }
}
