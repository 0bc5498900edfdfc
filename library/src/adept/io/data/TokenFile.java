package adept.io.data;

import adept.io.checkpoint.Checksums;
import adept.io.checkpoint.FileOps;
import adept.io.tokenizer.Tokenizer;
import com.google.gson.FieldNamingPolicy;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;
import java.util.function.LongConsumer;

/**
 * A corpus tokenized once into a cache folder, then memory-mapped: {@code tokens-<key>.bin} holds the token ids as
 * int32 little-endian, {@code tokens-<key>.json} describes it (corpus path, size, modification time, tokenizer
 * fingerprint, document and token counts, format version, corpus SHA-256, .bin CRC32C).
 *
 * <p>Each document becomes [BOS, when the tokenizer adds one by default] + its tokens + [EOS], so documents are
 * concatenated with EOS between them (as Hugging Face's run_clm does before group_texts).
 *
 * <p>key = hex SHA-256 of the format version, the SHA-256 of the corpus's bytes (its content, not its path, size or
 * time) and the {@linkplain #tokenizerFingerprint tokenizer fingerprint}: editing the corpus or changing the tokenizer
 * gives a new file, and an existing one is reused only when its .json matches the key, the .bin has 4 bytes per token
 * and the .bin's CRC32C is the one recorded when it was written (same-size damage or rewriting is caught).
 * Anything else (a garbled .json, a truncated .bin) is rebuilt, never trusted. Both files are written atomically (temp
 * file in the cache folder, fsync, rename), the .bin first and the .json last, so a killed run leaves at most a
 * temporary file, which the next build removes. A lock file ({@code tokens-<key>.lock}, left in place) serializes
 * builds of one key across processes; within one JVM, build a given corpus from one thread at a time.
 *
 * <p>Readers may run on several threads; {@link #close()} unmaps the file and must not overlap them.
 */
public final class TokenFile implements AutoCloseable {
    public static final int FORMAT_VERSION = 2;  // 2: keyed by content, the .bin's CRC32C checked on reuse
    private static final ValueLayout.OfInt INT32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping()
            .setFieldNamingPolicy(FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES).create();

    private final Path bin;
    private final Meta meta;
    private final boolean reused;
    /** Why a cached file was not reused (damaged, not matching), or null: said in the run's data line. */
    private String rebuiltBecause;
    private final Arena arena;
    private final MemorySegment tokens;

    /**
     * What the .json holds (keys in snake_case: format_version, key, corpus, corpus_size, corpus_mtime,
     * tokenizer_fingerprint, documents, tokens). corpusMtime is the FileTime as an ISO-8601 instant (full precision).
     */
    record Meta(int formatVersion, String key, String corpus, long corpusSize, String corpusMtime, String tokenizerFingerprint,
                long documents, long tokens, String corpusSha256, String binCrc32c) {}

    private TokenFile(Path bin, Meta meta, boolean reused) throws IOException {
        this.bin = bin;
        this.meta = meta;
        this.reused = reused;
        this.arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(bin, StandardOpenOption.READ)) {
            this.tokens = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * The tokens of corpus in cacheDir: reused when a matching file is there, otherwise tokenized (streaming, the
     * tokens never all in memory) and written. progressBytes, when not null, is told how many bytes of the corpus file
     * have been read so far (compressed bytes for gzip), after each piece of text.
     *
     * @param tokenizerDir the folder the tokenizer was loaded from (its files are part of the key)
     * @throws DataException naming the file (and line) when the corpus cannot be read, the tokenizer folder when it
     *     has no EOS token
     */
    public static TokenFile build(Path corpus, Tokenizer tokenizer, Path tokenizerDir, Path cacheDir, LongConsumer progressBytes) {
        if (tokenizer.eosId().isEmpty()) {
            throw new DataException(tokenizerDir + ": the tokenizer has no EOS token, needed to separate training documents");
        }
        CorpusFormat.requireRegularFile(corpus);
        try {
            Files.createDirectories(cacheDir);
            Path real = corpus.toRealPath();
            long size = Files.size(real);
            String mtime = Files.getLastModifiedTime(real).toInstant().toString();
            String fingerprint = tokenizerFingerprint(tokenizer, tokenizerDir);
            // By content: a corpus rewritten at the same size and time is another corpus; a moved one is the same.
            String content = sha256Hex(real);
            String key = sha256Hex(FORMAT_VERSION + "\n" + content + "\n" + fingerprint);
            Path bin = cacheDir.resolve("tokens-" + key + ".bin");
            Path json = metaFile(bin);
            Meta expected = new Meta(FORMAT_VERSION, key, real.toString(), size, mtime, fingerprint, -1, -1, content, null);
            try (FileChannel lockChannel = FileChannel.open(cacheDir.resolve("tokens-" + key + ".lock"),
                    StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock lock = lockChannel.lock()) {
                removeTemporaryFiles(cacheDir, key);
                Meta found = readMeta(json);
                String damage = null;
                if (found == null) {
                    if (Files.exists(json, java.nio.file.LinkOption.NOFOLLOW_LINKS)) damage = json + " is unreadable";
                    else if (Files.exists(bin, java.nio.file.LinkOption.NOFOLLOW_LINKS)) damage = bin + " has no " + json.getFileName();
                } else if (!matches(found, expected)) {
                    damage = json + " does not describe this corpus and tokenizer";
                } else if (!sizeMatches(bin, found)) {
                    damage = bin + " does not hold the " + found.tokens() + " tokens its description says";
                } else if (!found.binCrc32c().equals(Checksums.crc32c(bin))) {
                    damage = bin + " fails its CRC32C";
                } else {
                    return new TokenFile(bin, found, true);
                }
                Files.deleteIfExists(json); // the .json goes first and comes back last: never a new .bin under an old .json
                Meta written = tokenize(corpus, tokenizer, bin, expected, progressBytes);
                if (Files.size(real) != size || !Files.getLastModifiedTime(real).toInstant().toString().equals(mtime)) {
                    Files.deleteIfExists(bin);
                    throw new DataException(corpus + ": the corpus changed while it was being tokenized");
                }
                FileOps.writeStringAtomically(json, GSON.toJson(written) + "\n");
                TokenFile built = new TokenFile(bin, written, false);
                built.rebuiltBecause = damage;
                return built;
            }
        } catch (NoSuchFileException e) {
            throw new DataException(e.getFile() + ": no such file");
        } catch (IOException e) {
            throw new DataException(corpus + ": cannot build the token cache in " + cacheDir + ": " + e.getMessage(), e);
        }
    }

    /** Maps an existing .bin, checked against the .json beside it. */
    public static TokenFile open(Path bin) {
        Path json = metaFile(bin);
        Meta meta = readMeta(json);
        if (meta == null || meta.formatVersion() != FORMAT_VERSION) {
            throw new DataException(json + ": missing or unreadable token cache description (format version " + FORMAT_VERSION + ")");
        }
        if (!sizeMatches(bin, meta)) throw new DataException(bin + ": size does not match the " + meta.tokens() + " tokens of " + json);
        try {
            return new TokenFile(bin, meta, true);
        } catch (IOException e) {
            throw new DataException(bin + ": cannot map: " + e.getMessage(), e);
        }
    }

    /**
     * Hex SHA-256 over the bytes of tokenizerDir's tokenizer file(s) (tokenizer.json, or tokenizer.json.gz, or GPT-2's
     * encoder.json + vocab.bpe) and tokenizer_config.json if present, each preceded by its name, then the EOS id, the
     * BOS id and whether BOS is added by default (config.json may set the ids). tokenizerDir may also be the
     * tokenizer.json file itself.
     */
    public static String tokenizerFingerprint(Tokenizer tokenizer, Path tokenizerDir) {
        try {
            return fingerprint(tokenizer, tokenizerDir);
        } catch (IOException e) {
            throw new DataException(tokenizerDir + ": cannot read the tokenizer files: " + e.getMessage(), e);
        }
    }

    private static String fingerprint(Tokenizer tokenizer, Path tokenizerDir) throws IOException {
        MessageDigest digest = sha256();
        Path dir = tokenizerDir;
        boolean any = false;
        if (Files.isRegularFile(tokenizerDir)) {
            dir = tokenizerDir.toAbsolutePath().getParent();
            update(digest, tokenizerDir.getFileName().toString(), Files.readAllBytes(tokenizerDir));
            any = true;
        }
        for (String name : new String[] {"tokenizer.json", "tokenizer.json.gz", "encoder.json", "vocab.bpe", "tokenizer_config.json"}) {
            Path file = dir.resolve(name);
            if (file.equals(tokenizerDir) || !Files.isRegularFile(file)) continue;
            update(digest, name, Files.readAllBytes(file));
            any |= !name.equals("tokenizer_config.json");
        }
        if (!any) throw new DataException(tokenizerDir + ": no tokenizer.json (or tokenizer.json.gz, encoder.json) to fingerprint");
        String ids = "eos=" + tokenizer.eosId() + " bos=" + tokenizer.bosId() + " addBos=" + tokenizer.addsBosByDefault();
        digest.update(ids.getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(digest.digest());
    }

    /** Why the cached file was rebuilt instead of reused (it was damaged or did not match); empty when there was none or it was reused. */
    public java.util.Optional<String> rebuiltBecause() {
        return java.util.Optional.ofNullable(rebuiltBecause);
    }

    /** Records why this file, just tokenized, replaced a cached one (a caller that found the cached tokens wrong). */
    public void rebuiltBecauseOf(String why) {
        if (reused) throw new IllegalStateException("a reused token file was not rebuilt");
        rebuiltBecause = why;
    }

    /**
     * Closes this file and deletes it from the cache (its description first), so that the next build tokenizes the
     * corpus again: for a cached file whose tokens turned out wrong.
     */
    public void discard() {
        close();
        try {
            Files.deleteIfExists(metaFile(bin));
            Files.deleteIfExists(bin);
        } catch (IOException e) {
            throw new DataException(bin + ": cannot delete the damaged token cache: " + e.getMessage(), e);
        }
    }

    /** True when this file was found in the cache, false when it was just tokenized. */
    public boolean reused() {
        return reused;
    }

    /** The number of tokens stored. */
    public long tokenCount() {
        return meta.tokens();
    }

    /** The number of documents the tokens came from. */
    public long documentCount() {
        return meta.documents();
    }

    /** The corpus this file was made from, as recorded in its .json (real absolute path). */
    public Path corpus() {
        return Path.of(meta.corpus());
    }

    /** The memory-mapped file of int32 tokens. */
    public Path binFile() {
        return bin;
    }

    /** Token i. */
    public int token(long i) {
        Objects.checkIndex(i, meta.tokens());
        return tokens.getAtIndex(INT32_LE, i);
    }

    /** Copies tokens [start, start + count) into dest[destOffset, destOffset + count). */
    public void copyTokens(long start, int count, long[] dest, int destOffset) {
        Objects.checkFromIndexSize(start, count, meta.tokens());
        Objects.checkFromIndexSize(destOffset, count, dest.length);
        for (int k = 0; k < count; k++) dest[destOffset + k] = tokens.getAtIndex(INT32_LE, start + k);
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }

    @Override
    public String toString() {
        return bin + " (" + meta.tokens() + " tokens, " + meta.documents() + " documents of " + meta.corpus() + ")";
    }

    /** Streams the documents' tokens into bin through a temporary file; returns the filled-in meta. */
    private static Meta tokenize(Path corpus, Tokenizer tokenizer, Path bin, Meta expected, LongConsumer progress) throws IOException {
        boolean bos = tokenizer.addsBosByDefault();
        long bosId = bos ? tokenizer.bosId().orElseThrow() : -1;
        long eosId = tokenizer.eosId().orElseThrow();
        long[] counts = new long[2]; // documents, tokens: set inside the writer
        try (TrainingDocuments documents = TrainingDocuments.open(corpus)) {
            FileOps.writeAtomically(bin, channel -> {
                OutputStream out = new BufferedOutputStream(Channels.newOutputStream(channel), 1 << 20);
                byte[] bytes = new byte[4 << 10];
                for (TrainingDocuments.Piece piece; (piece = documents.next()) != null; ) {
                    long[] ids;
                    try {
                        ids = tokenizer.encode(piece.text());
                    } catch (adept.io.tokenizer.TokenizerException e) {
                        throw new DataException(corpus + ":" + piece.line() + ": " + e.getMessage(), e);
                    }
                    if (piece.startsDocument() && bos) counts[1] += write(out, new long[] {bosId}, bytes, corpus, piece);
                    counts[1] += write(out, ids, bytes, corpus, piece);
                    if (piece.endsDocument()) counts[1] += write(out, new long[] {eosId}, bytes, corpus, piece);
                    if (progress != null) progress.accept(documents.bytesRead());
                }
                out.flush(); // not close: writeAtomically fsyncs and closes the channel
                counts[0] = documents.documentCount();
            });
        }
        if (counts[0] == 0) {
            Files.deleteIfExists(bin);
            throw new DataException(corpus + ": the corpus is empty");
        }
        return new Meta(FORMAT_VERSION, expected.key(), expected.corpus(), expected.corpusSize(), expected.corpusMtime(),
                expected.tokenizerFingerprint(), counts[0], counts[1], expected.corpusSha256(), Checksums.crc32c(bin));
    }

    /** Writes ids as int32 little-endian through a reusable byte buffer; returns how many were written. */
    private static long write(OutputStream out, long[] ids, byte[] bytes, Path corpus, TrainingDocuments.Piece piece) throws IOException {
        int n = 0;
        for (long id : ids) {
            if (id < 0 || id > Integer.MAX_VALUE) throw new DataException(corpus + ":" + piece.line() + ": token id " + id + " does not fit int32");
            int v = (int) id;
            bytes[n++] = (byte) v;
            bytes[n++] = (byte) (v >>> 8);
            bytes[n++] = (byte) (v >>> 16);
            bytes[n++] = (byte) (v >>> 24);
            if (n == bytes.length) {
                out.write(bytes, 0, n);
                n = 0;
            }
        }
        out.write(bytes, 0, n);
        return ids.length;
    }

    private static Path metaFile(Path bin) {
        String name = bin.getFileName().toString();
        String stem = name.endsWith(".bin") ? name.substring(0, name.length() - 4) : name;
        return bin.resolveSibling(stem + ".json");
    }

    /** The .json, or null when it is missing, unreadable or malformed in any way (then it is rebuilt, never trusted). */
    private static Meta readMeta(Path json) {
        try {
            JsonObject o = JsonParser.parseString(Files.readString(json, StandardCharsets.UTF_8)).getAsJsonObject();
            Meta m = new Meta(o.get("format_version").getAsInt(), o.get("key").getAsString(), o.get("corpus").getAsString(),
                    o.get("corpus_size").getAsLong(), o.get("corpus_mtime").getAsString(), o.get("tokenizer_fingerprint").getAsString(),
                    o.get("documents").getAsLong(), o.get("tokens").getAsLong(), o.get("corpus_sha256").getAsString(),
                    o.get("bin_crc32c").getAsString());
            return m.documents() > 0 && m.tokens() > 0 ? m : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static boolean matches(Meta found, Meta expected) {
        return found.formatVersion() == expected.formatVersion() && found.key().equals(expected.key())
                && found.corpusSha256().equals(expected.corpusSha256()) && found.corpusSize() == expected.corpusSize()
                && found.tokenizerFingerprint().equals(expected.tokenizerFingerprint());
    }

    private static boolean sizeMatches(Path bin, Meta meta) {
        try {
            return Files.isRegularFile(bin) && Files.size(bin) == 4 * meta.tokens();
        } catch (IOException e) {
            return false;
        }
    }

    /** Temporary files FileOps left for this key when a run was killed (".tokens-KEY.bin.RANDOM.tmp"). */
    private static void removeTemporaryFiles(Path cacheDir, String key) throws IOException {
        try (DirectoryStream<Path> temps = Files.newDirectoryStream(cacheDir, ".tokens-" + key + ".*.tmp")) {
            for (Path temp : temps) Files.deleteIfExists(temp);
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("no SHA-256 in this JVM", e);
        }
    }

    private static void update(MessageDigest digest, String name, byte[] bytes) {
        digest.update((name + "\n" + bytes.length + "\n").getBytes(StandardCharsets.UTF_8));
        digest.update(bytes);
    }

    /** Hex SHA-256 of a file's bytes, streamed. */
    private static String sha256Hex(Path file) throws IOException {
        MessageDigest digest = sha256();
        byte[] buffer = new byte[1 << 20];
        try (java.io.InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buffer)) > 0; ) digest.update(buffer, 0, n);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static String sha256Hex(String text) {
        return HexFormat.of().formatHex(sha256().digest(text.getBytes(StandardCharsets.UTF_8)));
    }
}
