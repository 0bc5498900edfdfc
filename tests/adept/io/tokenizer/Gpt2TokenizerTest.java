package adept.io.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GPT-2's vocabulary (OpenAI's encoder.json + vocab.bpe, converted by {@link Gpt2Vocabulary}) run by the tokenizers
 * library must give the same ids as jtokkit's independent r50k_base implementation.
 */
class Gpt2TokenizerTest {
    private static final Encoding R50K = Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
    private static Tokenizer gpt2;

    /** Loaded by the first test that runs; every test skips without the shared GPT-2 files. */
    @BeforeEach
    void load() {
        Path dir = SharedData.require("tokenizers/gpt2");
        if (gpt2 == null) gpt2 = Tokenizer.load(dir);
    }

    @AfterAll
    static void close() {
        if (gpt2 != null) gpt2.close();
    }

    /** Token ids as jtokkit gives them, special-token text encoded as ordinary text. */
    private static long[] reference(String text) {
        return R50K.encodeOrdinary(text).boxed().stream().mapToLong(Integer::longValue).toArray();
    }

    private static void assertSameIds(String what, String text) {
        long[] expected = reference(text);
        long[] actual = gpt2.encode(text);
        if (!java.util.Arrays.equals(expected, actual)) {
            int i = 0;
            while (i < Math.min(expected.length, actual.length) && expected[i] == actual[i]) i++;
            throw new AssertionError(what + ": ids differ from jtokkit r50k_base at index " + i + " (" + expected.length
                    + " vs " + actual.length + " ids); jtokkit " + slice(expected, i) + ", tokenizers " + slice(actual, i));
        }
        assertEquals(text, gpt2.decode(actual), what + ": decode(encode(text))");
    }

    private static String slice(long[] a, int from) {
        return java.util.Arrays.toString(java.util.Arrays.copyOfRange(a, Math.max(0, from - 2), Math.min(a.length, from + 6)));
    }

    @Test
    void handPickedStrings() {
        String[] texts = {
            "Hello world",
            " leading space and trailing space ",
            "It's, they're, we've, I'm, you'll, he'd — DON'T SHOUT",
            "numbers 0 12 345 6789 3.14159 1,000,000 2024-01-31",
            "multiple   spaces\n\n\nand\ttabs\r\nand CRLF   \n",
            "def f(x):\n    return x ** 2  # square\n",
            "$\\frac{a}{b} + \\sqrt{x^2+y^2}$ ∑ ∫ ≤ ≥ ≈ π",
            "café naïve Ångström Größe São Paulo Łódź",
            "中文 日本語 한국어 Русский Ελληνικά العربية",
            "emoji 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️",
            "zero\u200bwidth nbsp\u00a0 soft\u00adhyphen e\u0301",
            "",
            " ",
            "\n",
        };
        for (String t : texts) assertSameIds("sample '" + t + "'", t);
    }

    @Test
    void endOfTextIsTheSpecialToken() {
        assertEquals(50257, gpt2.vocabSize());
        assertEquals(50256, gpt2.tokenId(Gpt2Vocabulary.END_OF_TEXT).getAsLong());
        assertArrayEquals(new long[] {50256}, gpt2.eosIds());
        assertEquals(50256, gpt2.bosId().getAsLong());
        assertTrue(!gpt2.addsBosByDefault() && !gpt2.addsEosByDefault());
        long[] ids = gpt2.encode("Hello<|endoftext|>", false, true);
        assertArrayEquals(new long[] {15496, 50256, 50256}, ids);
        assertEquals("Hello", gpt2.decode(ids, true));
    }

    @Test
    void corpusDocumentsMatchJtokkit() {
        String[] files = {
            "corpora/general_en.jsonl.gz", "corpora/math.jsonl.gz", "corpora/medical.jsonl.gz", "probe/general_probe_pt.jsonl.gz"
        };
        int perFile = 100;
        List<String> compared = new ArrayList<>();
        long ids = 0;
        for (String f : files) {
            List<JsonObject> rows = SharedData.readJsonl(SharedData.require(f));
            int step = Math.max(1, rows.size() / perFile);
            for (int line = 0, n = 0; line < rows.size() && n < perFile; line += step, n++) {
                String text = rows.get(line).get("text").getAsString();
                assertSameIds(f + " line " + line, text);
                ids += reference(text).length;
                compared.add(f + ":" + line);
            }
        }
        assertEquals(files.length * perFile, compared.size());
        System.out.println("GPT-2: " + compared.size() + " corpus documents, " + ids + " ids, identical to jtokkit r50k_base");
    }

    @Test
    void convertedFilesLoadLikeTheOriginals(@TempDir Path tmp) {
        Gpt2Vocabulary.convert(SharedData.require("tokenizers/gpt2"), tmp);
        assertTrue(Files.isRegularFile(tmp.resolve("tokenizer.json")));
        try (Tokenizer t = Tokenizer.load(tmp)) {
            String text = "The converted tokenizer.json, read back from disk.";
            assertArrayEquals(gpt2.encode(text), t.encode(text));
            assertEquals(gpt2.vocabSize(), t.vocabSize());
            assertArrayEquals(gpt2.eosIds(), t.eosIds());
        }
    }
}
