package adept.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import adept.cli.AdeptCommand;
import adept.io.checkpoint.Checkpoint;
import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Torch;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import picocli.CommandLine;

/**
 * A tiny random model folder for command tests, no ../shared needed: {@value #LAYERS} layers, a word-level
 * tokenizer.json (whitespace pre-tokenizer, no decoder: decoding joins words with spaces) whose vocabulary is the
 * model's, BOS added by default; and the adept command line run in this process.
 */
public final class TinyModel {
    public static final long PAD = 0, UNK = 1, BOS = 2, EOS = 3;
    /** Words after the four special tokens, ids 4, 5, ... ("User" and "Assistant" of the chat template are not among them). */
    public static final List<String> WORDS = List.of(
            "the", "a", "cat", "dog", "sat", "on", "mat", "and", "ran", "to", "hello", "world", "is", "was", "big", "small",
            "red", "blue", "house", "tree", "under", "over", "it", "he", "she", "they", "saw", "home", "say", "hi", ":", ".",
            "park", "with", "sun", "moon", "day", "night", "water", "fire", "sky", "green", "one", "two", "three", "four", "five",
            "plus", "equals", "what", "how", "why", "answer", "question", "good", "bad", "very", "we", "you", "i", "went", "came",
            "ate", "food", "or", "but", ",", "?", "!");
    public static final int VOCAB = 4 + WORDS.size();
    public static final int LAYERS = 4;
    public static final int MAX_POSITIONS = 64;

    private TinyModel() {}

    /** The tiny Qwen3 model (q/k norms: 11 tensors a layer). */
    public static ModelConfig config() {
        return config(Architecture.QWEN3);
    }

    public static ModelConfig config(Architecture architecture) {
        return ModelConfig.builder(architecture).vocabSize(VOCAB).hiddenSize(32).intermediateSize(48).numHiddenLayers(LAYERS)
                .numAttentionHeads(4).numKeyValueHeads(2).headDim(8).ropeTheta(10000).maxPositionEmbeddings(MAX_POSITIONS)
                .tieWordEmbeddings(false).build();
    }

    /** Writes a random Qwen3 model (seed) with the tokenizer into dir; returns dir. */
    public static Path write(Path dir, long seed) throws IOException {
        return write(dir, Architecture.QWEN3, seed, model -> {});
    }

    public static Path write(Path dir, Architecture architecture, long seed) throws IOException {
        return write(dir, architecture, seed, model -> {});
    }

    /** As {@link #write(Path, Architecture, long)}, letting edit change the weights (without grad) before they are saved. */
    public static Path write(Path dir, Architecture architecture, long seed, Consumer<CausalLM> edit) throws IOException {
        try (CausalLM model = CausalLM.random(config(architecture), seed, 0.1, DType.FLOAT32, Device.CPU)) {
            try (var noGrad = Torch.noGrad(); Scope scope = Scope.open()) {  // owns the views edit makes
                edit.accept(model);
            }
            Checkpoint.save(model, dir);
        }
        return writeTokenizer(dir);
    }

    /** Writes only the tokenizer (tokenizer.json, tokenizer_config.json) into dir, no model (no libtorch needed); returns dir. */
    public static Path writeTokenizer(Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), tokenizerJson(), StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>", "add_bos_token": true, "add_eos_token": false}
                """, StandardCharsets.UTF_8);
        return dir;
    }

    /** Writes a small probe corpus to file: plain texts and instruction items of varied lengths (the second has 13 words). */
    public static Path writeProbe(Path file) throws IOException {
        List<String> lines = new ArrayList<>();
        String[] texts = {"the cat sat on the mat .", "a dog ran to the park and the dog was very good .", "the sun is big and the moon is small .",
                "we went to the house with the red tree .", "they ate food , and it was good !", "the sky was blue the water was green .",
                "she saw two dogs and one cat .", "fire is red and water is blue ."};
        for (String t : texts) lines.add("{\"text\": \"" + t + "\"}");
        lines.add("{\"instruction\": \"what is one plus two ?\", \"output\": \"three .\"}");
        lines.add("{\"instruction\": \"why is the sky blue ?\", \"output\": \"it is the sun and the water .\"}");
        return Files.write(file, lines, StandardCharsets.UTF_8);
    }

    /** The id of a word of {@link #WORDS}. */
    public static long id(String word) {
        int i = WORDS.indexOf(word);
        if (i < 0) throw new IllegalArgumentException("not in the vocabulary: " + word);
        return 4 + i;
    }

    /** BOS followed by the ids of the space-separated words of text. */
    public static long[] idsWithBos(String text) {
        String[] words = text.trim().split("\\s+");
        long[] ids = new long[words.length + 1];
        ids[0] = BOS;
        for (int i = 0; i < words.length; i++) ids[i + 1] = id(words[i]);
        return ids;
    }

    /** Skips the calling test without a CUDA device, unless ADEPT_REQUIRE_CUDA=1 (the GPU check), where that fails. */
    public static void assumeCuda() {
        if ("1".equals(System.getenv("ADEPT_REQUIRE_CUDA"))) {
            assertTrue(Torch.cudaAvailable(), "ADEPT_REQUIRE_CUDA=1 but libtorch sees no CUDA device");
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(Torch.cudaAvailable(), "no CUDA device visible to libtorch");
    }

    /** What a command run printed, and its exit code. */
    public record Run(int exit, String out, String err) {
        /** Asserts a user error: exit 2 and stderr exactly the one line "adept: ..." with expected in it (no stack trace). */
        public void assertUserError(String expected) {
            assertEquals(AdeptCommand.EXIT_USER_ERROR, exit, err);
            assertTrue(err.startsWith("adept: ") && err.contains(expected), "expected 'adept: ..." + expected + "...' on stderr, got: " + err);
            assertEquals(1, err.lines().count(), "one line on stderr: " + err);
        }

        /** Asserts that picocli rejected the options: exit 2, expected in the first line of stderr, then the usage help; no stack trace. */
        public void assertUsageError(String expected) {
            assertEquals(CommandLine.ExitCode.USAGE, exit, err);
            String first = err.lines().findFirst().orElse("");
            assertTrue(first.contains(expected), "expected '" + expected + "' in the first line of: " + err);
            assertTrue(first.startsWith("adept: ") && first.contains(" --help lists the options)"), "one line pointing at --help: " + err);
            assertFalse(err.contains("Usage: adept "), "no usage text after the message: " + err);
            assertFalse(err.contains("\tat ") || err.contains("Exception"), "stack trace printed: " + err);
        }
    }

    /** Runs the adept command line, as {@link AdeptCommand#main} sets it up, in this process, capturing its stdout and stderr. */
    public static Run adept(String... args) {
        CommandLine cli = AdeptCommand.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    static String tokenizerJson() {
        StringBuilder vocab = new StringBuilder("\"<pad>\": 0, \"<unk>\": 1, \"<bos>\": 2, \"<eos>\": 3");
        for (int i = 0; i < WORDS.size(); i++) vocab.append(", \"").append(WORDS.get(i)).append("\": ").append(4 + i);
        StringBuilder added = new StringBuilder();
        String[] specials = {"<pad>", "<unk>", "<bos>", "<eos>"};
        for (int i = 0; i < specials.length; i++) {
            if (i > 0) added.append(",\n");
            added.append("{\"id\": ").append(i).append(", \"content\": \"").append(specials[i])
                    .append("\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}");
        }
        return """
                {
                  "version": "1.0", "truncation": null, "padding": null,
                  "added_tokens": [%s],
                  "normalizer": null,
                  "pre_tokenizer": {"type": "Whitespace"},
                  "post_processor": null,
                  "decoder": null,
                  "model": {"type": "WordLevel", "vocab": {%s}, "unk_token": "<unk>"}
                }
                """.formatted(added, vocab);
    }
}
