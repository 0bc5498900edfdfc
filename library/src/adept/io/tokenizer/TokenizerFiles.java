package adept.io.tokenizer;

import adept.io.checkpoint.StrictJson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.zip.GZIPInputStream;

/** Reading (possibly gzip-compressed) UTF-8 text and JSON files, with errors that name the file. */
final class TokenizerFiles {
    private TokenizerFiles() {}

    /** {@code dir/name}, else {@code dir/name.gz}, else empty. */
    static Optional<Path> find(Path dir, String name) {
        Path plain = dir.resolve(name);
        if (Files.isRegularFile(plain)) return Optional.of(plain);
        Path gz = dir.resolve(name + ".gz");
        if (Files.isRegularFile(gz)) return Optional.of(gz);
        return Optional.empty();
    }

    /** The largest tokenizer file read, decompressed (the largest Hugging Face tokenizer.json files are some 30 MB). */
    static final int MAX_BYTES = 256 << 20;

    /** The whole file as strict UTF-8 text; gzip content (found by its magic bytes, whatever the name) is decompressed. */
    static String readText(Path file) {
        if (Files.exists(file) && !Files.isRegularFile(file)) throw new TokenizerException(file + ": not a regular file");
        try (InputStream raw = new java.io.BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            raw.mark(2);
            boolean gzip = raw.read() == 0x1f && raw.read() == 0x8b;
            raw.reset();
            InputStream in = gzip ? new GZIPInputStream(raw, 1 << 16) : raw;
            byte[] bytes = in.readNBytes(MAX_BYTES + 1);
            if (bytes.length > MAX_BYTES) throw new TokenizerException(file + ": larger than " + MAX_BYTES + " bytes; not a tokenizer file");
            return StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(bytes))
                    .toString();
        } catch (NoSuchFileException e) {
            throw new TokenizerException("file not found: " + file, e);
        } catch (CharacterCodingException e) {
            throw new TokenizerException("not valid UTF-8 text: " + file, e);
        } catch (IOException e) {
            throw new TokenizerException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** The file parsed as a JSON object. */
    static JsonObject readJsonObject(Path file) {
        return parseJsonObject(readText(file), file);
    }

    /** Strict JSON ({@link StrictJson}), as config.json: no comments, unquoted keys, duplicate keys or trailing data. */
    static JsonObject parseJsonObject(String text, Path file) {
        JsonElement e;
        try {
            e = StrictJson.parse(text);
        } catch (StrictJson.Malformed ex) {
            throw new TokenizerException("malformed JSON in " + file + ": " + ex.getMessage(), ex);
        }
        if (!e.isJsonObject()) throw new TokenizerException("expected a JSON object in " + file);
        return e.getAsJsonObject();
    }
}
