package adept.io.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import adept.io.tokenizer.Tokenizer;
import adept.testing.TinyModel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The padding id and the vocabulary check every command shares (probe once padded with ids the model lacks). */
class ExamplesTest {
    private static Tokenizer tokenizerWith(Path dir, String config) throws Exception {
        TinyModel.writeTokenizer(Files.createDirectories(dir));
        Files.writeString(dir.resolve("tokenizer_config.json"), config, StandardCharsets.UTF_8);
        return Tokenizer.load(dir);
    }

    @Test
    void paddingIdFallsBackToEosThenToAnIdTheModelHas(@TempDir Path dir) throws Exception {
        try (Tokenizer t = tokenizerWith(dir.resolve("pad-eos"), "{\"bos_token\": \"<bos>\", \"eos_token\": \"<eos>\", \"pad_token\": \"<eos>\"}")) {
            assertEquals(3, Examples.paddingId(t, TinyModel.VOCAB));
            assertEquals(0, Examples.paddingId(t, 3), "a pad id the model lacks would fail the embedding lookup");
        }
        try (Tokenizer t = tokenizerWith(dir.resolve("no-pad"), "{\"bos_token\": \"<bos>\", \"eos_token\": \"<eos>\"}")) {
            assertEquals(3, Examples.paddingId(t, TinyModel.VOCAB), "no pad token: eos pads");
        }
    }

    @Test
    void idsOutsideTheVocabularyNameFileAndLine() {
        List<Example> examples = List.of(new Example(new long[] {1, 2}, new boolean[2], 4), new Example(new long[] {1, 9}, new boolean[2], 7));
        Examples.requireInVocabulary(Path.of("probe.jsonl"), examples, 10);
        DataException e = assertThrows(DataException.class, () -> Examples.requireInVocabulary(Path.of("probe.jsonl"), examples, 9));
        assertTrue(e.getMessage().startsWith("probe.jsonl:7: token id 9 is outside the model's vocabulary of 9"), e.getMessage());
        e = assertThrows(DataException.class, () -> Examples.requireInVocabulary(null, 12, new long[] {-1}, 9));
        assertTrue(e.getMessage().startsWith("line 12: token id -1"), e.getMessage());
    }
}
