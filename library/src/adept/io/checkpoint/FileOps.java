package adept.io.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Durable, atomic file writes: temp file in the same directory, fsync, rename, fsync the directory. Public so that
 * other packages (adept.io.data's token cache) write files the same way. A temporary file is named
 * {@code .<target name>.<random>.tmp}.
 */
public final class FileOps {
    private FileOps() {}

    /** Writes a file's content into a channel. */
    @FunctionalInterface
    public interface ChannelWriter {
        /** Writes the content. */
        void write(FileChannel channel) throws IOException;
    }

    /**
     * Writes target through a temporary sibling that is fsynced and then renamed over target, so readers
     * see either the old file or the complete new one. On failure the temporary file is removed.
     */
    public static void writeAtomically(Path target, ChannelWriter body) throws IOException {
        Path dir = parentOf(target);
        Path temp = newTemporarySibling(dir, target.getFileName().toString());
        boolean moved = false;
        try (Temporary registered = deleteOnExit(temp)) {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                body.write(channel);
                channel.force(true);
            }
            move(temp, target);
            moved = true;
            fsyncDirectory(dir);
        } finally {
            if (!moved) Files.deleteIfExists(temp);
        }
    }

    /** Refuses a path that exists but is not a regular file (a FIFO would block a read forever, /dev/zero never end). */
    public static void requireRegularIfPresent(Path file) {
        if (Files.exists(file) && !Files.isRegularFile(file)) {
            throw new CheckpointException(file + ": not a regular file" + (Files.isDirectory(file) ? " (a folder)" : " (a FIFO, device or socket)"));
        }
    }

    /**
     * The whole of a small file (config.json, an index, a tokenizer file), refusing one over maxBytes before it is
     * held in memory: read through a bounded stream, so a file that grows or never ends (a device) cannot exhaust
     * memory either. what names the kind of file in the message ("config.json files are at most ...").
     */
    public static byte[] readBounded(Path file, long maxBytes, String what) {
        requireRegularIfPresent(file);
        if (Files.isSymbolicLink(file) && !Files.exists(file)) {
            throw new CheckpointException(file + ": dangling symbolic link (to " + linkTarget(file) + ")");
        }
        try (java.io.InputStream in = Files.newInputStream(file)) {
            byte[] bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBytes + 1));
            if (bytes.length > maxBytes) {
                throw new CheckpointException(file + ": larger than " + maxBytes + " bytes, more than " + what + " can be; not a " + what);
            }
            return bytes;
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file + ": no such file", e);
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot read: " + e, e);
        }
    }

    /**
     * A small file's text ({@link #readBounded}), which must be UTF-8: otherwise an error naming the file and the byte
     * offset and line of the first bad byte (not the decoder's "Input length = 1").
     */
    public static String readUtf8(Path file, long maxBytes, String what) {
        byte[] bytes = readBounded(file, maxBytes, what);
        try {
            return java.nio.charset.StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new CheckpointException(file + ": not valid UTF-8 text (" + firstInvalidUtf8(bytes) + ")");
        }
    }

    /** "byte N, line L" of the first byte sequence that is not UTF-8 (0-based byte offset, 1-based line). */
    public static String firstInvalidUtf8(byte[] bytes) {
        int at = firstInvalidUtf8Offset(bytes);
        int line = 1;
        for (int i = 0; i < at; i++) if (bytes[i] == '\n') line++;
        return "byte " + at + ", line " + line;
    }

    /** The 0-based offset of the first byte sequence that is not UTF-8 (the length when all of it is). */
    public static int firstInvalidUtf8Offset(byte[] bytes) {
        java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(bytes);
        java.nio.CharBuffer out = java.nio.CharBuffer.allocate(Math.max(16, bytes.length));
        java.nio.charset.CoderResult result = java.nio.charset.StandardCharsets.UTF_8.newDecoder().decode(in, out, true);
        return result.isError() ? in.position() : bytes.length;
    }

    /** Where a symbolic link points, for messages. */
    public static String linkTarget(Path link) {
        try {
            return Files.readSymbolicLink(link).toString();
        } catch (IOException | UnsupportedOperationException e) {
            return "?";
        }
    }

    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    /**
     * A new empty ".NAME.PID-HEX.tmp" file in dir with the default permissions (0666 less the umask), unlike
     * Files.createTempFile's 0600: what is renamed into place is readable as any other file the user writes. The pid
     * lets {@link #removeStaleTemporaries} tell a killed writer's leftover from a live writer's file.
     */
    public static Path newTemporarySibling(Path dir, String name) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path p = dir.resolve("." + name + "." + ProcessHandle.current().pid() + "-" + Long.toHexString(RANDOM.nextLong() & Long.MAX_VALUE) + ".tmp");
            try {
                return Files.createFile(p);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                if (attempt > 100) throw e;
            }
        }
    }

    private static final java.util.regex.Pattern TEMPORARY = java.util.regex.Pattern.compile("\\..+\\.(\\d+)-[0-9a-f]+\\.tmp");

    /**
     * Deletes the ".NAME.PID-HEX.tmp" files in dir ({@link #newTemporarySibling}) whose writer is gone (killed before its
     * rename or clean-up); a live process's are left alone. Best effort: what cannot be deleted stays.
     */
    public static void removeStaleTemporaries(Path dir) {
        if (!Files.isDirectory(dir)) return;
        try (var entries = Files.newDirectoryStream(dir, p -> TEMPORARY.matcher(p.getFileName().toString()).matches())) {
            for (Path p : entries) {
                java.util.regex.Matcher m = TEMPORARY.matcher(p.getFileName().toString());
                if (m.matches() && processIsGone(Long.parseLong(m.group(1))) && Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException | RuntimeException e) {
            // leftovers only: they do not change any result
        }
    }

    /** Whether no process pid runs (this one always does). */
    public static boolean processIsGone(long pid) {
        return pid != ProcessHandle.current().pid() && ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true);
    }

    /** Paths to delete if the JVM exits (SIGTERM, SIGINT, System.exit) before their owner removes or renames them. */
    private static final java.util.Set<Path> PENDING = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private static final java.util.concurrent.atomic.AtomicBoolean HOOKED = new java.util.concurrent.atomic.AtomicBoolean();

    /** A temporary file or folder registered for deletion at JVM exit until {@link #close}d (its owner has dealt with it). */
    public static final class Temporary implements AutoCloseable {
        private final Path path;

        private Temporary(Path path) {
            this.path = path;
        }

        @Override
        public void close() {
            PENDING.remove(path);
        }
    }

    /**
     * Registers path (a temporary file or folder) for deletion when the JVM shuts down while it is still registered:
     * a signal does not unwind the thread writing it, so its finally blocks never run. SIGKILL leaves it to
     * {@link #removeStaleTemporaries} and {@link Checkpoint#recover} of the next run.
     */
    public static Temporary deleteOnExit(Path path) {
        if (HOOKED.compareAndSet(false, true)) {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                for (Path p : PENDING) {
                    try {
                        deleteRecursively(p);
                    } catch (IOException | RuntimeException ignored) {
                        // exiting anyway
                    }
                }
            }, "adept-temporary-files"));
        }
        PENDING.add(path);
        return new Temporary(path);
    }

    /** Writes target atomically (temporary sibling, fsync, rename). */
    public static void writeBytesAtomically(Path target, byte[] bytes) throws IOException {
        writeAtomically(target, channel -> writeFully(channel, ByteBuffer.wrap(bytes)));
    }

    /** Writes text as UTF-8 to target atomically (temporary sibling, fsync, rename). */
    public static void writeStringAtomically(Path target, String text) throws IOException {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        writeAtomically(target, channel -> writeFully(channel, ByteBuffer.wrap(bytes)));
    }

    /** Writes the buffer's remaining bytes, looping over short writes. */
    public static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) channel.write(buffer);
    }

    /** Atomic rename, replacing target; falls back to a plain replace where the file system cannot rename atomically. */
    public static void move(Path source, Path target) throws IOException {
        try {
            Files.move(source, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(source, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Makes a rename or a new file in dir durable. Best effort: some platforms (Windows) cannot open a directory. */
    public static void fsyncDirectory(Path dir) {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // not supported here; the rename is still atomic, only its durability on power loss is weaker
        }
    }

    /** Forces file's content to disk. */
    public static void fsyncFile(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.force(true);
        }
    }

    /**
     * The path with every symlink resolved, for the part that exists (a new output has no real path yet): two paths
     * name the same file or folder exactly when their real paths are equal.
     */
    public static Path realPath(Path p) {
        Path absolute = p.toAbsolutePath().normalize();
        Path existing = absolute;
        while (existing != null && !Files.exists(existing)) existing = existing.getParent();
        if (existing == null) return absolute;
        try {
            return existing.toRealPath().resolve(existing.relativize(absolute)).normalize();
        } catch (IOException e) {
            return absolute;
        }
    }

    static Path parentOf(Path file) {
        Path parent = file.toAbsolutePath().getParent();
        if (parent == null) throw new CheckpointException(file + ": has no parent directory");
        return parent;
    }

    /** Deletes root and everything under it, not following links; nothing when it is absent. */
    public static void deleteRecursively(Path root) throws IOException {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.deleteIfExists(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                if (e instanceof NoSuchFileException) return FileVisitResult.CONTINUE;
                throw e;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
                if (e != null) throw e;
                Files.deleteIfExists(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
