package adept.io.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading and special-token conventions on a tiny hand-made tokenizer.json; needs no shared data. */
class TokenizerTest {
    @TempDir
    Path dir;

    /** A word-level tokenizer: <s>=0 </s>=1 <pad>=2 hello=3 world=4 [UNK]=5 !=6; a template adding <s> ... </s>. */
    private static final String TOKENIZER_JSON = """
        {
          "version": "1.0", "truncation": null, "padding": null,
          "added_tokens": [
            {"id": 0, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 1, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 2, "content": "<pad>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
          ],
          "normalizer": null,
          "pre_tokenizer": {"type": "Whitespace"},
          "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {
              "<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
              "</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}
            }
          },
          "decoder": null,
          "model": {"type": "WordLevel", "vocab": {"<s>": 0, "</s>": 1, "<pad>": 2, "hello": 3, "world": 4, "[UNK]": 5, "!": 6}, "unk_token": "[UNK]"}
        }
        """;

    private void write(String name, String text) throws IOException {
        Files.writeString(dir.resolve(name), text, StandardCharsets.UTF_8);
    }

    @Test
    void rawEncodingAddsNothingEvenWhenThePostProcessorWould() throws IOException {
        write("tokenizer.json", TOKENIZER_JSON);
        try (Tokenizer t = Tokenizer.load(dir)) {
            assertArrayEquals(new long[] {3, 4, 6}, t.encode("hello world!"));
            assertArrayEquals(new long[] {3, 5}, t.encode("hello there"));
            assertEquals(7, t.vocabSize());
            // No tokenizer_config.json: the template decides the defaults, but there are no BOS/EOS tokens to add.
            assertTrue(t.bosId().isEmpty());
            assertEquals(0, t.eosIds().length);
            assertFalse(t.addsBosByDefault());
            assertThrows(IllegalStateException.class, () -> t.encode("hello", false, true));
        }
    }

    @Test
    void specialTokensFromTokenizerConfigAsStringsOrObjects() throws IOException {
        write("tokenizer.json", TOKENIZER_JSON);
        write("tokenizer_config.json", """
            {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": {"__type": "AddedToken", "content": "<pad>"}}
            """);
        try (Tokenizer t = Tokenizer.load(dir)) {
            assertEquals(0, t.bosId().getAsLong());
            assertEquals(1, t.eosId().getAsLong());
            assertEquals(2, t.padId().getAsLong());
            // add_bos_token/add_eos_token absent: taken from the TemplateProcessing post-processor.
            assertTrue(t.addsBosByDefault());
            assertTrue(t.addsEosByDefault());
            assertArrayEquals(new long[] {0, 3, 4, 1}, t.encode("hello world", true, true));
            assertArrayEquals(new long[] {0, 3, 4}, t.encode("hello world", true, false));
            assertEquals("hello world", t.decode(new long[] {0, 3, 4, 1}, true));
            assertEquals("<s> hello world </s>", t.decode(new long[] {0, 3, 4, 1}, false));
        }
    }

    @Test
    void explicitFlagsAndConfigJsonIds() throws IOException {
        write("tokenizer.json", TOKENIZER_JSON);
        write("tokenizer_config.json", "{\"add_bos_token\": false, \"add_eos_token\": false}");
        write("config.json", "{\"bos_token_id\": 0, \"eos_token_id\": [1, 6], \"pad_token_id\": null}");
        write("generation_config.json", "{\"eos_token_id\": [6, 5]}");
        try (Tokenizer t = Tokenizer.load(dir)) {
            assertEquals(0, t.bosId().getAsLong());
            assertEquals("<s>", t.bosToken().orElseThrow());
            assertArrayEquals(new long[] {1, 6, 5}, t.eosIds());
            assertEquals("</s>", t.eosToken().orElseThrow());
            assertTrue(t.padId().isEmpty());
            assertFalse(t.addsBosByDefault());
            assertFalse(t.addsEosByDefault());
        }
    }

    @Test
    void tokenizerConfigNullBosOverridesConfigJson() throws IOException {
        write("tokenizer.json", TOKENIZER_JSON);
        write("tokenizer_config.json", "{\"bos_token\": null, \"eos_token\": \"</s>\", \"add_bos_token\": false}");
        write("config.json", "{\"bos_token_id\": 0, \"eos_token_id\": 6}");
        try (Tokenizer t = Tokenizer.load(dir)) {
            assertTrue(t.bosId().isEmpty());
            assertArrayEquals(new long[] {1, 6}, t.eosIds());
            assertEquals(1, t.eosId().getAsLong());
        }
    }

    @Test
    void loadsTheFileItselfAndGzip() throws IOException {
        write("tokenizer.json", TOKENIZER_JSON);
        try (Tokenizer t = Tokenizer.load(dir.resolve("tokenizer.json"))) {
            assertArrayEquals(new long[] {4}, t.encode("world"));
        }
        Path gz = Files.createDirectory(dir.resolve("gz"));
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz.resolve("tokenizer.json.gz")))) {
            out.write(TOKENIZER_JSON.getBytes(StandardCharsets.UTF_8));
        }
        try (Tokenizer t = Tokenizer.load(gz)) {
            assertArrayEquals(new long[] {3}, t.encode("hello"));
            assertEquals(gz.resolve("tokenizer.json.gz"), t.source());
        }
    }

    @Test
    void badInputNamesTheFile() throws IOException {
        TokenizerException e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir.resolve("nowhere")));
        assertTrue(e.getMessage().contains("nowhere"), e.getMessage());

        e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("no tokenizer.json") && e.getMessage().contains(dir.toString()), e.getMessage());

        write("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}");
        e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("malformed JSON") && e.getMessage().contains("tokenizer.json"), e.getMessage());

        write("tokenizer.json", "{\"model\": {\"type\": \"NoSuchModel\", \"vocab\": {\"a\": 0}}}");
        e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());

        write("tokenizer.json", TOKENIZER_JSON);
        write("tokenizer_config.json", "{\"eos_token\": \"<eos>\"}");
        e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("tokenizer_config.json") && e.getMessage().contains("<eos>"), e.getMessage());

        write("tokenizer_config.json", "{\"eos_token\": \"</s>\",");
        e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("tokenizer_config.json"), e.getMessage());

        write("tokenizer_config.json", "{}");
        write("config.json", "{\"eos_token_id\": 99}");
        e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("99"), e.getMessage());
    }

    @Test
    void decodeRejectsUnknownIdsAndClosedTokenizers() throws IOException {
        write("tokenizer.json", TOKENIZER_JSON);
        Tokenizer t = Tokenizer.load(dir);
        assertThrows(IllegalArgumentException.class, () -> t.decode(new long[] {3, 7}));
        assertThrows(IllegalArgumentException.class, () -> t.decode(new long[] {-1}));
        t.close();
        t.close();
        assertThrows(IllegalStateException.class, () -> t.encode("hello"));
    }

    @Test
    void gpt2ConversionOfTinyFiles() throws IOException {
        // A three-token vocabulary is not a byte-level one, but the conversion itself is checked here.
        write("encoder.json", "{\"a\": 0, \"b\": 1, \"ab\": 2, \"<|endoftext|>\": 3}");
        write("vocab.bpe", "#version: 0.2\na b\n");
        String json = Gpt2Vocabulary.tokenizerJson(dir);
        assertTrue(json.contains("\"merges\":[[\"a\",\"b\"]]"), json);
        assertTrue(json.contains("\"content\":\"<|endoftext|>\""), json);
        write("vocab.bpe", "#version: 0.2\na c\n");
        TokenizerException e = assertThrows(TokenizerException.class, () -> Gpt2Vocabulary.tokenizerJson(dir));
        assertTrue(e.getMessage().contains("vocab.bpe line 2"), e.getMessage());
    }
}
