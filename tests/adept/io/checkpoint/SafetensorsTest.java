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
    void tensorsOwnTheirBytesSoTheFileMayChangeAfterwards() throws IOException {
        Path file = tmp.resolve("own.safetensors");
        try (Scope scope = Scope.open()) {
            Tensor a0 = Tensor.randn(8, 16);
            Safetensors.write(file, Map.of("a", a0, "b", Tensor.randn(DType.BFLOAT16, Device.CPU, 4, 4)), Map.of());
            Safetensors st = Safetensors.open(file);
            Tensor a = st.tensor("a");
            Tensor b = st.tensor("b");
            float[] bValues = b.toFloatArray();
            // What crashed the JVM with SIGBUS while the tensors were over a mapping of the file.
            Files.write(file, new byte[0]);
            assertArrayEquals(a0.toFloatArray(), a.toFloatArray(), "a loaded tensor does not see the truncation");
            assertArrayEquals(bValues, b.toFloatArray());
            // In-place updates are the process's own: the file (rewritten here) is not touched, nor touches them.
            a.fill(7.0);
            assertEquals(7.0, a.getDouble(3, 3));
            assertEquals(0, Files.size(file));
        }
    }

    @Test
    void fileTruncatedOrRewrittenAfterOpenIsAnErrorNotACrashNorAMixedModel() throws IOException {
        Path file = tmp.resolve("change.safetensors");
        Path other = tmp.resolve("other.safetensors");
        try (Scope scope = Scope.open()) {
            Safetensors.write(file, Map.of("a", Tensor.randn(32, 32), "b", Tensor.randn(32, 32)), Map.of());
            Safetensors.write(other, Map.of("a", Tensor.randn(32, 32), "b", Tensor.randn(32, 32)), Map.of());
            byte[] original = Files.readAllBytes(file);

            Safetensors st = Safetensors.open(file);
            st.tensor("a");
            Files.write(file, java.util.Arrays.copyOf(original, 100));  // truncated in place while "loading"
            assertMentions(assertThrows(CheckpointException.class, () -> st.tensor("b")), "change.safetensors", "changed while it was being read");

            Files.write(file, original);
            Safetensors again = Safetensors.open(file);
            again.tensor("a");
            // cp other.safetensors over it: same size, other bytes (the mtime moves on; make sure it does here).
            Files.write(file, Files.readAllBytes(other));
            Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 5000));
            assertMentions(assertThrows(CheckpointException.class, () -> again.tensor("b")), "changed while it was being read");

            Files.delete(file);
            assertMentions(assertThrows(CheckpointException.class, () -> again.tensor("b")), "change.safetensors", "removed");
        }
    }

    @Test
    void misalignedDataIsRead() throws IOException {
        // Header of odd length: the F32 data starts at an odd offset of the file.
        String header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
        assertEquals(1, (8 + header.length()) % 2, "test needs an odd data start");
        Path file = rawFile(tmp.resolve("odd.safetensors"), header, floats(1.5f, -2f, 3.25f));
        try (Scope scope = Scope.open()) {
            assertArrayEquals(new float[] {1.5f, -2f, 3.25f}, Safetensors.open(file).tensor("x").toFloatArray());
        }
    }

    @Test
    void readOnlyFileIsRead() throws IOException {
        Path file = tmp.resolve("ro.safetensors");
        try (Scope scope = Scope.open()) {
            Tensor source = Tensor.randn(5, 3);
            Safetensors.write(file, Map.of("w", source), Map.of());
            file.toFile().setWritable(false);
            Tensor t = Safetensors.open(file).tensor("w");
            assertArrayEquals(source.toFloatArray(), t.toFloatArray());
            t.fill(1.0);  // its own memory: safe to update in place
        } finally {
            file.toFile().setWritable(true);
        }
    }

    @Test
    void tensorOutlivesTheReader() throws Exception {
        Path file = tmp.resolve("gc.safetensors");
        float[] values = new float[4096];
        for (int i = 0; i < values.length; i++) values[i] = i * 0.25f - 100;
        try (Scope scope = Scope.open()) {
            Safetensors.write(file, Map.of("w", Tensor.of(values, 64, 64)), Map.of());
        }
        Tensor loaded;
        try (Scope scope = Scope.open()) {
            loaded = Safetensors.open(file).tensor("w").keep();  // kept: the caller owns it, the reader is garbage
        }
        System.gc();
        assertArrayEquals(values, loaded.toFloatArray());
        Tensor view;
        try (Scope scope = Scope.open()) {
            view = loaded.narrow(0, 10, 2).keep();
        }
        loaded.close();
        assertEquals(values[640 + 5], (float) view.getDouble(0, 5), "a view keeps the storage");
        view.close();
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
        assertMentions(fails(rawFile(tmp.resolve("array.safetensors"), "[1, 2]", new byte[0])), "array.safetensors", "does not start with '{'");
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
        try (Scope scope = Scope.open()) {
            Tensor freed = Tensor.randn(4, 4);
            Tensor good = Tensor.randn(4, 4);
            freed.close();
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            tensors.put("a", good);
            tensors.put("b", freed);
            CheckpointException e = assertThrows(CheckpointException.class, () -> Safetensors.write(file, tensors, Map.of()));
            assertMentions(e, "out.safetensors", "tensor b");
        }
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
            assertArrayEquals(new float[] {1, 1, 1}, old.toFloatArray(), "a loaded tensor keeps the old values");
            Safetensors second = Safetensors.open(file);
            assertArrayEquals(new float[5], second.tensor("x").toFloatArray());
            assertEquals("2", second.metadata().get("v"));
        }
        try (Stream<Path> files = Files.list(tmp)) {
            assertEquals(List.of(file), files.toList());
        }
    }
}
