package adept.io.checkpoint;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * A safetensors file (Hugging Face's format: an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the raw little-endian data).
 *
 * <p>{@link #open} validates the whole header as Hugging Face's reader does (strict JSON, no key twice, byte ranges
 * contiguous from 0 and covering the whole data section: no gap, overlap or trailing byte). {@link #tensor} reads a
 * tensor with positional reads into memory the tensor owns, as PyTorch's {@code load_state_dict} ends with tensors of
 * its own: nothing stays mapped, so truncating or overwriting the file later cannot crash the process (a mapping
 * would raise SIGBUS) nor change a loaded model. A file found changed since {@link #open} (other size, modification
 * time or inode), before or after a tensor's bytes are read, is an error, never a model mixed from two files.
 */
public final class Safetensors {
    /** Header lengths above this are refused, as Hugging Face's reader does. */
    static final long MAX_HEADER_BYTES = 100_000_000L;
    private static final long WRITE_CHUNK = 64L << 20;

    /** One tensor of the header: dtype, shape and its byte range [begin, end) within the data region. */
    public record Entry(String name, DType dtype, long[] shape, long begin, long end) {
        public Entry {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** The stored bytes of the tensor. */
        public long byteSize() {
            return end - begin;
        }

        /** The number of elements. */
        public long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }

        @Override
        public String toString() {
            return name + " " + dtypeName(dtype) + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
        }
    }

    private final Path file;
    private final FileState state;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    /** What identifies the file's content as opened: a change of any of these means the bytes may have changed. */
    private record FileState(Object key, long size, long modified) {
        static FileState of(Path file) throws IOException {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            return new FileState(a.fileKey(), a.size(), a.lastModifiedTime().to(TimeUnit.NANOSECONDS));
        }
    }

    private Safetensors(Path file, FileState state, long dataStart, Map<String, Entry> entries, Map<String, String> metadata) {
        this.file = file;
        this.state = state;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    // ---- reading ----

    /** Reads and validates the header; tensors are read on demand by {@link #tensor}. */
    public static Safetensors open(Path file) {
        String where = file.toString();
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new CheckpointException(where + ": safetensors data is little-endian and this machine is not");
        }
        FileOps.requireRegularIfPresent(file);
        if (Files.isSymbolicLink(file) && !Files.exists(file)) {
            throw new CheckpointException(where + ": dangling symbolic link (to " + FileOps.linkTarget(file) + ")");
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            FileState state = FileState.of(file);
            long size = channel.size();
            if (size < 8) {
                throw new CheckpointException(where + ": file is " + size + " bytes, too short for a safetensors header"
                        + " (8-byte length + JSON); the file looks truncated");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lengthBytes, 0);
            long headerLength = lengthBytes.getLong(0);
            if (headerLength >= 0 && headerLength < 2) {
                throw new CheckpointException(where + ": header length " + headerLength + " is too small for a JSON header"
                        + "; not a safetensors file (or a damaged one)");
            }
            if (headerLength < 0 || headerLength > size - 8) {
                throw new CheckpointException(where + ": header length " + Long.toUnsignedString(headerLength)
                        + " exceeds the file (" + size + " bytes); the file is truncated or not a safetensors file");
            }
            if (headerLength > MAX_HEADER_BYTES) {
                throw new CheckpointException(where + ": header length " + headerLength + " is above the limit of "
                        + MAX_HEADER_BYTES + " bytes; not a safetensors file");
            }
            ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
            readFully(channel, headerBytes, 8);
            long dataStart = 8 + headerLength;
            long dataSize = size - dataStart;
            if (headerBytes.get(0) != '{') {
                throw new CheckpointException(where + ": header does not start with '{'; not a safetensors file");
            }

            String text = decodeUtf8(headerBytes.flip(), where);
            JsonElement root = Json.parse(text, where + ": header");
            if (!root.isJsonObject()) throw new CheckpointException(where + ": header is " + Json.describe(root) + ", not a JSON object");

            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, Entry> entries = new TreeMap<>();
            for (var field : root.getAsJsonObject().entrySet()) {
                if (field.getKey().equals("__metadata__")) {
                    parseMetadata(field.getValue(), where, metadata);
                } else {
                    entries.put(field.getKey(), parseEntry(field.getKey(), field.getValue(), where, dataSize));
                }
            }
            checkLayout(entries.values(), where, dataSize);
            if (!FileState.of(file).equals(state)) throw changed(where);
            return new Safetensors(file, state, dataStart, Collections.unmodifiableMap(entries), Collections.unmodifiableMap(metadata));
        } catch (NoSuchFileException e) {
            throw new CheckpointException(where + ": no such file", e);
        } catch (IOException e) {
            throw new CheckpointException(where + ": cannot read: " + e, e);
        }
    }

    private static CheckpointException changed(String where) {
        return new CheckpointException(where + ": the file changed while it was being read (replaced, truncated or rewritten"
                + " by another program); run again once it is complete");
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, at);
            if (n < 0) throw new IOException("unexpected end of file at byte " + at);
            at += n;
        }
    }

    private static String decodeUtf8(ByteBuffer bytes, String where) {
        try {
            CharBuffer chars = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(bytes);
            return chars.toString();
        } catch (CharacterCodingException e) {
            throw new CheckpointException(where + ": header is not valid UTF-8 (" + e.getMessage() + ")", e);
        }
    }

    private static void parseMetadata(JsonElement value, String where, Map<String, String> out) {
        if (value.isJsonNull()) return;
        if (!value.isJsonObject()) {
            throw new CheckpointException(where + ": __metadata__ is " + Json.describe(value) + ", expected an object of strings");
        }
        for (var e : value.getAsJsonObject().entrySet()) {
            JsonElement v = e.getValue();
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
                throw new CheckpointException(where + ": __metadata__ entry \"" + e.getKey() + "\" is " + Json.describe(v)
                        + ", expected a string");
            }
            out.put(e.getKey(), v.getAsString());
        }
    }

    private static Entry parseEntry(String name, JsonElement value, String where, long dataSize) {
        String at = where + ": tensor " + name;
        if (name.isEmpty()) throw new CheckpointException(where + ": a tensor has an empty name");
        if (!value.isJsonObject()) throw new CheckpointException(at + ": header entry is " + Json.describe(value) + ", expected an object");
        JsonObject o = value.getAsJsonObject();

        JsonElement dtypeElement = o.get("dtype");
        if (dtypeElement == null || !dtypeElement.isJsonPrimitive() || !dtypeElement.getAsJsonPrimitive().isString()) {
            throw new CheckpointException(at + ": \"dtype\" is " + Json.describe(dtypeElement) + ", expected a string such as \"F32\"");
        }
        String dtypeName = dtypeElement.getAsString();
        DType dtype = dtypeOf(dtypeName);
        if (dtype == null) {
            throw new CheckpointException(at + ": dtype " + dtypeName + " is not supported (adept reads "
                    + "F32, F16, BF16, F64, I64, I32, I16, I8, U8 and BOOL)");
        }

        JsonElement shapeElement = o.get("shape");
        if (shapeElement == null || !shapeElement.isJsonArray()) {
            throw new CheckpointException(at + ": \"shape\" is " + Json.describe(shapeElement) + ", expected an array of sizes");
        }
        JsonArray shapeArray = shapeElement.getAsJsonArray();
        long[] shape = new long[shapeArray.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            Long d = Json.exactLong(shapeArray.get(i));
            if (d == null || d < 0) {
                throw new CheckpointException(at + ": shape " + shapeArray + " has an invalid size " + shapeArray.get(i));
            }
            shape[i] = d;
            try {
                numel = Math.multiplyExact(numel, d);
            } catch (ArithmeticException e) {
                throw new CheckpointException(at + ": shape " + shapeArray + " is too large");
            }
        }

        JsonElement offsetsElement = o.get("data_offsets");
        Long begin = null;
        Long end = null;
        if (offsetsElement != null && offsetsElement.isJsonArray() && offsetsElement.getAsJsonArray().size() == 2) {
            begin = Json.exactLong(offsetsElement.getAsJsonArray().get(0));
            end = Json.exactLong(offsetsElement.getAsJsonArray().get(1));
        }
        if (begin == null || end == null || begin < 0 || end < begin) {
            throw new CheckpointException(at + ": \"data_offsets\" is " + (offsetsElement == null ? "missing" : offsetsElement.toString())
                    + ", expected [begin, end] with 0 <= begin <= end");
        }
        if (end > dataSize) {
            throw new CheckpointException(at + ": data_offsets [" + begin + ", " + end + "] exceed the file's data ("
                    + dataSize + " bytes); the file looks truncated");
        }
        long expected;
        try {
            expected = Math.multiplyExact(numel, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new CheckpointException(at + ": shape " + shapeArray + " is too large");
        }
        if (end - begin != expected) {
            throw new CheckpointException(at + ": data_offsets [" + begin + ", " + end + "] span " + (end - begin)
                    + " bytes but shape " + Arrays.toString(shape) + " of " + dtypeName + " needs " + expected);
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    /**
     * As Hugging Face's reader (the Rust crate's validate): the byte ranges, in order, start at 0, each where the
     * previous one ends (no gap, no overlap), and the last ends where the file does (no trailing bytes).
     */
    private static void checkLayout(Iterable<Entry> entries, String where, long dataSize) {
        List<Entry> sorted = new ArrayList<>();
        for (Entry e : entries) sorted.add(e);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expected = 0;
        Entry prev = null;
        for (Entry e : sorted) {
            if (e.begin() < expected) {
                throw new CheckpointException(where + ": tensor " + e.name() + ": data_offsets [" + e.begin() + ", " + e.end()
                        + "] overlap those of tensor " + prev.name() + " [" + prev.begin() + ", " + prev.end() + "]");
            }
            if (e.begin() > expected) {
                throw new CheckpointException(where + ": tensor " + e.name() + ": data_offsets [" + e.begin() + ", " + e.end()
                        + "] leave a gap of " + (e.begin() - expected) + " bytes after " + (prev == null ? "the header" : "tensor " + prev.name())
                        + "; tensor data must be contiguous");
            }
            expected = e.end();
            prev = e;
        }
        if (expected != dataSize) {
            throw new CheckpointException(where + ": " + (dataSize - expected) + " bytes after the last tensor's data; the header"
                    + " does not describe the whole file (damaged, or not written by a safetensors writer)");
        }
    }

    /** The safetensors dtype name's DType, or null for one adept does not read (F8_E4M3, C64, U32, ...). */
    static DType dtypeOf(String name) {
        return switch (name) {
            case "F64" -> DType.FLOAT64;
            case "F32" -> DType.FLOAT32;
            case "F16" -> DType.FLOAT16;
            case "BF16" -> DType.BFLOAT16;
            case "I64" -> DType.INT64;
            case "I32" -> DType.INT32;
            case "I16" -> DType.INT16;
            case "I8" -> DType.INT8;
            case "U8" -> DType.UINT8;
            case "BOOL" -> DType.BOOL;
            default -> null;
        };
    }

    /** The safetensors name of a dtype (F32, BF16, ...). */
    public static String dtypeName(DType dtype) {
        return switch (dtype) {
            case FLOAT64 -> "F64";
            case FLOAT32 -> "F32";
            case FLOAT16 -> "F16";
            case BFLOAT16 -> "BF16";
            case INT64 -> "I64";
            case INT32 -> "I32";
            case INT16 -> "I16";
            case INT8 -> "I8";
            case UINT8 -> "U8";
            case BOOL -> "BOOL";
        };
    }

    /** The safetensors file. */
    public Path file() {
        return file;
    }

    /** The header's "__metadata__" (string to string; empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensor names, sorted. */
    public List<String> names() {
        return List.copyOf(entries.keySet());
    }

    /** True when the file holds the named tensor. */
    public boolean contains(String name) {
        return entries.containsKey(name);
    }

    /** The header entries by name, sorted by name. */
    public Map<String, Entry> entries() {
        return entries;
    }

    /** The header entry of the named tensor; an error naming the file when absent. */
    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) throw new CheckpointException(file + ": tensor " + name + " is not in this file");
        return e;
    }

    /**
     * The named tensor on the CPU, read from the file into memory it owns (see the class comment). Ownership follows
     * {@link Tensor}'s rules: it belongs to the current {@link Scope}, or to the caller when none is open.
     *
     * @throws CheckpointException when the file is gone or changed since {@link #open}, or cannot be read
     */
    public Tensor tensor(String name) {
        Entry e = entry(name);
        long[] shape = e.shape();
        if (e.byteSize() == 0) return Tensor.empty(e.dtype(), Device.CPU, shape);
        String where = file.toString();
        Tensor copy = Tensor.empty(e.dtype(), Device.CPU, shape);
        boolean done = false;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            if (!FileState.of(file).equals(state)) throw changed(where);
            MemorySegment target = copy.asSegment();
            long at = dataStart + e.begin();
            for (long off = 0; off < e.byteSize(); off += WRITE_CHUNK) {
                ByteBuffer chunk = target.asSlice(off, Math.min(WRITE_CHUNK, e.byteSize() - off)).asByteBuffer();
                while (chunk.hasRemaining()) {
                    int n = channel.read(chunk, at + off + chunk.position());
                    if (n < 0) throw changed(where);
                }
            }
            if (!FileState.of(file).equals(state)) throw changed(where);
            done = true;
            return copy;
        } catch (NoSuchFileException ex) {
            throw new CheckpointException(where + ": the file was removed while it was being read", ex);
        } catch (IOException ex) {
            throw new CheckpointException(where + ": tensor " + name + ": cannot read: " + ex, ex);
        } finally {
            if (!done) copy.close();
        }
    }

    /** Every tensor of the file (see {@link #tensor}), by sorted name; the caller (or its scope) owns them. */
    public Map<String, Tensor> tensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try {
            for (String name : entries.keySet()) out.put(name, tensor(name));
        } catch (RuntimeException failure) {
            for (Tensor t : out.values()) t.close();  // idempotent, also for tensors a scope owns
            throw failure;
        }
        return out;
    }

    // ---- writing ----

    /** Writes the tensors, each in its own dtype; see {@link #write(Path, Map, Map, DType)}. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        write(file, tensors, metadata, null);
    }

    /**
     * Writes tensors (any device, dtype and layout: each is converted to storeAs, or kept in its own dtype
     * when storeAs is null, and brought to the CPU contiguous, one at a time) and metadata (the header's
     * "__metadata__"; null or empty for none) to file, atomically: a temporary file in the same directory
     * is written, fsynced and renamed over file. The header is padded with spaces to a multiple of 8 bytes
     * and tensors are laid out by decreasing element size, then by name, with no gaps, so every tensor
     * starts aligned for its dtype (for a file of one dtype this is name order).
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata, DType storeAs) {
        String where = file.toString();
        List<Entry> layout = layout(tensors, storeAs, where);
        byte[] header = header(layout, metadata, where);
        try {
            FileOps.writeAtomically(file, channel -> {
                ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
                FileOps.writeFully(channel, prefix);
                FileOps.writeFully(channel, ByteBuffer.wrap(header));
                for (Entry e : layout) writeData(channel, tensors.get(e.name()), e, where);
            });
        } catch (IOException e) {
            throw new CheckpointException(where + ": cannot write: " + e, e);
        }
    }

    private static List<Entry> layout(Map<String, Tensor> tensors, DType storeAs, String where) {
        List<Entry> sized = new ArrayList<>();
        for (var t : tensors.entrySet()) {
            String name = t.getKey();
            if (name == null || name.isEmpty() || name.equals("__metadata__")) {
                throw new CheckpointException(where + ": invalid tensor name \"" + name + "\"");
            }
            Tensor tensor = t.getValue();
            if (tensor == null) throw new CheckpointException(where + ": tensor " + name + " is null");
            DType dtype;
            long[] shape;
            try {
                dtype = storeAs != null ? storeAs : tensor.dtype();
                shape = tensor.shape();
            } catch (RuntimeException e) {
                throw new CheckpointException(where + ": tensor " + name + ": " + e.getMessage(), e);
            }
            long bytes = dtype.byteSize();
            for (long d : shape) bytes = Math.multiplyExact(bytes, d);
            sized.add(new Entry(name, dtype, shape, 0, bytes));
        }
        sized.sort(Comparator.comparingInt((Entry e) -> -e.dtype().byteSize()).thenComparing(Entry::name));
        List<Entry> placed = new ArrayList<>();
        long offset = 0;
        for (Entry e : sized) {
            placed.add(new Entry(e.name(), e.dtype(), e.shape(), offset, offset + e.byteSize()));
            offset += e.byteSize();
        }
        return placed;
    }

    private static byte[] header(List<Entry> layout, Map<String, String> metadata, String where) {
        JsonObject root = new JsonObject();
        if (metadata != null && !metadata.isEmpty()) {
            JsonObject meta = new JsonObject();
            for (var m : new TreeMap<>(metadata).entrySet()) {
                if (m.getValue() == null) throw new CheckpointException(where + ": metadata \"" + m.getKey() + "\" is null");
                meta.addProperty(m.getKey(), m.getValue());
            }
            root.add("__metadata__", meta);
        }
        for (Entry e : layout) {
            JsonObject o = new JsonObject();
            o.addProperty("dtype", dtypeName(e.dtype()));
            JsonArray shape = new JsonArray();
            for (long d : e.shape()) shape.add(new JsonPrimitive(d));
            o.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(new JsonPrimitive(e.begin()));
            offsets.add(new JsonPrimitive(e.end()));
            o.add("data_offsets", offsets);
            root.add(e.name(), o);
        }
        byte[] json = Json.COMPACT.toJson(root).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;  // data then starts 8-aligned, as Hugging Face's writer does
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    private static void writeData(FileChannel channel, Tensor tensor, Entry e, String where) throws IOException {
        if (e.byteSize() == 0) return;
        try (Scope scope = Scope.open()) {
            MemorySegment data;
            try {
                Tensor cpu = tensor.detach().to(e.dtype(), Device.CPU).contiguous();
                data = cpu.asSegment();
            } catch (RuntimeException failure) {
                throw new CheckpointException(where + ": tensor " + e.name() + ": " + failure.getMessage(), failure);
            }
            if (data.byteSize() != e.byteSize()) {
                throw new CheckpointException(where + ": tensor " + e.name() + " changed while being written ("
                        + data.byteSize() + " bytes instead of " + e.byteSize() + ")");
            }
            for (long at = 0; at < data.byteSize(); at += WRITE_CHUNK) {
                FileOps.writeFully(channel, data.asSlice(at, Math.min(WRITE_CHUNK, data.byteSize() - at)).asByteBuffer());
            }
        }
    }

    @Override
    public String toString() {
        return "Safetensors[" + file + ", " + entries.size() + " tensors]";
    }
}
