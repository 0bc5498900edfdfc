package adept.io.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.text.Normalizer;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Qwen3's real tokenizer.json run by the tokenizers library must give the ids that an independent implementation
 * (tokenizers.js, recorded by tools/tokenizer/record_qwen3_ids.sh into tests/fixtures/tokenizer/qwen3_ids.json) gives.
 */
class Qwen3TokenizerTest {
    private static final Path FIXTURE = Path.of("tests/fixtures/tokenizer/qwen3_ids.json");
    private static final long END_OF_TEXT = 151643;
    private static final long IM_START = 151644;
    private static final long IM_END = 151645;

    private static Tokenizer qwen;
    private static JsonObject fixture;

    @BeforeAll
    static void readFixture() throws IOException {
        fixture = JsonParser.parseString(Files.readString(FIXTURE)).getAsJsonObject();
    }

    /** Loaded by the first test that needs it; those tests skip without the shared Qwen3 tokenizer. */
    private static Tokenizer qwen() {
        Path dir = SharedData.require("tokenizers/qwen3");
        if (qwen == null) qwen = Tokenizer.load(dir);
        return qwen;
    }

    @AfterAll
    static void close() {
        if (qwen != null) qwen.close();
    }

    private static long[] ids(JsonElement array) {
        long[] out = new long[array.getAsJsonArray().size()];
        for (int i = 0; i < out.length; i++) out[i] = array.getAsJsonArray().get(i).getAsLong();
        return out;
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void fixtureIsSmallAndCoversTheCategories() throws IOException {
        assertTrue(Files.size(FIXTURE) < 100_000, "fixture must stay under 100 KB");
        String names = fixture.getAsJsonArray("samples").asList().stream()
                .map(s -> s.getAsJsonObject().get("name").getAsString())
                .collect(Collectors.joining(" "));
        for (String n : List.of("prose", "latex", "python", "numbers", "whitespace", "accents", "cjk", "emoji", "general_en:")) {
            assertTrue(names.contains(n), "fixture lacks a '" + n + "' sample");
        }
    }

    @Test
    void samplesMatchTokenizersJs() {
        Tokenizer qwen = qwen();
        int n = 0;
        for (JsonElement e : fixture.getAsJsonArray("samples")) {
            JsonObject s = e.getAsJsonObject();
            String text = s.get("text").getAsString();
            long[] expected = ids(s.get("ids"));
            assertArrayEquals(expected, qwen.encode(text), "sample " + s.get("name").getAsString());
            // The NFC normalizer makes decoding give the NFC form of the text.
            assertEquals(Normalizer.normalize(text, Normalizer.Form.NFC), qwen.decode(expected), "decode of sample " + s.get("name"));
            n++;
        }
        assertEquals(24, n);
    }

    @Test
    void corpusDocumentsMatchTokenizersJs() {
        Tokenizer qwen = qwen();
        Map<String, List<JsonObject>> files = new HashMap<>();
        int n = 0;
        long total = 0;
        for (JsonElement e : fixture.getAsJsonArray("documents")) {
            JsonObject d = e.getAsJsonObject();
            String file = d.get("file").getAsString();
            List<JsonObject> rows = files.computeIfAbsent(file, f -> SharedData.readJsonl(SharedData.require(f)));
            int line = d.get("line").getAsInt();
            String text = rows.get(line).get("text").getAsString();
            String where = file + " line " + line;
            assertEquals(d.get("text_sha256").getAsString(), sha256(text), where + ": the shared text changed since the fixture was recorded");
            long[] actual = qwen.encode(text);
            assertEquals(d.get("n_ids").getAsInt(), actual.length, where + ": number of ids");
            String joined = LongStream.of(actual).mapToObj(Long::toString).collect(Collectors.joining(","));
            assertEquals(d.get("ids_sha256").getAsString(), sha256(joined), where + ": ids differ from tokenizers.js");
            assertEquals(Normalizer.normalize(text, Normalizer.Form.NFC), qwen.decode(actual), where + ": decode(encode(text))");
            n++;
            total += actual.length;
        }
        assertEquals(300, n);
        System.out.println("Qwen3: " + n + " corpus documents, " + total + " ids, identical to tokenizers.js");
    }

    @Test
    void specialTokensFollowTokenizerConfig() {
        Tokenizer qwen = qwen();
        // tokenizer_config.json: bos_token null, add_bos_token false, eos_token <|im_end|>, pad_token <|endoftext|>.
        assertTrue(qwen.bosId().isEmpty());
        assertTrue(qwen.bosToken().isEmpty());
        assertFalse(qwen.addsBosByDefault());
        assertFalse(qwen.addsEosByDefault());
        assertEquals(IM_END, qwen.eosId().getAsLong());
        assertArrayEquals(new long[] {IM_END}, qwen.eosIds());
        assertEquals("<|im_end|>", qwen.eosToken().orElseThrow());
        assertEquals(END_OF_TEXT, qwen.padId().getAsLong());
        assertEquals(IM_START, qwen.tokenId("<|im_start|>").getAsLong());
        assertEquals(151669, qwen.vocabSize());

        long[] plain = qwen.encode("Hello world");
        assertArrayEquals(new long[] {9707, 1879}, plain);
        assertArrayEquals(plain, qwen.encode("Hello world", false, false));
        assertArrayEquals(new long[] {9707, 1879, IM_END}, qwen.encode("Hello world", false, true));
        assertThrows(IllegalStateException.class, () -> qwen.encode("Hello world", true, false));

        long[] chat = qwen.encode("<|im_start|>user\nHi<|im_end|>");
        assertEquals(IM_START, chat[0]);
        assertEquals(IM_END, chat[chat.length - 1]);
        assertEquals("<|im_start|>user\nHi<|im_end|>", qwen.decode(chat));
        assertEquals("user\nHi", qwen.decode(chat, true));
    }

    @Test
    void longTextIsNeitherTruncatedNorPadded() {
        Tokenizer qwen = qwen();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 20_000; i++) sb.append("Paragraph ").append(i).append(": the quick brown fox.\n");
        String text = sb.toString();
        long[] ids = qwen.encode(text);
        assertTrue(ids.length > 200_000, "got " + ids.length + " ids");
        assertEquals(text, qwen.decode(ids));
        assertEquals(0, qwen.encode("").length);
    }
}
