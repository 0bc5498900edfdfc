package adept.io.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * One writer per output: a lock file holding the owner's process id, locked with an OS file lock for as long as the
 * owner runs. The OS drops the lock when the owner dies (kill -9 included), so a lock file left by a dead run is
 * stale and simply taken over; a live owner is named in the refusal. Removed on {@link #close}.
 */
public final class OutputLock implements AutoCloseable {
    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;

    private OutputLock(Path file, FileChannel channel, FileLock lock) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Takes the lock file (created with its folder when missing); what names the output in the refusal
     * ("--out /runs/a"). Throws a {@link CheckpointException} naming the holder's pid when another process holds it.
     */
    public static OutputLock acquire(Path file, String what) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
        } catch (IOException e) {
            String why = e instanceof java.nio.file.FileAlreadyExistsException f ? f.getFile() + " is a file, not a folder" : String.valueOf(e.getMessage());
            throw new CheckpointException(what + ": cannot create its folder: " + why, e);
        }
        for (int attempt = 0; attempt < 100; attempt++) {
            FileChannel channel = null;
            try {
                Object before = fileKey(file);
                channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
                FileLock lock;
                try {
                    lock = channel.tryLock();
                } catch (OverlappingFileLockException inThisProcess) {
                    lock = null;
                }
                if (lock == null) {
                    String holder = readPid(channel);
                    channel.close();
                    throw new CheckpointException(what + " is being written by another adept process (pid " + holder + ", lock file " + file
                            + "); wait for it to finish or stop it");
                }
                // A releaser deletes the file while holding it: we must hold the file that is at the path now.
                Object after = fileKey(file);
                if (before == null || !before.equals(after)) {
                    lock.release();
                    channel.close();
                    continue;
                }
                channel.truncate(0);
                ByteBuffer pid = ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII));
                while (pid.hasRemaining()) channel.write(pid, pid.position());
                channel.force(true);
                return new OutputLock(file, channel, lock);
            } catch (IOException e) {
                closeQuietly(channel);
                throw new CheckpointException("cannot lock " + file + ": " + e.getMessage(), e);
            }
        }
        throw new CheckpointException("cannot lock " + file + ": it keeps being replaced");
    }

    /** The lock file's path. */
    public Path file() {
        return file;
    }

    private static Object fileKey(Path file) throws IOException {
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            // Created here so that the key seen before opening is the file opened (a lost race is retried).
            try {
                Files.createFile(file);
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                // someone else's: fine, its key is read below
            }
        }
        try {
            return Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        } catch (java.nio.file.NoSuchFileException gone) {
            return null;
        }
    }

    /** Read through the open channel: opening the file again and closing it would drop this process's own OS locks on it. */
    private static String readPid(FileChannel channel) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(32);
        int n = channel.read(b, 0);
        String text = n <= 0 ? "" : new String(b.array(), 0, n, StandardCharsets.US_ASCII).strip();
        return text.matches("\\d{1,12}") ? text : "unknown";
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel == null) return;
        try {
            channel.close();
        } catch (IOException ignored) {
            // the failure being reported matters more
        }
    }

    /** Deletes the lock file, then lets go of it (deleting first: no one can lock the old file and think it current). */
    @Override
    public void close() {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // a leftover lock file is stale once the lock is released: the next run takes it over
        }
        try {
            lock.release();
        } catch (IOException ignored) {
            // closing the channel releases it too
        }
        closeQuietly(channel);
    }
}
