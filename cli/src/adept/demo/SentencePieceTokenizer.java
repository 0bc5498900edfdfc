package adept.demo;

import adept.io.checkpoint.FileOps;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A SentencePiece unigram tokenizer trained with Debian's {@code spm_train} and converted to a Hugging Face
 * {@code tokenizer.json}, as transformers' {@code convert_slow_tokenizer} converts a SentencePiece model: a Unigram
 * model over the pieces and scores ({@code spm_export_vocab}), a Metaspace pre-tokenizer ("▁" for spaces, one
 * prepended) and decoder, byte fallback for characters outside the vocabulary (newlines included), and the special
 * tokens {@code <unk> <s> </s> <pad>} (ids 0-3). {@code tokenizer_config.json} makes {@code <s>} the BOS token added
 * before every text, {@code </s>} the EOS that joins documents, {@code <pad>} the padding.
 *
 * <p>SentencePiece runs with the identity normaliser and without collapsing whitespace, so the Hugging Face side needs
 * no normaliser and both encode the same text the same way.
 */
public final class SentencePieceTokenizer {
    public static final String UNK = "<unk>";
    public static final String BOS = "<s>";
    public static final String EOS = "</s>";
    public static final String PAD = "<pad>";

    private SentencePieceTokenizer() {}

    /** The spm_train command line for this input, vocabulary size and output prefix. */
    public static List<String> trainCommand(Path input, Path prefix, int vocabSize, int threads) {
        return List.of("spm_train", "--input=" + input, "--model_prefix=" + prefix, "--vocab_size=" + vocabSize, "--model_type=unigram",
                "--character_coverage=0.9995", "--byte_fallback=true", "--split_digits=true", "--normalization_rule_name=identity",
                "--remove_extra_whitespaces=false", "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=3",
                "--unk_piece=" + UNK, "--bos_piece=" + BOS, "--eos_piece=" + EOS, "--pad_piece=" + PAD, "--hard_vocab_limit=false",
                "--input_sentence_size=2000000", "--shuffle_input_sentence=true", "--max_sentence_length=16384",
                "--num_threads=" + threads, "--minloglevel=1");
    }

    /**
     * Trains on input (one sentence or paragraph per line) and writes tokenizer.json, tokenizer_config.json and
     * spm.model / spm.vocab into dir. Returns the vocabulary size (SentencePiece may stop below the one asked for
     * on a small corpus).
     */
    public static int train(Path input, Path dir, int vocabSize) {
        try {
            Files.createDirectories(dir);
            Path prefix = dir.resolve("spm");
            int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
            DebianText.run(trainCommand(input, prefix, vocabSize, threads), dir);
            Path vocab = dir.resolve("spm.tsv");
            String exported = DebianText.run(List.of("spm_export_vocab", "--model=" + prefix + ".model", "--output_format=vocab"), dir);
            Files.writeString(vocab, exported, StandardCharsets.UTF_8);
            List<String[]> pieces = new ArrayList<>();
            for (String line : exported.split("\n")) {
                if (line.isEmpty()) continue;
                int tab = line.lastIndexOf('\t');
                if (tab < 0) throw new DemoException("spm_export_vocab: unexpected line " + line);
                pieces.add(new String[] {line.substring(0, tab), line.substring(tab + 1)});
            }
            writeHuggingFace(pieces, dir);
            return pieces.size();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the tokenizer into " + dir + ": " + e.getMessage(), e);
        }
    }

    /** tokenizer.json and tokenizer_config.json for the pieces (piece, score) in id order. */
    static void writeHuggingFace(List<String[]> pieces, Path dir) throws IOException {
        String[] specials = {UNK, BOS, EOS, PAD};
        for (int i = 0; i < specials.length; i++) {
            if (!pieces.get(i)[0].equals(specials[i])) throw new DemoException("SentencePiece id " + i + " is " + pieces.get(i)[0] + ", not " + specials[i]);
        }
        JsonObject root = new JsonObject();
        root.addProperty("version", "1.0");
        root.add("truncation", JsonNull.INSTANCE);
        root.add("padding", JsonNull.INSTANCE);
        JsonArray added = new JsonArray();
        for (int i = 0; i < specials.length; i++) {
            JsonObject t = new JsonObject();
            t.addProperty("id", i);
            t.addProperty("content", specials[i]);
            t.addProperty("single_word", false);
            t.addProperty("lstrip", false);
            t.addProperty("rstrip", false);
            t.addProperty("normalized", false);
            t.addProperty("special", true);
            added.add(t);
        }
        root.add("added_tokens", added);
        root.add("normalizer", JsonNull.INSTANCE);
        root.add("pre_tokenizer", metaspace());
        // <s> before each text, as Llama's tokenizer.json does (adept reads add_bos_token from tokenizer_config.json).
        JsonObject post = new JsonObject();
        post.addProperty("type", "TemplateProcessing");
        JsonArray single = new JsonArray();
        single.add(special(BOS));
        single.add(sequence("A"));
        JsonArray pair = new JsonArray();
        pair.add(special(BOS));
        pair.add(sequence("A"));
        pair.add(special(BOS));
        pair.add(sequence("B"));
        post.add("single", single);
        post.add("pair", pair);
        JsonObject specialTokens = new JsonObject();
        JsonObject bos = new JsonObject();
        bos.addProperty("id", BOS);
        JsonArray ids = new JsonArray();
        ids.add(1);
        bos.add("ids", ids);
        JsonArray tokens = new JsonArray();
        tokens.add(BOS);
        bos.add("tokens", tokens);
        specialTokens.add(BOS, bos);
        post.add("special_tokens", specialTokens);
        root.add("post_processor", post);
        JsonObject decoder = new JsonObject();
        decoder.addProperty("type", "Sequence");
        JsonArray decoders = new JsonArray();
        JsonObject byteFallback = new JsonObject();
        byteFallback.addProperty("type", "ByteFallback");
        decoders.add(byteFallback);
        decoders.add(metaspace());
        decoder.add("decoders", decoders);
        root.add("decoder", decoder);
        JsonObject model = new JsonObject();
        model.addProperty("type", "Unigram");
        model.addProperty("unk_id", 0);
        JsonArray vocab = new JsonArray();
        for (String[] p : pieces) {
            JsonArray entry = new JsonArray();
            entry.add(p[0]);
            entry.add(Double.parseDouble(p[1]));
            vocab.add(entry);
        }
        model.add("vocab", vocab);
        model.addProperty("byte_fallback", true);
        root.add("model", model);
        var gson = new GsonBuilder().disableHtmlEscaping().create();
        FileOps.writeStringAtomically(dir.resolve("tokenizer.json"), gson.toJson(root) + "\n");

        JsonObject config = new JsonObject();
        config.addProperty("tokenizer_class", "LlamaTokenizerFast");
        config.addProperty("bos_token", BOS);
        config.addProperty("eos_token", EOS);
        config.addProperty("unk_token", UNK);
        config.addProperty("pad_token", PAD);
        config.addProperty("add_bos_token", true);
        config.addProperty("add_eos_token", false);
        config.addProperty("model_max_length", 1_000_000);
        config.addProperty("clean_up_tokenization_spaces", false);
        FileOps.writeStringAtomically(dir.resolve("tokenizer_config.json"), new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(config) + "\n");
    }

    private static JsonObject metaspace() {
        JsonObject m = new JsonObject();
        m.addProperty("type", "Metaspace");
        m.addProperty("replacement", "\u2581");
        m.addProperty("prepend_scheme", "always");
        m.addProperty("split", true);
        return m;
    }

    private static JsonObject special(String token) {
        JsonObject o = new JsonObject();
        JsonObject s = new JsonObject();
        s.addProperty("id", token);
        s.addProperty("type_id", 0);
        o.add("SpecialToken", s);
        return o;
    }

    private static JsonObject sequence(String id) {
        JsonObject o = new JsonObject();
        JsonObject s = new JsonObject();
        s.addProperty("id", id);
        s.addProperty("type_id", 0);
        o.add("Sequence", s);
        return o;
    }

    /** "12,345 pieces" style summary. */
    static String describe(int size) {
        return String.format(Locale.ROOT, "%,d pieces", size);
    }
}
