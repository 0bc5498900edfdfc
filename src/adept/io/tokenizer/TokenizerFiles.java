package adept.io.tokenizer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
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

    /** The whole file as strict UTF-8 text; a {@code .gz} name is decompressed. */
    static String readText(Path file) {
        try (InputStream raw = Files.newInputStream(file);
                InputStream in = file.getFileName().toString().endsWith(".gz") ? new GZIPInputStream(raw, 1 << 16) : raw) {
            byte[] bytes = in.readAllBytes();
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

    static JsonObject parseJsonObject(String text, Path file) {
        JsonElement e;
        try {
            e = JsonParser.parseString(text);
        } catch (JsonParseException ex) {
            throw new TokenizerException("malformed JSON in " + file + ": " + ex.getMessage(), ex);
        }
        if (!e.isJsonObject()) throw new TokenizerException("expected a JSON object in " + file);
        return e.getAsJsonObject();
    }
}
