package adept.tensor;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * Extracts a native library shipped inside the jar to a per-user cache, as DJL and bytedeco do:
 * {@code $XDG_CACHE_HOME/adept/native/<version>-<hash>/} (default {@code ~/.cache/adept/native/...}), the hash
 * being the library's own SHA-256, so two adept versions or builds never share a folder. The folder appears
 * atomically: the file is written and fsynced in a temporary sibling folder that is then renamed; a process that
 * loses the race to another simply uses the winner's (identical) copy.
 */
final class NativeCache {
    private NativeCache() {}

    /** The cache root: $XDG_CACHE_HOME/adept/native or ~/.cache/adept/native. */
    static Path root() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("adept").resolve("native");
    }

    /**
     * The extracted copy of resource (read through loader) as root/&lt;version&gt;-&lt;hash&gt;/fileName, or null when
     * loader has no such resource. A failure to write the cache is an error that says how to work around it.
     */
    static Path extract(ClassLoader loader, String resource, String fileName, String version, Path root) {
        if (loader == null || loader.getResource(resource) == null) return null;
        try {
            byte[] bytes;
            try (InputStream in = loader.getResourceAsStream(resource)) {
                if (in == null) return null;
                bytes = in.readAllBytes();
            }
            Path dir = root.resolve(version.replaceAll("[^A-Za-z0-9._-]", "_") + "-" + sha256(bytes).substring(0, 16));
            Path library = dir.resolve(fileName);
            if (Files.isRegularFile(library) && Files.size(library) == bytes.length) return library;
            Files.createDirectories(root);
            Path temp = root.resolve("." + dir.getFileName() + ".tmp-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE));
            Files.createDirectory(temp);
            try {
                Path tempLibrary = temp.resolve(fileName);
                try (OutputStream out = Files.newOutputStream(tempLibrary, StandardOpenOption.CREATE_NEW)) {
                    out.write(bytes);
                }
                try (FileChannel ch = FileChannel.open(tempLibrary, StandardOpenOption.WRITE)) {
                    ch.force(true);
                }
                try {
                    Files.move(temp, dir, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException lost) {
                    // Another process renamed its copy in first (rename(2) onto a non-empty folder fails): use that one.
                    if (!(Files.isRegularFile(library) && Files.size(library) == bytes.length)) throw lost;
                }
            } finally {
                deleteRecursively(temp);
            }
            return library;
        } catch (IOException e) {
            throw new TorchException("cannot extract adept's " + resource + " into " + root + ": " + e
                    + "; set XDG_CACHE_HOME to a writable folder, or ADEPT_NATIVE_DIR (-Dadept.native.dir) to a folder holding " + fileName);
        }
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    private static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a leftover temporary folder only costs disk space
        }
    }
}
