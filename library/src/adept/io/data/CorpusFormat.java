package adept.io.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * How a training corpus is stored, found from its content rather than its name (a {@code .txt} may be gzip, a {@code
 * .json} may be JSON Lines): gzip when the file starts with the magic bytes {@code 1f 8b}; then JSON Lines when the
 * first non-blank line of the (decompressed) text starts with <code>{</code>, plain text otherwise.
 */
public record CorpusFormat(boolean gzip, Kind kind) {
    /** What the decompressed text holds. */
    public enum Kind { JSON_LINES, PLAIN_TEXT }

    /** How much decompressed text is checked for NUL bytes (a binary file has them early; UTF-8 text never has them). */
    static final int SNIFF_BYTES = 64 << 10;

    /**
     * The format of file.
     *
     * @throws DataException when file is missing, not a regular file (a directory, FIFO or device would block or
     *     make no sense), binary, unreadable, or holds no non-blank text ("FILE: the corpus is empty")
     */
    public static CorpusFormat detect(Path file) {
        requireRegularFile(file);
        boolean gzip;
        try (InputStream raw = Files.newInputStream(file)) {
            byte[] magic = raw.readNBytes(2);
            gzip = magic.length == 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b;
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage(), e);
        }
        try (InputStream in = open(file, gzip, Files.newInputStream(file))) {
            byte[] head = in.readNBytes(SNIFF_BYTES);
            for (byte b : head) {
                if (b == 0) throw new DataException(file + ": binary content (a NUL byte in the first 64 KiB" + (gzip ? " of the decompressed text" : "") + "), not a text corpus");
            }
            int first = firstNonBlank(head, 0, head.length, true);
            // Mostly-blank start: keep scanning (streaming, a buffer at a time) for the first non-blank byte.
            byte[] buffer = head;
            int n = head.length;
            while (first < 0 && n > 0) {
                buffer = new byte[SNIFF_BYTES];
                n = in.readNBytes(buffer, 0, buffer.length);
                first = firstNonBlank(buffer, 0, n, false);
            }
            if (first < 0) throw new DataException(file + ": the corpus is empty");
            return new CorpusFormat(gzip, buffer[first] == '{' ? Kind.JSON_LINES : Kind.PLAIN_TEXT);
        } catch (ZipException e) {
            throw new DataException(file + ": starts like gzip but is not valid gzip: " + e.getMessage(), e);
        } catch (java.io.EOFException e) {
            throw new DataException(file + ": starts like gzip but the gzip data is truncated", e);
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** The (decompressed) content of file, read through raw (the caller's stream, e.g. one that counts bytes). */
    static InputStream open(Path file, boolean gzip, InputStream raw) throws IOException {
        try {
            return gzip ? new GZIPInputStream(raw, 1 << 16) : new BufferedInputStream(raw, 1 << 16);
        } catch (IOException e) {
            raw.close();
            throw e;
        }
    }

    static void requireRegularFile(Path file) {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class); // follows symbolic links
        } catch (NoSuchFileException e) {
            throw new DataException(file + ": no such file");
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (attributes.isDirectory()) throw new DataException(file + ": is a directory, not a corpus file");
        if (!attributes.isRegularFile()) {
            throw new DataException(file + ": not a regular file (a pipe such as /dev/stdin or <(...), a socket or a device);"
                    + " a corpus is read by its content, so it must be a regular file: save it to one first");
        }
        if (!Files.isReadable(file)) throw new DataException(file + ": not readable");
    }

    /** Index of the first byte in [from, to) that is not ASCII white space (nor, at the file's start, a UTF-8 BOM); -1 if none. */
    private static int firstNonBlank(byte[] bytes, int from, int to, boolean fileStart) {
        int i = from;
        if (fileStart && to - from >= 3 && (bytes[i] & 0xff) == 0xef && (bytes[i + 1] & 0xff) == 0xbb && (bytes[i + 2] & 0xff) == 0xbf) i += 3;
        for (; i < to; i++) {
            byte b = bytes[i];
            if (b != ' ' && b != '\t' && b != '\n' && b != '\r' && b != '\f' && b != 0x0b) return i;
        }
        return -1;
    }
}
