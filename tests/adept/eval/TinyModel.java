package adept.eval;

import adept.io.checkpoint.Checkpoint;
import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Torch;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * A tiny random model folder for command tests: a word-level tokenizer (whitespace pre-tokenizer, no
 * decoder: decoding joins words with spaces) whose vocabulary is the model's, BOS added by default.
 */
public final class TinyModel {
    public static final long PAD = 0, UNK = 1, BOS = 2, EOS = 3;
    /** Words after the four special tokens, ids 4, 5, ... */
    public static final List<String> WORDS = List.of(
            "the", "a", "cat", "dog", "sat", "on", "mat", "and", "ran", "to", "hello", "world", "is", "was", "big", "small",
            "red", "blue", "house", "tree", "under", "over", "it", "he", "she", "they", "saw", "home", "say", "hi", ":", ".");
    public static final int VOCAB = 4 + WORDS.size();
    public static final int MAX_POSITIONS = 64;

    private TinyModel() {}

    public static ModelConfig config() {
        return new ModelConfig(Architecture.LLAMA, VOCAB, 32, 48, 2, 4, 2, 8, 1e-6, 10000, null, MAX_POSITIONS, false, false, false);
    }

    /**
     * Starts CUDA when there is a GPU, before any tokenizer loads: on the GPU machine, the tokenizers
     * native library loaded before CUDA is initialised makes later CUDA calls fail ("invalid resource handle").
     */
    /** Writes a random model (seed) with the tokenizer into dir. */
    public static Path write(Path dir, long seed) throws IOException {
        return write(dir, seed, model -> {});
    }

    /** As {@link #write(Path, long)}, letting edit change the weights before they are saved. */
    public static Path write(Path dir, long seed, Consumer<CausalLM> edit) throws IOException {
        try (CausalLM model = CausalLM.random(config(), seed, 0.1, DType.FLOAT32, Device.CPU)) {
            try (var noGrad = Torch.noGrad()) {
                edit.accept(model);
            }
            Checkpoint.save(model, dir);
        }
        Files.writeString(dir.resolve("tokenizer.json"), tokenizerJson(), StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>", "add_bos_token": true, "add_eos_token": false}
                """, StandardCharsets.UTF_8);
        return dir;
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
            org.junit.jupiter.api.Assertions.assertTrue(Torch.cudaAvailable(), "ADEPT_REQUIRE_CUDA=1 but libtorch sees no CUDA device");
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(Torch.cudaAvailable(), "no CUDA device visible to libtorch");
    }

    /** What a command run printed, and its exit code. */
    public record Run(int exit, String out, String err) {}

    /** Runs the adept command line in this process, capturing its stdout and stderr. */
    public static Run adept(String... args) {
        picocli.CommandLine cli = new picocli.CommandLine(new adept.cli.AdeptCommand());
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        cli.setOut(new java.io.PrintWriter(out, true));
        cli.setErr(new java.io.PrintWriter(err, true));
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
