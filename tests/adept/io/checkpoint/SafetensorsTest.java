package adept.io.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
    @TempDir
    Path tmp;

    /** A safetensors file from a raw header string and data bytes (the header is written exactly as given). */
    static Path rawFile(Path file, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Files.write(file, b.array());
        return file;
    }

    static byte[] floats(float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return b.array();
    }

    static CheckpointException fails(Path file) {
        return assertThrows(CheckpointException.class, () -> Safetensors.open(file));
    }

    static void assertMentions(Throwable e, String... parts) {
        for (String p : parts) assertTrue(e.getMessage().contains(p), "message should name '" + p + "': " + e.getMessage());
    }

    @Test
    void writesAndReadsEveryDtypeWithMetadata() throws IOException {
        Path file = tmp.resolve("all.safetensors");
        try (Scope scope = Scope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            Tensor base = Tensor.arange(0, 12, 1, DType.FLOAT32, Device.CPU).reshape(3, 4);
            for (DType d : DType.values()) tensors.put("t." + d, base.to(d));
            tensors.put("transposed", base.transpose(0, 1));  // non-contiguous input
            tensors.put("scalar", Tensor.scalar(2.5, DType.FLOAT64, Device.CPU));
            tensors.put("empty", Tensor.zeros(DType.FLOAT32, Device.CPU, 0, 3));
            Safetensors.write(file, tensors, Map.of("format", "pt", "note", "héllo <&>"));

            byte[] bytes = Files.readAllBytes(file);
            long headerLength = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, headerLength % 8, "header padded to a multiple of 8");
            String header = new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8);
            assertTrue(header.endsWith(" ") || header.endsWith("}"));
            assertTrue(header.contains("\"note\":\"héllo <&>\""), header);

            Safetensors st = Safetensors.open(file);
            assertEquals(Map.of("format", "pt", "note", "héllo <&>"), st.metadata());
            for (DType d : DType.values()) {
                Tensor t = st.tensor("t." + d);
                assertEquals(d, t.dtype());
                assertArrayEquals(new long[] {3, 4}, t.shape());
                assertArrayEquals(base.to(d).toFloatArray(), t.toFloatArray(), d.toString());
                assertEquals(0, (st.entry("t." + d).begin() + 8 + headerLength) % d.byteSize(), "aligned " + d);
            }
            assertArrayEquals(base.transpose(0, 1).contiguous().toFloatArray(), st.tensor("transposed").toFloatArray());
            assertArrayEquals(new long[] {4, 3}, st.tensor("transposed").shape());
            assertEquals(2.5, st.tensor("scalar").item());
            assertEquals(0, st.tensor("scalar").dim());
            assertArrayEquals(new long[] {0, 3}, st.tensor("empty").shape());
            // Tensors with the same element size come in name order, larger elements first.
            List<Safetensors.Entry> byOffset = st.entries().values().stream().sorted((a, b) -> Long.compare(a.begin(), b.begin())).toList();
            for (int i = 1; i < byOffset.size(); i++) {
                Safetensors.Entry a = byOffset.get(i - 1), b = byOffset.get(i);
                assertEquals(a.end(), b.begin(), "no gaps");
                assertTrue(a.dtype().byteSize() > b.dtype().byteSize()
                        || (a.dtype().byteSize() == b.dtype().byteSize() && a.name().compareTo(b.name()) < 0), a + " before " + b);
            }
        }
    }

    @Test
    void tensorsShareTheMappedFileWithoutCopying() throws IOException {
        Path file = tmp.resolve("zero.safetensors");
        try (Scope scope = Scope.open()) {
            Safetensors.write(file, Map.of("a", Tensor.randn(8, 16), "b", Tensor.randn(DType.BFLOAT16, Device.CPU, 4, 4)), Map.of());
            Safetensors st = Safetensors.open(file);
            for (String name : st.names()) {
                Tensor t = st.tensor(name);
                assertTrue(st.isMapped(t), name + " should point into the mapping");
                long expected = st.mappingAddress() + 8 + headerLength(file) + st.entry(name).begin();
                assertEquals(expected, t.dataPointer(), name);
            }
            // Copy-on-write: an in-place update does not reach the file.
            byte[] before = Files.readAllBytes(file);
            Tensor a = st.tensor("a");
            a.fill(7.0);
            assertEquals(7.0, a.getDouble(3, 3));
            assertArrayEquals(before, Files.readAllBytes(file), "the file must not change");
            assertNotEquals(7.0, Safetensors.open(file).tensor("a").getDouble(3, 3));
        }
    }

    static long headerLength(Path file) throws IOException {
        return ByteBuffer.wrap(Files.readAllBytes(file), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    @Test
    void misalignedDataIsCopied() throws IOException {
        // Header of odd length: the F32 data starts at an odd address, which libtorch must not be given.
        String header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
        assertEquals(1, (8 + header.length()) % 2, "test needs an odd data start");
        Path file = rawFile(tmp.resolve("odd.safetensors"), header, floats(1.5f, -2f, 3.25f));
        try (Scope scope = Scope.open()) {
            Safetensors st = Safetensors.open(file);
            Tensor t = st.tensor("x");
            assertFalse(st.isMapped(t), "a misaligned tensor is copied");
            assertArrayEquals(new float[] {1.5f, -2f, 3.25f}, t.toFloatArray());
        }
    }

    @Test
    void readOnlyMappingIsCopiedNeverShared() throws IOException {
        Path file = tmp.resolve("ro.safetensors");
        try (Scope scope = Scope.open()) {
            Tensor source = Tensor.randn(5, 3);
            Safetensors.write(file, Map.of("w", source), Map.of());
            Safetensors st = Safetensors.open(file, false);  // what a read-only file gets
            Tensor t = st.tensor("w");
            assertFalse(st.isMapped(t));
            assertArrayEquals(source.toFloatArray(), t.toFloatArray());
            t.fill(1.0);  // its own memory: safe to update in place
        }
    }

    @Test
    void mappingOutlivesTheReaderWhileTensorsUseIt() throws Exception {
        Path file = tmp.resolve("gc.safetensors");
        float[] values = new float[4096];
        for (int i = 0; i < values.length; i++) values[i] = i * 0.25f - 100;
        try (Tensor t = Tensor.of(values, 64, 64)) {
            Safetensors.write(file, Map.of("w", t), Map.of());
        }
        String path = file.toRealPath().toString();
        Tensor loaded = loadAndForget(file);  // no reference to the Safetensors object or its arena is left
        for (int i = 0; i < 5; i++) {
            System.gc();
            byte[][] garbage = new byte[64][];
            for (int j = 0; j < garbage.length; j++) garbage[j] = new byte[1 << 16];
            Thread.sleep(20);
        }
        if (Files.isReadable(Path.of("/proc/self/maps"))) assertTrue(mapped(path), "the tensor keeps the file mapped");
        assertArrayEquals(values, loaded.toFloatArray(), "values read through libtorch after GC");
        Tensor view = loaded.narrow(0, 10, 2).keep();
        loaded.close();
        System.gc();
        Thread.sleep(20);
        assertEquals(values[640 + 5], (float) view.getDouble(0, 5), "a view keeps the storage and the mapping");
        view.close();
        if (Files.isReadable(Path.of("/proc/self/maps"))) {
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (mapped(path) && System.nanoTime() < deadline) {
                System.gc();
                Thread.sleep(50);
            }
            assertFalse(mapped(path), "once libtorch frees the storage the mapping is unmapped");
        }
    }

    private static Tensor loadAndForget(Path file) {
        return Safetensors.open(file).tensor("w");  // no scope open: the caller owns it
    }

    private static boolean mapped(String path) throws IOException {
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.anyMatch(l -> l.endsWith(path));
        }
    }

    @Test
    void truncatedFileNamesFileAndTensor() throws IOException {
        Path file = tmp.resolve("model.safetensors");
        try (Scope scope = Scope.open()) {
            Safetensors.write(file, Map.of("model.layers.0.mlp.up_proj.weight", Tensor.randn(16, 16)), Map.of());
        }
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, java.util.Arrays.copyOf(bytes, bytes.length - 100));
        CheckpointException e = fails(file);
        assertMentions(e, "model.safetensors", "tensor model.layers.0.mlp.up_proj.weight", "data_offsets", "truncated");

        Files.write(file, java.util.Arrays.copyOf(bytes, 5));
        assertMentions(fails(file), "model.safetensors", "too short");
    }

    @Test
    void headerLengthBeyondTheFileIsAnError() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + 10).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(1_000_000).put("{}        ".getBytes(StandardCharsets.US_ASCII));
        Path file = Files.write(tmp.resolve("big.safetensors"), b.array());
        assertMentions(fails(file), "big.safetensors", "header length 1000000", "exceeds the file");

        b.clear();
        b.putLong(-1);  // 2^64-1 as unsigned
        Files.write(file, b.array());
        assertMentions(fails(file), "big.safetensors", "header length");
    }

    @Test
    void malformedHeadersAreErrors() throws IOException {
        assertMentions(fails(rawFile(tmp.resolve("bad.safetensors"), "{\"x\": {\"dtype\": \"F32\",", new byte[0])),
                "bad.safetensors", "malformed JSON");
        assertMentions(fails(rawFile(tmp.resolve("trail.safetensors"), "{} {}", new byte[0])), "trail.safetensors", "malformed JSON");
        assertMentions(fails(rawFile(tmp.resolve("array.safetensors"), "[1, 2]", new byte[0])), "array.safetensors", "not a JSON object");
        assertMentions(fails(rawFile(tmp.resolve("noshape.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", floats(1))),
                "noshape.safetensors", "tensor w", "shape");
        assertMentions(fails(rawFile(tmp.resolve("neg.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", floats(1))),
                "neg.safetensors", "tensor w", "invalid size");
        assertMentions(fails(rawFile(tmp.resolve("size.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", floats(1, 2))),
                "size.safetensors", "tensor w", "needs 8");
        assertMentions(fails(rawFile(tmp.resolve("order.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", floats(1, 2))),
                "order.safetensors", "tensor w", "data_offsets");
        assertMentions(fails(rawFile(tmp.resolve("overlap.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                floats(1, 2, 3))), "overlap.safetensors", "tensor b", "overlap", "tensor a");
        assertMentions(fails(rawFile(tmp.resolve("meta.safetensors"), "{\"__metadata__\":{\"n\":1}}", new byte[0])),
                "meta.safetensors", "__metadata__", "\"n\"");
        byte[] notUtf8 = {'{', '"', (byte) 0xff, '"', ':', '1', '}'};
        ByteBuffer b = ByteBuffer.allocate(8 + notUtf8.length).order(ByteOrder.LITTLE_ENDIAN).putLong(notUtf8.length).put(notUtf8);
        assertMentions(fails(Files.write(tmp.resolve("utf.safetensors"), b.array())), "utf.safetensors", "UTF-8");
    }

    @Test
    void unsupportedDtypesAreNamed() throws IOException {
        for (String dtype : List.of("F8_E4M3", "C64", "U32")) {
            Path file = rawFile(tmp.resolve(dtype + ".safetensors"),
                    "{\"model.norm.weight\":{\"dtype\":\"" + dtype + "\",\"shape\":[1],\"data_offsets\":[0,8]}}", new byte[8]);
            assertMentions(fails(file), dtype + ".safetensors", "tensor model.norm.weight", "dtype " + dtype, "not supported");
        }
    }

    @Test
    void missingFileAndTensorAreNamed() throws IOException {
        assertMentions(fails(tmp.resolve("absent.safetensors")), "absent.safetensors", "no such file");
        Path file = rawFile(tmp.resolve("one.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}    ", floats(1));
        Safetensors st = Safetensors.open(file);
        assertMentions(assertThrows(CheckpointException.class, () -> st.tensor("v")), "one.safetensors", "tensor v");
    }

    @Test
    void failedWriteLeavesNothingBehind() throws IOException {
        Path file = tmp.resolve("out.safetensors");
        Tensor freed = Tensor.randn(4, 4);
        Tensor good = Tensor.randn(4, 4);
        freed.close();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("a", good);
        tensors.put("b", freed);
        CheckpointException e = assertThrows(CheckpointException.class, () -> Safetensors.write(file, tensors, Map.of()));
        assertMentions(e, "out.safetensors", "tensor b");
        good.close();
        try (Stream<Path> files = Files.list(tmp)) {
            assertEquals(List.of(), files.toList(), "no output and no temporary file");
        }
    }

    @Test
    void rewriteReplacesAtomically() throws IOException {
        Path file = tmp.resolve("w.safetensors");
        try (Scope scope = Scope.open()) {
            Safetensors.write(file, Map.of("x", Tensor.ones(3)), Map.of());
            Safetensors first = Safetensors.open(file);
            Tensor old = first.tensor("x");
            Safetensors.write(file, Map.of("x", Tensor.zeros(5)), Map.of("v", "2"));
            assertArrayEquals(new float[] {1, 1, 1}, old.toFloatArray(), "the old mapping still reads the old file");
            Safetensors second = Safetensors.open(file);
            assertArrayEquals(new float[5], second.tensor("x").toFloatArray());
            assertEquals("2", second.metadata().get("v"));
        }
        try (Stream<Path> files = Files.list(tmp)) {
            assertEquals(List.of(file), files.toList());
        }
    }
}
