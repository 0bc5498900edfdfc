package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.FileOps;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 20, integrity: same-size damage to the newest checkpoint (weights or optimizer state) is caught by its
 * checksums and that checkpoint skipped, in one line, for the previous one, so the rerun ends as an uninterrupted run;
 * a token cache rewritten at the same size is not trusted.
 */
class IntegrityTest {
    @TempDir
    Path dir;

    TrainSettings settings(String out) throws IOException {
        TrainSettings s = TrainFixtures.settings(dir, "full").toBuilder().out(dir.resolve(out)).steps(12).saveEvery(4L).keepCheckpoints(3).build();
        return s;
    }

    /** Flips 64 bytes in the middle of file: its size, header and structure stay as they were. */
    static void flip(Path file) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            long at = f.length() / 2;
            byte[] b = new byte[64];
            f.seek(at);
            f.readFully(b);
            for (int i = 0; i < b.length; i++) b[i] ^= (byte) 0x5a;
            f.seek(at);
            f.write(b);
        }
    }

    /** Runs to the end; then as if killed right after the last checkpoint: no final model or summary. */
    Trainer.Result runAndForgetTheEnd(TrainSettings s, List<String> info) {
        Trainer.Result r = new Trainer(s).listen(new TrainListener() {
            @Override
            public void info(String line) {
                info.add(line);
            }
        }).run();
        return r;
    }

    @Test
    void aDamagedNewestCheckpointIsSkippedForThePreviousOne() throws Exception {
        TrainSettings reference = settings("reference");
        Trainer.Result expected = new Trainer(reference).run();

        for (String damaged : List.of("model.safetensors", RunCheckpoints.OPTIMIZER_FILE)) {
            TrainSettings s = settings("damaged-" + damaged);
            runAndForgetTheEnd(s, new ArrayList<>());
            Path out = s.output().out();
            Path newest = out.resolve("checkpoints").resolve(RunCheckpoints.name(12));
            assertTrue(Files.isRegularFile(newest.resolve(adept.io.checkpoint.Checksums.FILE_NAME)), "checksums written with the checkpoint");
            FileOps.deleteRecursively(out.resolve(RunFolder.MODEL_DIR));
            Files.delete(out.resolve(RunFolder.SUMMARY_FILE));
            long size = Files.size(newest.resolve(damaged));
            flip(newest.resolve(damaged));
            assertEquals(size, Files.size(newest.resolve(damaged)));

            List<String> info = new ArrayList<>();
            Trainer.Result r = runAndForgetTheEnd(s, info);
            List<String> skipped = info.stream().filter(l -> l.contains("step-00000012 is incomplete or damaged")).toList();
            assertEquals(1, skipped.size(), "one line says so: " + info);
            assertTrue(skipped.get(0).contains(damaged) && skipped.get(0).contains("checksum"), skipped.get(0));
            assertTrue(info.stream().anyMatch(l -> l.contains("resuming from") && l.contains(RunCheckpoints.name(8))), info.toString());
            assertEquals(expected.lastLoss(), r.lastLoss(), 0.0, "resumed from step 8, the run ends as the uninterrupted one");
            assertArrayEquals(Files.readAllBytes(reference.output().out().resolve("model/model.safetensors")),
                    Files.readAllBytes(out.resolve("model/model.safetensors")));
        }
    }

    @Test
    void aTokenCacheRewrittenAtTheSameSizeIsNotTrusted() throws Exception {
        TrainSettings s = settings("first").toBuilder().steps(2).build();
        new Trainer(s).run();
        Path cache = s.output().out().resolveSibling(".adept-tokens");
        Path bin;
        try (Stream<Path> files = Files.list(cache)) {
            bin = files.filter(p -> p.getFileName().toString().endsWith(".bin")).findFirst().orElseThrow();
        }
        byte[] original = Files.readAllBytes(bin);
        byte[] other = original.clone();
        for (int i = 0; i + 8 <= other.length; i += 8) {  // swap neighbouring tokens: other valid ids, same size
            for (int k = 0; k < 4; k++) {
                byte t = other[i + k];
                other[i + k] = other[i + 4 + k];
                other[i + 4 + k] = t;
            }
        }
        Files.write(bin, other);
        List<String> info = new ArrayList<>();
        TrainSettings again = settings("second").toBuilder().steps(2).build();
        new Trainer(again).listen(new TrainListener() {
            @Override
            public void info(String line) {
                info.add(line);
            }
        }).run();
        assertTrue(info.stream().anyMatch(l -> l.startsWith("data: ") && l.contains("(token cache rebuilt: " + bin + " fails its CRC32C)")),
                "retokenized, saying why: " + info);
        assertArrayEquals(original, Files.readAllBytes(bin), "rebuilt from the corpus");
        assertEquals(TrainerTestLosses.of(s.output().out()), TrainerTestLosses.of(again.output().out()), "trained on the same data");

        // Rewritten with an id the model does not have, its description updated to match: the cache is blamed and rebuilt,
        // not the corpus or the tokenizer.
        byte[] outside = original.clone();
        java.nio.ByteBuffer.wrap(outside).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(8, 1_000_000);
        Files.write(bin, outside);
        Path json = bin.resolveSibling(bin.getFileName().toString().replace(".bin", ".json"));
        String description = Files.readString(json);
        Files.writeString(json, description.replaceFirst("\"bin_crc32c\": \"[0-9a-f]+\"", "\"bin_crc32c\": \"" + adept.io.checkpoint.Checksums.crc32c(bin) + "\""));
        info.clear();
        TrainSettings third = settings("third").toBuilder().steps(2).build();
        new Trainer(third).listen(new TrainListener() {
            @Override
            public void info(String line) {
                info.add(line);
            }
        }).run();
        assertTrue(info.stream().anyMatch(l -> l.startsWith("data: ") && l.contains("(token cache rebuilt: " + bin + " holds token id 1000000, outside the vocabulary")),
                "the cache blamed: " + info);
        assertArrayEquals(original, Files.readAllBytes(bin), "rebuilt from the corpus");
    }

    @Test
    void damagedTrainerStateFieldsAreOneLineNamingTheFileAndField() throws Exception {
        TrainSettings s = settings("fields").toBuilder().steps(8).build();
        runAndForgetTheEnd(s, new ArrayList<>());
        Path out = s.output().out();
        Path state = out.resolve("checkpoints").resolve(RunCheckpoints.name(8)).resolve(TrainerState.FILE_NAME);
        String original = Files.readString(state);
        // An older checkpoint (no checksums.json) or one rewritten with its checksums: the fields themselves are checked.
        Files.delete(state.getParent().resolve(adept.io.checkpoint.Checksums.FILE_NAME));
        FileOps.deleteRecursively(out.resolve(RunFolder.MODEL_DIR));
        Files.delete(out.resolve(RunFolder.SUMMARY_FILE));
        String[][] structural = {
                {"\"data_offset\": 1e12", "data_offset 1e12 is out of range"},
                {"\"data_epoch\": 1.5", "data_epoch must be a whole number, got 1.5"},
                {"\"step\": \"8\"", "step must be a whole number"},
                {"\"trainable\": []", "trainable must be a non-empty list"},
                {"\"trainable\": [null]", "trainable holds null"},
                {"\"last_refresh_step\": 99", "last_refresh_step 99 is out of range"}};
        for (String[] c : structural) {
            String field = c[0].substring(1, c[0].indexOf('"', 1));
            Files.writeString(state, original.replaceFirst("\"" + field + "\": (\\[[^\\]]*\\]|[^,\\n]*)", java.util.regex.Matcher.quoteReplacement(c[0])));
            TrainException e = assertThrows(TrainException.class, () -> TrainerState.read(state));
            assertEquals(state + ": " + c[1], e.getMessage().substring(0, Math.min(e.getMessage().length(), (state + ": " + c[1]).length())), e.getMessage());
        }
        // Names the model lacks and an offset past the data are found against them: one line, the run refused.
        String[][] semantic = {
                {"\"trainable\": [\"model.layers.99.mlp.up_proj.weight\"]", "trainable names model.layers.99.mlp.up_proj.weight, which is not a tensor"},
                {"\"data_offset\": 100000", "data_offset 100000 is past the"}};
        for (String[] c : semantic) {
            String field = c[0].substring(1, c[0].indexOf('"', 1));
            Files.writeString(state, original.replaceFirst("\"" + field + "\": (\\[[^\\]]*\\]|[^,\\n]*)", java.util.regex.Matcher.quoteReplacement(c[0])));
            TrainException e = assertThrows(TrainException.class, () -> runAndForgetTheEnd(s, new ArrayList<>()));
            assertTrue(e.getMessage().startsWith(state + ": " + c[1]), e.getMessage());
        }
    }

    /** The losses of a run's metrics. */
    static final class TrainerTestLosses {
        static List<Double> of(Path out) {
            List<Double> v = new ArrayList<>();
            for (var o : RunLog.read(out.resolve(RunFolder.METRICS_FILE))) if (o.has("loss")) v.add(o.get("loss").getAsDouble());
            return v;
        }
    }
}
