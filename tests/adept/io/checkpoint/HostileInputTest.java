package adept.io.checkpoint;

import static adept.io.checkpoint.SafetensorsTest.assertMentions;
import static adept.io.checkpoint.SafetensorsTest.floats;
import static adept.io.checkpoint.SafetensorsTest.rawFile;
import static org.junit.jupiter.api.Assertions.*;

import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Device;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 9: damaged, hostile and inconsistent checkpoint files give one-line errors, before any large allocation. */
class HostileInputTest {
    @TempDir
    Path tmp;

    static CheckpointException fails(Path file) {
        return assertThrows(CheckpointException.class, () -> Safetensors.open(file));
    }

    static void assertOneLine(Throwable e) {
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }

    Path savedModel(String name) {
        Path dir = tmp.resolve(name);
        try (CausalLM model = CausalLM.random(CheckpointTest.tiny(Architecture.LLAMA, false), 1, 0.1, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(model, dir);
        }
        return dir;
    }

    // ---- safetensors: as Hugging Face's reader ----

    @Test
    void gapsTrailingBytesAndLateStartsAreRefused() throws IOException {
        String a = "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
        assertMentions(fails(rawFile(tmp.resolve("gap.safetensors"), "{" + a + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                floats(1, 2, 3))), "gap.safetensors", "tensor b", "gap of 4 bytes", "contiguous");
        assertMentions(fails(rawFile(tmp.resolve("trailing.safetensors"), "{" + a + "}", floats(1, 2))),
                "trailing.safetensors", "4 bytes after the last tensor");
        assertMentions(fails(rawFile(tmp.resolve("late.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                floats(1, 2))), "late.safetensors", "gap of 4 bytes after the header");
        assertMentions(fails(rawFile(tmp.resolve("nodata.safetensors"), "{}", floats(1))), "nodata.safetensors", "4 bytes after");
        // Well-formed: empty tensors may sit anywhere within the covered range.
        Path ok = rawFile(tmp.resolve("ok.safetensors"),
                "{" + a + ",\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                floats(1, 2));
        assertEquals(List.of("a", "b", "e"), Safetensors.open(ok).names());
    }

    @Test
    void duplicateTensorNamesAndHugeNumbersAreRefused() throws IOException {
        String t = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
        CheckpointException dup = fails(rawFile(tmp.resolve("dup.safetensors"), "{\"w\":" + t + ",\"w\":" + t + "}", floats(1)));
        assertMentions(dup, "dup.safetensors", "\"w\" occurs twice");
        assertOneLine(dup);
        assertMentions(fails(rawFile(tmp.resolve("inf.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[1e400],\"data_offsets\":[0,4]}}",
                floats(1))), "inf.safetensors", "1e400", "out of range");
    }

    @Test
    void headerLengthZeroAndNonObjectHeadersSayWhatIsWrong() throws IOException {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(16).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0).putLong(0);
        CheckpointException zero = fails(Files.write(tmp.resolve("zero.safetensors"), b.array()));
        assertMentions(zero, "zero.safetensors", "header length 0 is too small");
        assertFalse(zero.getMessage().contains("exceeds"), zero.getMessage());
        assertMentions(fails(rawFile(tmp.resolve("arr.safetensors"), "[1]", new byte[0])), "does not start with '{'");
    }

    @Test
    void danglingSymlinkIsNamedAsSuch() throws IOException {
        Path dir = savedModel("m");
        Path weights = dir.resolve(Checkpoint.WEIGHTS_FILE);
        Files.delete(weights);
        Files.createSymbolicLink(weights, tmp.resolve("elsewhere/model.safetensors"));
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(dir));
        assertMentions(e, "model.safetensors", "dangling symbolic link", "elsewhere");
    }

    // ---- config.json ----

    @Test
    void emptyConfigJsonSaysEmpty() throws IOException {
        Path dir = savedModel("m");
        Files.writeString(dir.resolve("config.json"), "");
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(dir));
        assertMentions(e, "config.json", "empty");
        assertFalse(e.getMessage().contains("null"), e.getMessage());
    }

    @Test
    void absurdLayerCountIsRefusedBeforeAnythingIsAllocated() throws IOException {
        Path dir = savedModel("m");
        Path config = dir.resolve("config.json");
        JsonObject o = JsonParser.parseString(Files.readString(config)).getAsJsonObject();
        o.addProperty("num_hidden_layers", 1_000_000_000);
        Files.writeString(config, o.toString());
        long before = Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory();
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(dir).loadModel(null, Device.CPU));
        assertMentions(e, "model.safetensors", "is missing", "config.json", "num_hidden_layers 1000000000", "enough for at most");
        long after = Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory();
        assertTrue(after - before < 512L << 20, "no gigabytes allocated before the error");
    }

    @Test
    void oversizedJsonFilesAreRefusedWithoutReadingThemWhole() throws IOException {
        Path dir = savedModel("m");
        Path config = dir.resolve("config.json");
        String json = Files.readString(config);
        Files.writeString(config, json + " ".repeat((int) ConfigJson.MAX_BYTES));
        assertMentions(assertThrows(CheckpointException.class, () -> Checkpoint.open(dir)), "config.json", "larger than");
        Files.writeString(config, json);
        // config.json as a device: refused before reading.
        Files.delete(config);
        Files.createSymbolicLink(config, Path.of("/dev/zero"));
        assertMentions(assertThrows(CheckpointException.class, () -> Checkpoint.open(dir)), "config.json", "not a regular file");
    }

    @Test
    void invalidRopeScalingPrintsTheFilesValues() throws IOException {
        Path dir = savedModel("m");
        Path config = dir.resolve("config.json");
        JsonObject o = JsonParser.parseString(Files.readString(config)).getAsJsonObject();
        o.add("rope_scaling", JsonParser.parseString(
                "{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 4.0, \"high_freq_factor\": 1.0, \"original_max_position_embeddings\": 16}"));
        Files.writeString(config, o.toString());
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(dir));
        assertMentions(e, "config.json", "rope_scaling", "factor 8.0", "low_freq_factor 4.0", "high_freq_factor 1.0");
        assertFalse(e.getMessage().contains("type=null"), e.getMessage());
    }

    // ---- the shard index ----

    Path shardedModel() {
        Path dir = tmp.resolve("sharded");
        try (CausalLM model = CausalLM.random(CheckpointTest.tiny(Architecture.LLAMA, false), 1, 0.1, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(model, dir, SaveOptions.defaults().withMaxShardBytes(10_000));
        }
        return dir;
    }

    @Test
    void nulOrControlCharacterInWeightMapIsOneLineError() throws IOException {
        Path dir = shardedModel();
        Path index = dir.resolve(Checkpoint.INDEX_FILE);
        JsonObject o = JsonParser.parseString(Files.readString(index)).getAsJsonObject();
        String tensor = o.getAsJsonObject("weight_map").keySet().iterator().next();
        o.getAsJsonObject("weight_map").addProperty(tensor, "model-00001\u0000.safetensors");
        Files.writeString(index, o.toString());
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(dir));
        assertMentions(e, Checkpoint.INDEX_FILE, "\\u0000", "not a file name");
        assertOneLine(e);
    }

    @Test
    void indexAsADeviceOrHugeIsRefused() throws IOException {
        Path dir = shardedModel();
        Path index = dir.resolve(Checkpoint.INDEX_FILE);
        Files.delete(index);
        Files.createSymbolicLink(index, Path.of("/dev/zero"));
        assertMentions(assertThrows(CheckpointException.class, () -> Checkpoint.open(dir)), Checkpoint.INDEX_FILE, "not a regular file");
    }

    // ---- an interrupted save (expand killed while writing) ----

    /** A pid that no running process has: a dead run's. */
    static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }

    @Test
    void staleTemporaryFoldersOfDeadRunsAreRemovedLiveOnesKept() throws Exception {
        Path dir = savedModel("out");
        long dead = deadPid();
        Path stale = Files.createDirectories(tmp.resolve(".out.tmp-" + dead + "-abc"));
        Files.writeString(stale.resolve("config.json"), "{}");
        Path live = Files.createDirectories(tmp.resolve(".out.tmp-" + ProcessHandle.current().parent().orElseThrow().pid() + "-def"));
        Path staleOld = Files.createDirectories(tmp.resolve(".out.old-" + dead + "-123"));
        assertFalse(Checkpoint.recover(dir));
        assertFalse(Files.exists(stale), "a dead run's temporary folder is removed");
        assertFalse(Files.exists(staleOld), "a dead run's previous version is removed once the output exists");
        assertTrue(Files.exists(live), "a running process's folder is left alone");
        assertTrue(Files.exists(dir.resolve("config.json")));
    }

    @Test
    void replaceKilledBetweenItsTwoRenamesIsRestoredByTheNextRun() throws Exception {
        Path dir = savedModel("out");
        long dead = deadPid();
        // What kill -9 between the renames of --force left: the old copy moved aside, the new one not yet in place.
        Path old = tmp.resolve(".out.old-" + dead + "-77");
        Files.move(dir, old);
        Files.createDirectories(tmp.resolve(".out.tmp-" + dead + "-78"));
        // The next reader (or writer) finds the output again.
        Checkpoint ck = Checkpoint.open(dir);
        assertEquals(List.of(dir.resolve(Checkpoint.WEIGHTS_FILE)), ck.files());
        try (var files = Files.list(tmp)) {
            assertEquals(List.of("out"), files.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }
}
