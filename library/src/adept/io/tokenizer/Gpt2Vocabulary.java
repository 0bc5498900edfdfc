package adept.io.tokenizer;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Converts GPT-2's original vocabulary files (OpenAI's {@code encoder.json} and {@code vocab.bpe}, optionally
 * gzip-compressed) into the equivalent Hugging Face {@code tokenizer.json}: a byte-level BPE with GPT-2's split
 * regex, no normalizer, and {@code <|endoftext|>} as the only added (special) token. This is a format conversion;
 * tokenization itself is done by the {@code tokenizers} library.
 */
public final class Gpt2Vocabulary {
    /** GPT-2's only special token, and its id in {@code encoder.json}. */
    public static final String END_OF_TEXT = "<|endoftext|>";

    private Gpt2Vocabulary() {}

    /** True when {@code dir} holds {@code encoder.json} and {@code vocab.bpe} (each possibly {@code .gz}). */
    public static boolean isGpt2Dir(Path dir) {
        return TokenizerFiles.find(dir, "encoder.json").isPresent() && TokenizerFiles.find(dir, "vocab.bpe").isPresent();
    }

    /** The {@code tokenizer.json} text equivalent to {@code dir}'s {@code encoder.json} + {@code vocab.bpe}. */
    public static String tokenizerJson(Path dir) {
        Path encoder = TokenizerFiles.find(dir, "encoder.json")
                .orElseThrow(() -> new TokenizerException("no encoder.json(.gz) in " + dir));
        Path merges = TokenizerFiles.find(dir, "vocab.bpe")
                .orElseThrow(() -> new TokenizerException("no vocab.bpe(.gz) in " + dir));
        return tokenizerJson(encoder, merges);
    }

    /** The {@code tokenizer.json} text equivalent to the given {@code encoder.json} and {@code vocab.bpe}. */
    public static String tokenizerJson(Path encoderJson, Path vocabBpe) {
        JsonObject vocab = TokenizerFiles.readJsonObject(encoderJson);
        for (Map.Entry<String, JsonElement> e : vocab.entrySet()) {
            JsonElement v = e.getValue();
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber()) {
                throw new TokenizerException("malformed " + encoderJson + ": id of token " + e.getKey() + " is not a number");
            }
        }
        JsonElement eot = vocab.get(END_OF_TEXT);
        if (eot == null) throw new TokenizerException("malformed " + encoderJson + ": no " + END_OF_TEXT + " token");

        JsonArray merges = new JsonArray();
        String[] lines = TokenizerFiles.readText(vocabBpe).split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].endsWith("\r") ? lines[i].substring(0, lines[i].length() - 1) : lines[i];
            if (line.isEmpty() || (i == 0 && line.startsWith("#version"))) continue;
            String[] parts = line.split(" ", -1);
            if (parts.length != 2 || parts[0].isEmpty() || parts[1].isEmpty()) {
                throw new TokenizerException("malformed " + vocabBpe + " line " + (i + 1) + ": expected two symbols separated by one space");
            }
            if (!vocab.has(parts[0]) || !vocab.has(parts[1]) || !vocab.has(parts[0] + parts[1])) {
                throw new TokenizerException("malformed " + vocabBpe + " line " + (i + 1) + ": merge '" + line + "' uses a token missing from " + encoderJson);
            }
            JsonArray pair = new JsonArray(2);
            pair.add(parts[0]);
            pair.add(parts[1]);
            merges.add(pair);
        }

        JsonObject added = new JsonObject();
        added.addProperty("id", eot.getAsLong());
        added.addProperty("content", END_OF_TEXT);
        added.addProperty("single_word", false);
        added.addProperty("lstrip", false);
        added.addProperty("rstrip", false);
        added.addProperty("normalized", false);
        added.addProperty("special", true);
        JsonArray addedTokens = new JsonArray();
        addedTokens.add(added);

        JsonObject model = new JsonObject();
        model.addProperty("type", "BPE");
        model.add("dropout", JsonNull.INSTANCE);
        model.add("unk_token", JsonNull.INSTANCE);
        model.addProperty("continuing_subword_prefix", "");
        model.addProperty("end_of_word_suffix", "");
        model.addProperty("fuse_unk", false);
        model.addProperty("byte_fallback", false);
        model.addProperty("ignore_merges", false);
        model.add("vocab", vocab);
        model.add("merges", merges);

        JsonObject root = new JsonObject();
        root.addProperty("version", "1.0");
        root.add("truncation", JsonNull.INSTANCE);
        root.add("padding", JsonNull.INSTANCE);
        root.add("added_tokens", addedTokens);
        root.add("normalizer", JsonNull.INSTANCE);
        root.add("pre_tokenizer", byteLevel());
        root.add("post_processor", byteLevel());
        root.add("decoder", byteLevel());
        root.add("model", model);
        return new GsonBuilder().disableHtmlEscaping().serializeNulls().create().toJson(root);
    }

    /** The matching {@code tokenizer_config.json}: {@code <|endoftext|>} is BOS, EOS and UNK, none added by default. */
    public static String tokenizerConfigJson() {
        JsonObject c = new JsonObject();
        c.addProperty("add_bos_token", false);
        c.addProperty("add_eos_token", false);
        c.addProperty("add_prefix_space", false);
        c.addProperty("bos_token", END_OF_TEXT);
        c.addProperty("eos_token", END_OF_TEXT);
        c.addProperty("unk_token", END_OF_TEXT);
        c.addProperty("model_max_length", 1024);
        c.addProperty("tokenizer_class", "GPT2Tokenizer");
        return new GsonBuilder().setPrettyPrinting().create().toJson(c);
    }

    /** Writes {@code tokenizer.json} and {@code tokenizer_config.json} for GPT-2's files in {@code gpt2Dir} into {@code outDir}. */
    public static void convert(Path gpt2Dir, Path outDir) {
        String json = tokenizerJson(gpt2Dir);
        try {
            Files.createDirectories(outDir);
            Files.writeString(outDir.resolve("tokenizer.json"), json, StandardCharsets.UTF_8);
            Files.writeString(outDir.resolve("tokenizer_config.json"), tokenizerConfigJson(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new TokenizerException("cannot write tokenizer files to " + outDir + ": " + e.getMessage(), e);
        }
    }

    /** GPT-2's byte-to-unicode mapping and split regex ({@code use_regex}), no leading space added. */
    private static JsonObject byteLevel() {
        JsonObject o = new JsonObject();
        o.addProperty("type", "ByteLevel");
        o.addProperty("add_prefix_space", false);
        o.addProperty("trim_offsets", true);
        o.addProperty("use_regex", true);
        return o;
    }
}
