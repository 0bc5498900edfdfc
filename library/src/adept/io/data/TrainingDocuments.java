package adept.io.data;

import com.google.gson.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.ZipException;

/**
 * Streams the documents of a training corpus without holding it in memory, as {@link Piece}s of text.
 *
 * <ul>
 *   <li>JSON Lines: each non-blank line is one document, a JSON object (parsed strictly) with a string {@code "text"}
 *       field; one piece per document, or parts of it when it is longer than {@value #MAX_PIECE_CHARS} characters.
 *   <li>Plain text: the whole file is ONE document, yielded in pieces of about {@value #PIECE_CHARS} characters cut at
 *       line ends, so that a file of gigabytes never sits in memory. Tokenizing piece by piece gives the tokens of the
 *       whole text because the usual pre-tokenizers (whitespace, and the GPT-2/Llama-3/Qwen regex splits of byte-level
 *       BPE) start a new pre-token at a newline boundary and BPE merges never cross pre-tokens; in practice no merge
 *       spans a cut after "\n".
 * </ul>
 *
 * Text must be UTF-8; a leading byte order mark is dropped. Lines are read with a bounded reader: a line over
 * {@value #MAX_LINE_BYTES} bytes is an error naming it. Errors are {@link DataException}s naming file:line.
 * Not thread-safe.
 */
public final class TrainingDocuments implements AutoCloseable {
    /** The longest line read (64 MiB): one JSON document, or a line of plain text. */
    public static final int MAX_LINE_BYTES = 64 << 20;
    /** Plain text pieces end at the first line end at or after this many characters. */
    static final int PIECE_CHARS = 64 << 10;
    /**
     * A piece longer than this (a long JSON Lines document, a long line of plain text) is yielded in parts of about
     * PIECE_CHARS: the tokenizer's memory grows with the text it encodes at once (a 17 MB document took 5 GB).
     */
    static final int MAX_PIECE_CHARS = 4 * PIECE_CHARS;

    /**
     * Text of one document, or of part of one. startsDocument: the first piece of its document (BOS goes before it);
     * endsDocument: the last (EOS goes after it). line: 1-based line where the piece starts.
     */
    public record Piece(String text, long line, boolean startsDocument, boolean endsDocument) {}

    private final Path file;
    private final CorpusFormat format;
    private final int maxLineBytes;
    private final CountingInputStream raw;
    private final InputStream in;
    private final byte[] buffer = new byte[1 << 16];
    private int pos;
    private int limit;
    private final LineBytes lineBytes = new LineBytes();
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
    private long lineNumber;
    private long documents;
    /** Plain text: the piece read ahead of the one returned, to know which piece is the last. */
    private Piece ahead;
    /** A piece over MAX_PIECE_CHARS being returned in parts, and where the next part starts. */
    private Piece cutting;
    private int cutAt;

    private TrainingDocuments(Path file, CorpusFormat format, int maxLineBytes) throws IOException {
        this.file = file;
        this.format = format;
        this.maxLineBytes = maxLineBytes;
        this.raw = new CountingInputStream(Files.newInputStream(file));
        this.in = CorpusFormat.open(file, format.gzip(), raw);
    }

    /** Opens file, detecting its format by content ({@link CorpusFormat#detect}). */
    public static TrainingDocuments open(Path file) {
        return open(file, MAX_LINE_BYTES);
    }

    static TrainingDocuments open(Path file, int maxLineBytes) {
        CorpusFormat format = CorpusFormat.detect(file);
        try {
            TrainingDocuments documents = new TrainingDocuments(file, format, maxLineBytes);
            if (format.kind() == CorpusFormat.Kind.PLAIN_TEXT) documents.ahead = documents.readPlainPiece(true);
            return documents;
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** The format the corpus was read as. */
    public CorpusFormat format() {
        return format;
    }

    /** The next piece, or null after the last. */
    public Piece next() {
        if (cutting != null) return nextCut();
        Piece piece = read();
        if (piece == null || piece.text().length() <= MAX_PIECE_CHARS) return piece;
        cutting = piece;
        cutAt = 0;
        return nextCut();
    }

    /**
     * The next part of a piece too long to tokenize at once: about {@value #PIECE_CHARS} characters, cut after a line
     * end, else before a space that follows a word (where whitespace pre-tokenizers start a new pre-token, so the
     * tokens are the whole text's), else anywhere outside a surrogate pair.
     */
    private Piece nextCut() {
        String text = cutting.text();
        int end = cutPoint(text, cutAt);
        boolean last = end == text.length();
        Piece part = new Piece(text.substring(cutAt, end), cutting.line(), cutting.startsDocument() && cutAt == 0, cutting.endsDocument() && last);
        cutAt = end;
        if (last) cutting = null;
        return part;
    }

    static int cutPoint(String text, int from) {
        int target = from + PIECE_CHARS;
        if (target >= text.length()) return text.length();
        int floor = from + PIECE_CHARS / 2;
        int newline = text.lastIndexOf('\n', target - 1);
        if (newline >= floor) return newline + 1;
        for (int i = target; i > floor; i--) {
            if (text.charAt(i) == ' ' && !Character.isWhitespace(text.charAt(i - 1))) return i;
        }
        return Character.isLowSurrogate(text.charAt(target)) ? target - 1 : target;
    }

    private Piece read() {
        try {
            return format.kind() == CorpusFormat.Kind.JSON_LINES ? nextJsonLine() : nextPlainPiece();
        } catch (ZipException e) {
            throw new DataException(file + ":" + (lineNumber + 1) + ": corrupt gzip data: " + e.getMessage(), e);
        } catch (java.io.EOFException e) {
            throw new DataException(file + ":" + (lineNumber + 1) + ": the gzip data is truncated", e);
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** Documents whose last piece has been returned. */
    public long documentCount() {
        return documents;
    }

    /** Bytes of the file read so far (compressed bytes for gzip): progress against the file's size. */
    public long bytesRead() {
        return raw.count;
    }

    @Override
    public void close() {
        try {
            in.close();
        } catch (IOException e) {
            // nothing was written; a failed close of a read stream loses nothing
        }
    }

    private Piece nextJsonLine() throws IOException {
        while (readLine(false)) {
            String line = decodeLine();
            if (line.isBlank()) continue;
            JsonObject object = CorpusReader.parseObject(file, lineNumber, line);
            if (!object.has("text")) throw new DataException(file + ":" + lineNumber + ": no \"text\" field (a training document is {\"text\": \"...\"})");
            String text = CorpusReader.string(file, lineNumber, object, "text");
            documents++;
            return new Piece(text, lineNumber, true, true);
        }
        return null;
    }

    private Piece nextPlainPiece() throws IOException {
        Piece current = ahead;
        if (current == null) return null;
        ahead = readPlainPiece(false);
        if (ahead != null) return current;
        documents = 1;
        return new Piece(current.text(), current.line(), current.startsDocument(), true);
    }

    /** Whole lines (ends kept) until the piece reaches PIECE_CHARS; null at the end of the file. */
    private Piece readPlainPiece(boolean first) throws IOException {
        StringBuilder text = new StringBuilder();
        long start = lineNumber + 1;
        while (text.length() < PIECE_CHARS && readLine(true)) text.append(decodeLine());
        return text.isEmpty() ? null : new Piece(text.toString(), start, first, false);
    }

    /**
     * Reads the next line's bytes into lineBytes (with its "\n" when keepNewline); false at the end of the file. Never
     * holds more than maxLineBytes of a line.
     */
    private boolean readLine(boolean keepNewline) throws IOException {
        lineBytes.reset();
        boolean any = false;
        while (true) {
            if (pos == limit) {
                pos = 0;
                limit = Math.max(0, in.read(buffer, 0, buffer.length));
                if (limit == 0) {
                    if (any) lineNumber++;
                    return any;
                }
            }
            any = true;
            int newline = pos;
            while (newline < limit && buffer[newline] != '\n') newline++;
            boolean found = newline < limit;
            int end = found ? newline + 1 : limit;
            int take = end - pos - (found && !keepNewline ? 1 : 0);
            if ((long) lineBytes.size() + take > maxLineBytes) {
                throw new DataException(file + ":" + (lineNumber + 1) + ": line longer than " + maxLineBytes + " bytes");
            }
            lineBytes.write(buffer, pos, take);
            pos = end;
            if (found) {
                lineNumber++;
                return true;
            }
        }
    }

    private String decodeLine() {
        String line;
        try {
            line = decoder.reset().decode(lineBytes.view()).toString();
        } catch (CharacterCodingException e) {
            throw new DataException(file + ":" + lineNumber + ": not valid UTF-8 text");
        }
        return lineNumber == 1 && line.startsWith("\uFEFF") ? line.substring(1) : line;
    }

    /** A reusable line buffer whose bytes can be decoded in place. */
    private static final class LineBytes extends ByteArrayOutputStream {
        ByteBuffer view() {
            return ByteBuffer.wrap(buf, 0, count);
        }
    }

    private static final class CountingInputStream extends FilterInputStream {
        long count;

        CountingInputStream(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) count++;
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) count += n;
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            long skipped = super.skip(n);
            count += skipped;
            return skipped;
        }
    }
}
