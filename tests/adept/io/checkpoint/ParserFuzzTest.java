package adept.io.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Device;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded random mutations of a safetensors header, a shard index and config.json: opening and loading the mutated
 * checkpoint either succeeds or fails with adept's one-line {@link CheckpointException}; and of the files a run reads
 * back (trainer_state.json, metrics.jsonl) and of run configs (YAML, JSON), which are read or refused with an
 * {@link adept.AdeptException} in bounded time. Anything else (a crash, an
 * OutOfMemoryError, a NullPointerException, InvalidPathException, a stack overflow) fails the test with the seed and
 * iteration that reproduce it.
 *
 * <p>The suite runs a short, fixed run (a few seconds). A longer run, with other seeds:
 * <pre>
 * mvn -B -ntp test -Dtest=ParserFuzzTest -Dadept.fuzz.iterations=20000 -Dadept.fuzz.seed=7
 * </pre>
 */
class ParserFuzzTest {
    static final int ITERATIONS = Integer.getInteger("adept.fuzz.iterations", 400);
    static final long SEED = Long.getLong("adept.fuzz.seed", 20261201L);

    /** Tokens that parsers tend to trip over, spliced into the JSON texts. */
    static final String[] TOKENS = {"1e400", "-1", "0", "-0", "1.5", "9223372036854775808", "99999999999", "2147483648", "null", "true",
            "[]", "{}", "\"\"", "\"\\u0000\"", "\"a/b\"", "\"..\"", "[[[[[[[[", "]]]]", "{\"a\":1,\"a\":2}", ",", ":", "\"", "\\", "NaN",
            "\"F32\"", "\"F16\"", "\"U32\"", "\"__metadata__\"", "\"data_offsets\"", "\"shape\"", "\"num_hidden_layers\"", "1000000000",
            "\"llama3\"", "\"rope_scaling\"", "\uFEFF", "\u00e9", "\uD800"};

    @TempDir
    Path tmp;

    @Test
    void mutatedHeadersIndexesAndConfigsGiveOnlyOneLineErrors() throws IOException {
        Path single = tmp.resolve("single");
        Path sharded = tmp.resolve("sharded");
        try (CausalLM model = CausalLM.random(CheckpointTest.tiny(Architecture.LLAMA, false), 1, 0.1, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(model, single);
            Checkpoint.save(model, sharded, SaveOptions.defaults().withMaxShardBytes(10_000));
        }
        byte[] weights = Files.readAllBytes(single.resolve(Checkpoint.WEIGHTS_FILE));
        byte[] config = Files.readAllBytes(single.resolve(ConfigJson.FILE_NAME));
        byte[] index = Files.readAllBytes(sharded.resolve(Checkpoint.INDEX_FILE));
        int headerEnd = 8 + (int) ByteBuffer.wrap(weights, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();

        Random random = new Random(SEED);
        int successes = 0;
        for (int i = 0; i < ITERATIONS; i++) {
            long seed = random.nextLong();
            Random r = new Random(seed);
            int target = r.nextInt(3);
            Path dir = target == 2 ? sharded : single;
            Path file;
            byte[] original;
            byte[] mutated;
            switch (target) {
                case 0 -> {  // the safetensors header (and its length field), data left as is
                    file = single.resolve(Checkpoint.WEIGHTS_FILE);
                    original = weights;
                    mutated = mutateHeader(weights, headerEnd, r);
                }
                case 1 -> {
                    file = single.resolve(ConfigJson.FILE_NAME);
                    original = config;
                    mutated = mutateText(config, r);
                }
                default -> {
                    file = sharded.resolve(Checkpoint.INDEX_FILE);
                    original = index;
                    mutated = mutateText(index, r);
                }
            }
            Files.write(file, mutated);
            try {
                Checkpoint ck = Checkpoint.open(dir);
                try (CausalLM loaded = ck.loadModel(null, Device.CPU)) {
                    assertNotNull(loaded);
                }
                successes++;
            } catch (CheckpointException e) {
                assertNotNull(e.getMessage());
                assertFalse(e.getMessage().isBlank() || e.getMessage().contains("\n"),
                        "iteration " + i + " (seed " + seed + "): message not one line: " + e.getMessage());
            } catch (Throwable t) {
                Path kept = tmp.getParent().resolve("fuzz-failure-" + seed + "-" + file.getFileName());
                Files.write(kept, mutated);
                fail("iteration " + i + " (seed " + seed + ", file kept as " + kept + "): " + t, t);
            } finally {
                Files.write(file, original);
            }
        }
        assertTrue(successes < ITERATIONS, "some mutations must be refused");
    }

    /** How long one read of a mutated file may take: parsers must not loop or blow up on damage. */
    static final double MAX_SECONDS_PER_READ = 5;

    /**
     * Mutations of base written to file, each read by reader: it succeeds or fails with adept's one-line
     * {@link adept.AdeptException}; anything else, or a read slower than {@link #MAX_SECONDS_PER_READ}, fails the test
     * with the seed that reproduces it. Returns how many mutations were refused.
     */
    int fuzz(String what, byte[] base, Path file, java.util.function.Consumer<Path> reader) throws IOException {
        Random random = new Random(SEED ^ what.hashCode());
        int refused = 0;
        for (int i = 0; i < ITERATIONS; i++) {
            long seed = random.nextLong();
            byte[] mutated = mutateText(base, new Random(seed));
            Files.write(file, mutated);
            long t0 = System.nanoTime();
            try {
                reader.accept(file);
            } catch (adept.AdeptException e) {
                refused++;
                assertNotNull(e.getMessage());
                assertFalse(e.getMessage().isBlank() || e.getMessage().contains("\n"),
                        what + " iteration " + i + " (seed " + seed + "): message not one line: " + e.getMessage());
            } catch (Throwable t) {
                Path kept = tmp.getParent().resolve("fuzz-failure-" + seed + "-" + file.getFileName());
                Files.write(kept, mutated);
                fail(what + " iteration " + i + " (seed " + seed + ", file kept as " + kept + "): " + t, t);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds < MAX_SECONDS_PER_READ, what + " iteration " + i + " (seed " + seed + "): " + seconds + " s");
        }
        return refused;
    }

    @Test
    void mutatedTrainerStatesAreReadOrRefusedInOneLine() throws IOException {
        adept.train.TrainSettings settings = adept.train.TrainSettings.builder().model(Path.of("base")).data(Path.of("domain.jsonl")).probe(Path.of("probe.jsonl"))
                .out(Path.of("run")).steps(30).lr(3e-3).build();
        String state = new adept.train.TrainerState(20, new adept.io.data.DataPosition(1, 7), "tokens-0123abcd.bin",
                java.util.List.of("model.layers.0.mlp.up_proj.weight", "model.layers.0.self_attn.q_proj.weight"), 10, 20_480, 12.5, settings,
                new adept.train.TrainerState.Preparation("expanded 2 -> 3 layers, copying [0]", java.util.List.of(0.25, -1e-3))).toJson();
        Path file = tmp.resolve("trainer_state.json");
        Files.writeString(file, state);
        assertEquals(20, adept.train.TrainerState.read(file).step(), "the unmutated state reads back");
        int refused = fuzz("trainer_state.json", state.getBytes(StandardCharsets.UTF_8), file, f -> {
            adept.train.TrainerState s = adept.train.TrainerState.read(f);
            // what it accepts is in range (the fields a resume uses)
            assertTrue(s.step() >= 0 && s.data().offset() >= 0 && s.data().epoch() >= 0 && !s.trainable().isEmpty() && s.lastRefreshStep() <= s.step());
        });
        assertTrue(refused > ITERATIONS / 10, "refused " + refused);
    }

    @Test
    void mutatedMetricsLogsAreReadOrRefusedInOneLine() throws IOException {
        StringBuilder log = new StringBuilder();
        for (int step = 1; step <= 12; step++) {
            log.append("{\"step\":").append(step).append(",\"loss\":").append(5.0 / step).append(",\"lr\":0.001,\"grad_norm\":1.25,\"tokens\":")
                    .append(64 * step).append(step % 4 == 0 ? ",\"eval_loss\":3.5" : "").append("}\n");
        }
        Path file = tmp.resolve("metrics.jsonl");
        int refused = fuzz("metrics.jsonl", log.toString().getBytes(StandardCharsets.UTF_8), file, f -> {
            for (com.google.gson.JsonObject o : adept.train.RunLog.read(f)) assertTrue(o.get("step").getAsLong() >= 0);
            new adept.train.RunLog(f).truncateFrom(6);  // what a resume does with it
        });
        assertTrue(refused > ITERATIONS / 10, "refused " + refused);
    }

    @Test
    void mutatedRunConfigsAreReadOrRefusedInOneLine() throws Exception {
        Path base = adept.testing.TinyModel.write(tmp.resolve("base"), 3);
        Files.writeString(tmp.resolve("domain.txt"), "the cat sat on the mat .\n".repeat(20));
        Path yaml = tmp.resolve("pipeline.yaml");
        String yamlText = """
                out: results
                model: base
                data: domain.txt
                steps: 4
                block_size: 8
                lr: 1e-3
                runs:
                  - {name: full, mode: full}
                  - name: lp
                    mode: llama-pro
                    k: 1
                    seed: &s 3
                    warmup_steps: *s
                evaluate:
                  data: [domain.txt]
                  batch_size: 2
                """;
        Files.writeString(yaml, yamlText);
        assertEquals(2, runConfig(yaml).runs.size(), "the unmutated config reads");
        int refusedYaml = fuzz("run config (YAML)", yamlText.getBytes(StandardCharsets.UTF_8), yaml, ParserFuzzTest::runConfig);
        Path json = tmp.resolve("pipeline.json");
        String jsonText = """
                {"out": "results", "model": "base", "data": "domain.txt", "steps": 4, "block_size": 8, "lr": 1e-3,
                 "runs": [{"name": "full", "mode": "full"}, {"name": "lp", "mode": "llama-pro", "k": 1, "seed": 3}],
                 "evaluate": {"data": ["domain.txt"], "batch_size": 2}}
                """;
        Files.writeString(json, jsonText);
        assertEquals(2, runConfig(json).runs.size(), "the unmutated config reads");
        int refusedJson = fuzz("run config (JSON)", jsonText.getBytes(StandardCharsets.UTF_8), json, ParserFuzzTest::runConfig);
        assertTrue(refusedYaml > ITERATIONS / 10 && refusedJson > ITERATIONS / 10, "refused " + refusedYaml + " / " + refusedJson);
        assertTrue(Files.isDirectory(base));
    }

    /** A run config as `adept run` reads it: the file into a tree (adept.cli), then checked (adept.train). */
    static adept.train.RunConfig runConfig(Path file) {
        return adept.train.RunConfig.parseTree(adept.cli.ConfigFiles.load(file), file, file.toString());
    }

    static byte[] mutateHeader(byte[] file, int headerEnd, Random r) {
        byte[] header = Arrays.copyOfRange(file, 8, headerEnd);
        byte[] data = Arrays.copyOfRange(file, headerEnd, file.length);
        long length;
        byte[] newHeader;
        if (r.nextInt(8) == 0) {  // only the length field
            newHeader = header;
            long[] lengths = {0, 1, 2, header.length - 1, header.length + 1, file.length, -1, Long.MAX_VALUE, 100_000_001, r.nextInt()};
            length = lengths[r.nextInt(lengths.length)];
        } else {
            newHeader = mutateText(header, r);
            length = newHeader.length;
        }
        if (r.nextInt(10) == 0) data = Arrays.copyOf(data, r.nextInt(data.length + 16));  // truncated or extended data
        ByteBuffer b = ByteBuffer.allocate(8 + newHeader.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(length).put(newHeader).put(data);
        return b.array();
    }

    static byte[] mutateText(byte[] bytes, Random r) {
        byte[] out = bytes.clone();
        int edits = 1 + r.nextInt(4);
        for (int e = 0; e < edits; e++) {
            int at = out.length == 0 ? 0 : r.nextInt(out.length);
            switch (r.nextInt(7)) {
                case 0 -> {  // flip a byte
                    if (out.length > 0) out[at] = (byte) r.nextInt(256);
                }
                case 1 -> {  // delete a range
                    int n = Math.min(out.length - at, 1 + r.nextInt(16));
                    byte[] shorter = new byte[out.length - n];
                    System.arraycopy(out, 0, shorter, 0, at);
                    System.arraycopy(out, at + n, shorter, at, out.length - at - n);
                    out = shorter;
                }
                case 2, 3 -> out = insert(out, at, TOKENS[r.nextInt(TOKENS.length)].getBytes(StandardCharsets.UTF_8));
                case 4 -> {  // replace a number by another
                    int digit = indexOfDigit(out, at);
                    if (digit >= 0) {
                        int end = digit;
                        while (end < out.length && (Character.isDigit(out[end]) || out[end] == '.' || out[end] == 'e' || out[end] == '-')) end++;
                        byte[] number = TOKENS[r.nextInt(10)].getBytes(StandardCharsets.UTF_8);
                        byte[] cut = new byte[out.length - (end - digit)];
                        System.arraycopy(out, 0, cut, 0, digit);
                        System.arraycopy(out, end, cut, digit, out.length - end);
                        out = insert(cut, digit, number);
                    }
                }
                case 5 -> {  // duplicate a range (duplicate keys, repeated entries)
                    int n = Math.min(out.length - at, 1 + r.nextInt(80));
                    out = insert(out, at, Arrays.copyOfRange(out, at, at + n));
                }
                default -> out = Arrays.copyOf(out, r.nextInt(out.length + 1));  // truncate
            }
        }
        return out;
    }

    static int indexOfDigit(byte[] b, int from) {
        for (int i = from; i < b.length; i++) if (b[i] >= '0' && b[i] <= '9') return i;
        return -1;
    }

    static byte[] insert(byte[] b, int at, byte[] piece) {
        byte[] out = new byte[b.length + piece.length];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(piece, 0, out, at, piece.length);
        System.arraycopy(b, at, out, at + piece.length, b.length - at);
        return out;
    }
}
