package adept.cli;

import adept.io.checkpoint.Checkpoint;
import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;

/** A tiny model folder for CLI tests: random weights, a word-level tokenizer.json, no ../shared needed. */
final class TinyModel {
    static final List<String> WORDS = List.of("the", "a", "cat", "dog", "sat", "on", "mat", "ran", "to", "park", "is", "was", "big",
            "small", "red", "blue", "and", "or", "but", "with", "house", "tree", "sun", "moon", "day", "night", "water", "fire", "sky",
            "green", "one", "two", "three", "four", "five", "plus", "equals", "what", "how", "why", "answer", "question", "good", "bad",
            "very", "it", "he", "she", "they", "we", "you", "i", "went", "came", "saw", "ate", "food", ".", ",", "?", "!");
    static final int LAYERS = 4;

    private TinyModel() {}

    static ModelConfig config() {
        return new ModelConfig(Architecture.QWEN3, 64, 32, 48, LAYERS, 4, 2, 8, 1e-6, 10000, null, 64, false, false, false);
    }

    /** Writes config.json, model.safetensors, tokenizer.json and tokenizer_config.json into dir. */
    static void write(Path dir) throws IOException {
        try (CausalLM model = CausalLM.random(config(), 11, 0.2, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(model, dir);
        }
        StringBuilder vocab = new StringBuilder("\"<pad>\": 0, \"<eos>\": 1, \"[UNK]\": 2");
        for (int i = 0; i < WORDS.size(); i++) {
            String w = WORDS.get(i).replace("\\", "\\\\").replace("\"", "\\\"");
            vocab.append(", \"").append(w).append("\": ").append(i + 3);
        }
        String tokenizer = """
            {
              "version": "1.0",
              "truncation": null,
              "padding": null,
              "added_tokens": [
                {"id": 0, "content": "<pad>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 1, "content": "<eos>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
              ],
              "normalizer": null,
              "pre_tokenizer": {"type": "Whitespace"},
              "post_processor": null,
              "decoder": null,
              "model": {"type": "WordLevel", "vocab": {%s}, "unk_token": "[UNK]"}
            }
            """.formatted(vocab);
        Files.writeString(dir.resolve("tokenizer.json"), tokenizer, StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"<eos>\", \"pad_token\": \"<pad>\"}\n", StandardCharsets.UTF_8);
    }

    /** A small probe corpus: plain texts and instruction items of varied lengths. */
    static void writeProbe(Path file) throws IOException {
        List<String> lines = new ArrayList<>();
        String[] texts = {"the cat sat on the mat .", "a dog ran to the park and the dog was very good .", "the sun is big and the moon is small .",
                "we went to the house with the red tree .", "they ate food , and it was good !", "the sky was blue the water was green .",
                "she saw two dogs and one cat .", "fire is red and water is blue ."};
        for (String t : texts) lines.add("{\"text\": \"" + t + "\"}");
        lines.add("{\"instruction\": \"what is one plus two ?\", \"output\": \"three .\"}");
        lines.add("{\"instruction\": \"why is the sky blue ?\", \"output\": \"it is the sun and the water .\"}");
        Files.write(file, lines, StandardCharsets.UTF_8);
    }

    record Result(int exitCode, String out, String err) {}

    static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new AdeptCommand());
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int code = cli.execute(args);
        return new Result(code, out.toString(), err.toString());
    }
}
