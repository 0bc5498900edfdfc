package adept.io.checkpoint;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeMap;
import java.util.zip.CRC32C;

/**
 * checksums.json of a folder: the size and CRC32C of every file in it, written with the folder and checked before it
 * is trusted again. A same-size change (flipped bytes in weights or optimizer state) passes every structural check of
 * a safetensors file; it does not pass this. CRC32C, not a cryptographic hash: it guards against damage, not an
 * adversary, and runs at disk speed on checkpoints of many GB.
 */
public final class Checksums {
    public static final String FILE_NAME = "checksums.json";
    static final String FORMAT = "adept.checksums/1";

    private Checksums() {}

    /** Writes dir/checksums.json over every regular file in dir (not hidden ones, not itself). */
    public static void write(Path dir) throws IOException {
        JsonObject files = new JsonObject();
        for (Path f : files(dir)) {
            JsonObject e = new JsonObject();
            e.addProperty("size", Files.size(f));
            e.addProperty("crc32c", crc32c(f));
            files.add(f.getFileName().toString(), e);
        }
        JsonObject o = new JsonObject();
        o.addProperty("format", FORMAT);
        o.add("files", files);
        FileOps.writeStringAtomically(dir.resolve(FILE_NAME), Json.PRETTY.toJson(o) + "\n");
    }

    /**
     * Checks every file listed in dir/checksums.json (and that no listed file is missing); a folder without one (written
     * before checksums were) passes. Throws a {@link CheckpointException} naming the first file that differs.
     */
    public static void verify(Path dir) {
        Path file = dir.resolve(FILE_NAME);
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) return;
        JsonObject files;
        try {
            JsonObject o = StrictJson.parse(new String(FileOps.readBounded(file, 1 << 20, "checksum list"), java.nio.charset.StandardCharsets.UTF_8))
                    .getAsJsonObject();
            if (!FORMAT.equals(o.get("format").getAsString())) throw new CheckpointException(file + ": not an adept checksum list");
            files = o.getAsJsonObject("files");
        } catch (CheckpointException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new CheckpointException(file + ": unreadable checksum list: " + e.getMessage(), e);
        }
        for (String name : new TreeMap<>(files.asMap()).keySet()) {
            Path f = dir.resolve(name);
            if (name.contains("/") || !f.normalize().getParent().equals(dir.normalize())) throw new CheckpointException(file + ": bad file name " + name);
            try {
                JsonObject e = files.getAsJsonObject(name);
                if (!Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) throw new CheckpointException(f + ": missing");
                if (Files.size(f) != e.get("size").getAsLong()) throw new CheckpointException(f + ": size differs from " + FILE_NAME);
                if (!crc32c(f).equals(e.get("crc32c").getAsString())) throw new CheckpointException(f + ": content differs from its checksum (damaged)");
            } catch (IOException e) {
                throw new CheckpointException(f + ": cannot read: " + e.getMessage(), e);
            } catch (CheckpointException e) {
                throw e;
            } catch (RuntimeException e) {
                throw new CheckpointException(file + ": entry " + name + " is malformed", e);
            }
        }
    }

    private static List<Path> files(Path dir) throws IOException {
        try (var entries = Files.list(dir)) {
            return entries.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS))
                    .filter(p -> !p.getFileName().toString().startsWith(".") && !p.getFileName().toString().equals(FILE_NAME))
                    .sorted().toList();
        }
    }

    /** Hex CRC32C of a file's bytes. */
    public static String crc32c(Path file) throws IOException {
        CRC32C crc = new CRC32C();
        byte[] buffer = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buffer)) > 0; ) crc.update(buffer, 0, n);
        }
        return HexFormat.of().toHexDigits((int) crc.getValue());
    }
}
