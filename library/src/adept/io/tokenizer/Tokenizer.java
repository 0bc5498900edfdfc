package adept.io.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/**
 * A pretrained model's tokenizer: Hugging Face's {@code tokenizers} library (through DJL, whose jar bundles the native
 * library for Linux x86-64/aarch64, macOS aarch64 and Windows x86-64) running the model's {@code tokenizer.json}, plus
 * the model's BOS/EOS/PAD conventions.
 *
 * <p>{@link #encode(String)} returns the ids of the text alone: the library's post-processor is never applied, and
 * padding and truncation are disabled, so a text of any length gives all of its ids. Special tokens are added only
 * when asked for, by {@link #encode(String, boolean, boolean)}. As in Hugging Face's tokenizers, the text of an added
 * token that occurs in the input (for example {@code <|im_end|>}) is encoded as that token.
 *
 * <p>Special tokens, in order of precedence:
 *
 * <ul>
 *   <li>BOS: {@code bos_token} of {@code tokenizer_config.json} when that key is present (a string, a {@code
 *       {"content": ...}} object, or {@code null} for none); otherwise {@code bos_token_id} of {@code config.json}.
 *   <li>EOS: likewise {@code eos_token}, else the first {@code eos_token_id} of {@code config.json}, else of {@code
 *       generation_config.json}. {@link #eosIds()} is that id followed by every other {@code eos_token_id} of {@code
 *       config.json} and {@code generation_config.json} (all of them end generation).
 *   <li>PAD: {@code pad_token}, else {@code pad_token_id} of {@code config.json}.
 *   <li>Whether BOS/EOS are added by default: {@code add_bos_token}/{@code add_eos_token} of {@code
 *       tokenizer_config.json}; when absent, whether {@code tokenizer.json}'s {@code TemplateProcessing}
 *       post-processor starts (ends) its single-sequence template with the BOS (EOS) token; otherwise false.
 * </ul>
 *
 * <p>Encoding and decoding may run on several threads at once; {@link #close()} must not overlap them.
 */
public final class Tokenizer implements AutoCloseable {
    static {
        configureNativeLibrary();
    }

    private final HuggingFaceTokenizer hf;
    private final Path source;
    private final int vocabSize;
    private final Map<String, Long> tokenIds;
    private final String bosToken;
    private final String eosToken;
    private final String padToken;
    private final OptionalLong bosId;
    private final long[] eosIds;
    private final OptionalLong padId;
    private final boolean addBos;
    private final boolean addEos;
    private final int maxTokenChars;
    private volatile boolean closed;

    private Tokenizer(HuggingFaceTokenizer hf, Path source, int vocabSize, Map<String, Long> tokenIds, Special s) {
        this.hf = hf;
        this.source = source;
        this.vocabSize = vocabSize;
        this.tokenIds = tokenIds;
        this.bosToken = s.bosToken;
        this.eosToken = s.eosToken;
        this.padToken = s.padToken;
        this.bosId = s.bosId;
        this.eosIds = s.eosIds;
        this.padId = s.padId;
        this.addBos = s.addBos;
        this.addEos = s.addEos;
        int longest = 1;
        for (String token : tokenIds.keySet()) longest = Math.max(longest, token.length());
        this.maxTokenChars = longest;
    }

    /**
     * Loads the tokenizer of the model in {@code path}: a directory holding {@code tokenizer.json} (or {@code
     * tokenizer.json.gz}, or GPT-2's {@code encoder.json} + {@code vocab.bpe}, converted by {@link Gpt2Vocabulary}, whose
     * {@link Gpt2Vocabulary#tokenizerConfigJson() GPT-2 conventions} apply when there is no {@code
     * tokenizer_config.json}) and
     * optionally {@code tokenizer_config.json}, {@code config.json}, {@code generation_config.json}; or the {@code
     * tokenizer.json} file itself, with those optional files beside it.
     *
     * @throws TokenizerException naming the file when a file is missing or malformed
     */
    public static Tokenizer load(Path path) {
        Objects.requireNonNull(path, "path");
        Path dir;
        Path source;
        String json;
        boolean gpt2 = false;
        if (Files.isRegularFile(path)) {
            source = path;
            dir = path.toAbsolutePath().getParent();
            json = TokenizerFiles.readText(path);
        } else if (Files.isDirectory(path)) {
            dir = path;
            Optional<Path> file = TokenizerFiles.find(dir, "tokenizer.json");
            if (file.isPresent()) {
                source = file.get();
                json = TokenizerFiles.readText(source);
            } else if (Gpt2Vocabulary.isGpt2Dir(dir)) {
                source = dir.resolve("encoder.json");
                json = Gpt2Vocabulary.tokenizerJson(dir);
                gpt2 = true;
            } else {
                throw new TokenizerException("no tokenizer.json (or tokenizer.json.gz, or encoder.json + vocab.bpe) in " + dir);
            }
        } else {
            throw new TokenizerException("tokenizer not found: " + path);
        }

        JsonObject root = TokenizerFiles.parseJsonObject(json, source);
        Map<String, Long> ids = new HashMap<>();
        long maxId = readVocabulary(root, source, ids);
        if (maxId >= Integer.MAX_VALUE) throw new TokenizerException("malformed " + source + ": token id " + maxId + " too large");

        JsonObject tokConfig = optionalJson(dir, "tokenizer_config.json");
        if (tokConfig == null && gpt2) {
            tokConfig = TokenizerFiles.parseJsonObject(Gpt2Vocabulary.tokenizerConfigJson(), dir.resolve("tokenizer_config.json"));
        }
        JsonObject config = optionalJson(dir, "config.json");
        JsonObject genConfig = optionalJson(dir, "generation_config.json");
        Special special = new Special(root, source, ids, (int) maxId + 1, dir, tokConfig, config, genConfig);

        HuggingFaceTokenizer hf;
        try {
            hf = HuggingFaceTokenizer.newInstance(
                    new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)),
                    Map.of(
                            "addSpecialTokens", "false",
                            "truncation", "false",
                            "padding", "false",
                            "withOverflowingTokens", "false"));
        } catch (IOException | RuntimeException e) {
            throw new TokenizerException("cannot load tokenizer " + source + ": " + e.getMessage(), e);
        }
        return new Tokenizer(hf, source, (int) maxId + 1, Map.copyOf(ids), special);
    }

    /**
     * The ids of {@code text}, with no special tokens added.
     *
     * @throws TokenizerException naming the tokenizer file when the library fails on this text
     */
    public long[] encode(String text) {
        Objects.requireNonNull(text, "text");
        ensureOpen();
        Encoding e;
        try {
            e = hf.encode(text, false, false);
        } catch (RuntimeException failure) {
            // The library's own error (a tokenizer.json whose model cannot encode this text, e.g. no unk token for an
            // unknown character): the caller adds where the text came from.
            String why = failure.getMessage() != null ? failure.getMessage().strip().replace('\n', ' ') : failure.getClass().getSimpleName();
            throw new TokenizerException("tokenizer " + source + " cannot encode a text of " + text.length() + " chars: " + why, failure);
        }
        if (e.exceedMaxLength() || (e.getOverflowing() != null && e.getOverflowing().length > 0)) {
            throw new TokenizerException("tokenizer " + source + " truncated a text of " + text.length() + " chars");
        }
        return e.getIds();
    }

    /**
     * The ids of {@code text}, preceded by BOS when {@code addBos} and followed by {@link #eosId()} when {@code
     * addEos}. For the model's defaults pass {@link #addsBosByDefault()} and {@link #addsEosByDefault()}.
     *
     * @throws IllegalStateException when a token is asked for that this tokenizer lacks
     */
    public long[] encode(String text, boolean addBos, boolean addEos) {
        if (addBos && bosId.isEmpty()) throw new IllegalStateException("tokenizer " + source + " has no BOS token");
        if (addEos && eosIds.length == 0) throw new IllegalStateException("tokenizer " + source + " has no EOS token");
        long[] body = encode(text);
        int n = body.length + (addBos ? 1 : 0) + (addEos ? 1 : 0);
        if (n == body.length) return body;
        long[] out = new long[n];
        int at = 0;
        if (addBos) out[at++] = bosId.getAsLong();
        System.arraycopy(body, 0, out, at, body.length);
        if (addEos) out[n - 1] = eosIds[0];
        return out;
    }

    /** The text of {@code ids}, special tokens included. */
    public String decode(long[] ids) {
        return decode(ids, false);
    }

    /** The text of {@code ids}, leaving out special tokens (BOS, EOS, ...) when {@code skipSpecialTokens}. */
    public String decode(long[] ids, boolean skipSpecialTokens) {
        Objects.requireNonNull(ids, "ids");
        ensureOpen();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw new IllegalArgumentException("token id " + ids[i] + " at index " + i + " is outside the vocabulary [0, " + vocabSize + ")");
            }
        }
        return hf.decode(ids, skipSpecialTokens);
    }

    /** The id of a token of the vocabulary (including added tokens), given as it appears in {@code tokenizer.json}. */
    public OptionalLong tokenId(String token) {
        Long id = tokenIds.get(token);
        return id == null ? OptionalLong.empty() : OptionalLong.of(id);
    }

    /** The BOS token's id, when the tokenizer has one. */
    public OptionalLong bosId() {
        return bosId;
    }

    /** The EOS id that {@link #encode(String, boolean, boolean)} appends; the first of {@link #eosIds()}. */
    public OptionalLong eosId() {
        return eosIds.length == 0 ? OptionalLong.empty() : OptionalLong.of(eosIds[0]);
    }

    /** Every id that ends a sequence, {@link #eosId()} first; empty when there is none. */
    public long[] eosIds() {
        return eosIds.clone();
    }

    /** The padding token's id, when the tokenizer has one. */
    public OptionalLong padId() {
        return padId;
    }

    /** The BOS token's text, when set. */
    public Optional<String> bosToken() {
        return Optional.ofNullable(bosToken);
    }

    /** The EOS token's text, when set. */
    public Optional<String> eosToken() {
        return Optional.ofNullable(eosToken);
    }

    /** The padding token's text, when set. */
    public Optional<String> padToken() {
        return Optional.ofNullable(padToken);
    }

    /** One more than the largest token id, added tokens included (the model's embedding table may be larger). */
    public int vocabSize() {
        return vocabSize;
    }

    /**
     * The length, in chars, of the longest token of the vocabulary (added tokens included), as tokenizer.json spells
     * it: no token stands for more characters of text (byte-level BPE spells each byte as one char, SentencePiece a
     * space as one), which bounds a text's token count from below without tokenizing it.
     */
    public int maxTokenChars() {
        return maxTokenChars;
    }

    /** True when {@link #encode(String)} prepends BOS (tokenizer_config.json's add_bos_token). */
    public boolean addsBosByDefault() {
        return addBos;
    }

    /** True when {@link #encode(String)} appends EOS (tokenizer_config.json's add_eos_token). */
    public boolean addsEosByDefault() {
        return addEos;
    }

    /** The file the tokenizer was read from. */
    public Path source() {
        return source;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        hf.close();
    }

    @Override
    public String toString() {
        return "Tokenizer[" + source + ", vocab " + vocabSize + ", bos " + bosToken + ", eos " + eosToken + "]";
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("tokenizer " + source + " is closed");
    }

    /**
     * DJL picks a CUDA build of the tokenizers library when it sees a GPU and then downloads it, since the jar bundles
     * only CPU builds; tokenization does not use the GPU, so ask for the bundled CPU build unless the user chose
     * otherwise ({@code RUST_FLAVOR}). DJL copies the bundled library once to {@code
     * ~/.djl.ai/tokenizers/<version>-cpu-<platform>/} (or under {@code $DJL_CACHE_DIR}/{@code $ENGINE_CACHE_DIR}).
     */
    private static void configureNativeLibrary() {
        String env = System.getenv("RUST_FLAVOR");
        if ((env == null || env.isEmpty()) && System.getProperty("RUST_FLAVOR") == null) {
            System.setProperty("RUST_FLAVOR", "cpu");
        }
        // DJL probes for CUDA (CudaUtils, through JNA) to name its platform, even for the CPU flavour. In this
        // process that loads a CUDA runtime beside libtorch's (seen on an H200 with pip torch 2.11: libtorch then
        // crashes or fails with "invalid resource handle"); with ai.djl.util.cuda.fork DJL loads nothing and asks a
        // child process instead. So no order with libtorch is needed, and no CUDA context is opened here: the
        // process that chooses a device owns that.
        if (System.getProperty("ai.djl.util.cuda.fork") == null) System.setProperty("ai.djl.util.cuda.fork", "true");
    }

    private static JsonObject optionalJson(Path dir, String name) {
        Path file = dir.resolve(name);
        return Files.isRegularFile(file) ? TokenizerFiles.readJsonObject(file) : null;
    }

    /** Fills {@code ids} with every token of {@code model.vocab} and {@code added_tokens}; returns the largest id. */
    private static long readVocabulary(JsonObject root, Path source, Map<String, Long> ids) {
        if (!(root.get("model") instanceof JsonObject model)) throw new TokenizerException("malformed " + source + ": no \"model\" object");
        long max = -1;
        try {
            JsonElement vocab = model.get("vocab");
            if (vocab instanceof JsonObject v) { // BPE, WordPiece, WordLevel
                for (Map.Entry<String, JsonElement> e : v.entrySet()) {
                    long id = e.getValue().getAsLong();
                    ids.put(e.getKey(), id);
                    max = Math.max(max, id);
                }
            } else if (vocab instanceof JsonArray v) { // Unigram: [[piece, score], ...], id = index
                for (int i = 0; i < v.size(); i++) {
                    ids.put(v.get(i).getAsJsonArray().get(0).getAsString(), (long) i);
                }
                max = v.size() - 1;
            } else {
                throw new TokenizerException("malformed " + source + ": no \"model.vocab\"");
            }
            if (root.get("added_tokens") instanceof JsonArray added) {
                for (JsonElement a : added) {
                    JsonObject t = a.getAsJsonObject();
                    long id = t.get("id").getAsLong();
                    ids.put(t.get("content").getAsString(), id);
                    max = Math.max(max, id);
                }
            }
        } catch (IllegalStateException | UnsupportedOperationException | NumberFormatException | NullPointerException e) {
            throw new TokenizerException("malformed vocabulary in " + source + ": " + e.getMessage(), e);
        }
        if (max < 0) throw new TokenizerException("malformed " + source + ": empty vocabulary");
        return max;
    }

    /** The special-token conventions, resolved from the config files. */
    private static final class Special {
        String bosToken;
        String eosToken;
        String padToken;
        OptionalLong bosId = OptionalLong.empty();
        long[] eosIds;
        OptionalLong padId = OptionalLong.empty();
        boolean addBos;
        boolean addEos;

        Special(JsonObject root, Path source, Map<String, Long> ids, int vocabSize, Path dir,
                JsonObject tokConfig, JsonObject config, JsonObject genConfig) {
            Path tcFile = dir.resolve("tokenizer_config.json");
            Path cFile = dir.resolve("config.json");
            Path gFile = dir.resolve("generation_config.json");

            if (tokConfig != null && tokConfig.has("bos_token")) {
                bosToken = tokenText(tokConfig, "bos_token", tcFile);
                if (bosToken != null) bosId = OptionalLong.of(idOf(bosToken, ids, tcFile, source));
            } else {
                bosId = firstId(config, "bos_token_id", cFile, vocabSize);
                bosToken = bosId.isPresent() ? tokenOf(bosId.getAsLong(), ids) : null;
            }

            Set<Long> eos = new LinkedHashSet<>();
            if (tokConfig != null && tokConfig.has("eos_token")) {
                eosToken = tokenText(tokConfig, "eos_token", tcFile);
                if (eosToken != null) eos.add(idOf(eosToken, ids, tcFile, source));
            }
            boolean eosFromConfig = tokConfig == null || !tokConfig.has("eos_token");
            for (long id : allIds(config, "eos_token_id", cFile, vocabSize)) eos.add(id);
            for (long id : allIds(genConfig, "eos_token_id", gFile, vocabSize)) eos.add(id);
            eosIds = eos.stream().mapToLong(Long::longValue).toArray();
            if (eosFromConfig && eosIds.length > 0) eosToken = tokenOf(eosIds[0], ids);

            if (tokConfig != null && tokConfig.has("pad_token")) {
                padToken = tokenText(tokConfig, "pad_token", tcFile);
                if (padToken != null) padId = OptionalLong.of(idOf(padToken, ids, tcFile, source));
            } else {
                padId = firstId(config, "pad_token_id", cFile, vocabSize);
                padToken = padId.isPresent() ? tokenOf(padId.getAsLong(), ids) : null;
            }

            List<String> template = singleTemplate(root.get("post_processor"));
            addBos = flag(tokConfig, "add_bos_token", tcFile,
                    bosToken != null && !template.isEmpty() && template.get(0).equals(bosToken));
            addEos = flag(tokConfig, "add_eos_token", tcFile,
                    eosToken != null && !template.isEmpty() && template.get(template.size() - 1).equals(eosToken));
            if (addBos && bosId.isEmpty()) throw new TokenizerException(tcFile + ": add_bos_token is true but there is no BOS token");
            if (addEos && eosIds.length == 0) throw new TokenizerException(tcFile + ": add_eos_token is true but there is no EOS token");
        }

        /** A token given as a string, {@code {"content": "..."}} or null. */
        private static String tokenText(JsonObject o, String key, Path file) {
            JsonElement e = o.get(key);
            if (e == null || e.isJsonNull()) return null;
            if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isString()) return e.getAsString();
            if (e instanceof JsonObject t && t.get("content") instanceof JsonElement c && c.isJsonPrimitive()) return c.getAsString();
            throw new TokenizerException("malformed " + file + ": \"" + key + "\" is neither a string nor an object with \"content\"");
        }

        private static long idOf(String token, Map<String, Long> ids, Path file, Path source) {
            Long id = ids.get(token);
            if (id == null) throw new TokenizerException(file + " names token " + token + ", which is not in the vocabulary of " + source);
            return id;
        }

        private static String tokenOf(long id, Map<String, Long> ids) {
            for (Map.Entry<String, Long> e : ids.entrySet()) if (e.getValue() == id) return e.getKey();
            return null;
        }

        private static OptionalLong firstId(JsonObject o, String key, Path file, int vocabSize) {
            long[] all = allIds(o, key, file, vocabSize);
            return all.length == 0 ? OptionalLong.empty() : OptionalLong.of(all[0]);
        }

        /** An id or list of ids (null or absent: none), each checked against the vocabulary. */
        private static long[] allIds(JsonObject o, String key, Path file, int vocabSize) {
            if (o == null || o.get(key) == null || o.get(key).isJsonNull()) return new long[0];
            JsonElement e = o.get(key);
            List<JsonElement> items = new ArrayList<>();
            if (e instanceof JsonArray a) a.forEach(items::add);
            else items.add(e);
            long[] out = new long[items.size()];
            for (int i = 0; i < out.length; i++) {
                JsonElement it = items.get(i);
                if (!it.isJsonPrimitive() || !it.getAsJsonPrimitive().isNumber()) {
                    throw new TokenizerException("malformed " + file + ": \"" + key + "\" must be an integer or a list of integers");
                }
                out[i] = it.getAsLong();
                if (out[i] < 0 || out[i] >= vocabSize) {
                    throw new TokenizerException(file + ": \"" + key + "\" " + out[i] + " is outside the tokenizer's vocabulary [0, " + vocabSize + ")");
                }
            }
            return out;
        }

        private static boolean flag(JsonObject o, String key, Path file, boolean fallback) {
            if (o == null || o.get(key) == null || o.get(key).isJsonNull()) return fallback;
            JsonElement e = o.get(key);
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) throw new TokenizerException("malformed " + file + ": \"" + key + "\" must be true or false");
            return e.getAsBoolean();
        }

        /** The tokens of a TemplateProcessing "single" template ("A" for the sequence), or empty. */
        private static List<String> singleTemplate(JsonElement pp) {
            if (!(pp instanceof JsonObject p) || !(p.get("type") instanceof JsonElement t)) return List.of();
            if ("Sequence".equals(t.getAsString()) && p.get("processors") instanceof JsonArray procs) {
                for (JsonElement q : procs) {
                    List<String> r = singleTemplate(q);
                    if (!r.isEmpty()) return r;
                }
                return List.of();
            }
            if (!"TemplateProcessing".equals(t.getAsString()) || !(p.get("single") instanceof JsonArray single)) return List.of();
            List<String> out = new ArrayList<>();
            for (JsonElement piece : single) {
                if (!(piece instanceof JsonObject o)) return List.of();
                if (o.get("SpecialToken") instanceof JsonObject s && s.get("id") != null) out.add(s.get("id").getAsString());
                else out.add("A");
            }
            return out;
        }
    }
}
