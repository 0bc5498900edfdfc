package adept.cli;

import static adept.testing.TinyModel.adept;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import adept.nn.Architecture;
import adept.probe.LayerImportance;
import adept.probe.ProbeReport;
import adept.testing.TinyModel;
import adept.testing.TinyModel.Run;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 9 through the command line: hostile input ends in one line on stderr and exit 2, never a stack trace or a wrong score. */
class HostileInputCommandTest {
    @TempDir
    static Path shared;

    static Path model;

    @TempDir
    Path tmp;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModel.write(shared.resolve("tiny"), Architecture.LLAMA, 5);
    }

    /** A copy of the tiny model with config.json edited. */
    Path modelWith(String key, String jsonValue) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("edited"));
        try (var files = Files.list(model)) {
            for (Path f : files.toList()) Files.copy(f, dir.resolve(f.getFileName()));
        }
        Path config = dir.resolve("config.json");
        JsonObject o = JsonParser.parseString(Files.readString(config)).getAsJsonObject();
        o.add(key, JsonParser.parseString(jsonValue));
        Files.writeString(config, o.toString());
        return dir;
    }

    static JsonObject evalResult(Path dir, Path data) throws IOException {
        Path json = data.resolveSibling(data.getFileName() + ".result.json");
        Run run = adept("eval", "--model", dir.toString(), "--data", data.toString(), "--json", json.toString());
        assertEquals(0, run.exit(), run.err());
        return JsonParser.parseString(Files.readString(json)).getAsJsonObject().getAsJsonArray("results").get(0).getAsJsonObject();
    }

    @Test
    void jsonLinesAreScoredAsJsonLinesWhateverTheName() throws IOException {
        String jsonl = "{\"text\": \"the cat sat on the mat\"}\n{\"text\": \"a dog ran to the park\"}\n";
        JsonObject asJsonl = evalResult(model, Files.writeString(tmp.resolve("d.jsonl"), jsonl));
        JsonObject asJson = evalResult(model, Files.writeString(tmp.resolve("d.json"), jsonl));
        Path gz = tmp.resolve("d.jsonl.GZ");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write(jsonl.getBytes(StandardCharsets.UTF_8));
        }
        JsonObject asGz = evalResult(model, gz);
        assertEquals(2, asJsonl.get("items").getAsLong());
        for (JsonObject other : List.of(asJson, asGz)) {
            assertEquals(asJsonl.get("items"), other.get("items"));
            assertEquals(asJsonl.get("loss").getAsDouble(), other.get("loss").getAsDouble(), 1e-9);
        }
    }

    @Test
    void pipesAndBinaryFilesAreRefused() throws Exception {
        Path bin = tmp.resolve("weights.txt");
        Files.write(bin, Files.readAllBytes(model.resolve("model.safetensors")));
        adept("eval", "--model", model.toString(), "--data", bin.toString()).assertUserError("binary");
        Path fifo = tmp.resolve("fifo");
        if (new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0) {
            adept("probe", "--model", model.toString(), "--probe", fifo.toString(), "--out", tmp.resolve("p").toString())
                    .assertUserError("not a regular file");
        }
    }

    @Test
    void invalidUtf8InAMultipleChoiceFileIsAnError() throws IOException {
        String good = "{\"question\": \"the cat\", \"choices\": [\"sat\", \"ran\"], \"answer\": 0}\n";
        String bad = "{\"question\": \"the caf\u00e9\", \"choices\": [\"sat\", \"ran\"], \"answer\": 1}\n";
        Path data = Files.write(tmp.resolve("mc.jsonl"), (good + bad).getBytes(StandardCharsets.ISO_8859_1));
        adept("eval", "--model", model.toString(), "--data", data.toString()).assertUserError("mc.jsonl: not valid UTF-8");
    }

    @Test
    void float16OnTheCpuRunsOrSaysSoInOneLine() throws IOException {
        Path data = Files.writeString(tmp.resolve("d.txt"), "the cat sat on the mat\n");
        Run run = adept("eval", "--model", model.toString(), "--data", data.toString(), "--dtype", "float16");
        if (run.exit() != 0) run.assertUserError("--dtype float16 does not run on cpu with this libtorch");
        Run generate = adept("generate", "--model", model.toString(), "--prompt", "the cat", "--dtype", "float16", "--max-new-tokens", "2");
        if (generate.exit() != 0) generate.assertUserError("--dtype float16 does not run on cpu with this libtorch");
    }

    @Test
    void hugeMaxNewTokensIsRefusedUpFront() {
        for (String n : List.of("1000000000", "2147483647")) {
            adept("generate", "--model", model.toString(), "--prompt", "the cat", "--max-new-tokens", n)
                    .assertUsageError("--max-new-tokens " + n + " exceeds the model's context of " + TinyModel.MAX_POSITIONS);
        }
    }

    @Test
    void tinyMaxPositionEmbeddingsBlamesConfigJsonNotAnOption() throws IOException {
        Path dir = modelWith("max_position_embeddings", "1");
        Path data = Files.writeString(tmp.resolve("d.txt"), "the cat sat\n");
        Run run = adept("eval", "--model", dir.toString(), "--data", data.toString());
        run.assertUserError("max_position_embeddings 1");
        assertTrue(run.err().contains("config.json") && !run.err().contains("--max-length"), run.err());
        Run probe = adept("probe", "--model", dir.toString(), "--probe", data.toString(), "--out", tmp.resolve("p").toString());
        probe.assertUserError("max_position_embeddings 1");
        assertFalse(probe.err().contains("--max-length"), probe.err());
    }

    @Test
    void overlongProbeItemFailsBeforeItIsTokenized() throws IOException {
        Path probe = tmp.resolve("probe.jsonl");
        String huge = "the cat ".repeat(1_000_000);  // 8 MB: the tokenizer would build an Encoding of a million tokens
        Files.writeString(probe, "{\"text\": \"the cat sat\"}\n{\"text\": \"" + huge + "\"}\n");
        long start = System.nanoTime();
        Run run = adept("probe", "--model", model.toString(), "--probe", probe.toString(), "--out", tmp.resolve("p").toString());
        run.assertUserError("probe.jsonl:2: item has");
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20), "fails fast");
    }

    @Test
    void tokenizerFilesAreStrictJson() throws IOException {
        Path dir = modelWith("adept_test_note", "true");
        Path config = dir.resolve("tokenizer_config.json");
        Files.writeString(config, "{\"bos_token\": \"<bos>\", // a comment\n add_bos_token: true}\n");
        Path data = Files.writeString(tmp.resolve("d.txt"), "the cat sat\n");
        Run run = adept("eval", "--model", dir.toString(), "--data", data.toString());
        run.assertUserError("tokenizer_config.json");
        assertTrue(run.err().contains("malformed JSON") && !run.err().contains("LENIENT"), run.err());
    }

    @Test
    void tokenizerThatFailsWhileEncodingNamesTheFileAndTheLine() throws IOException {
        Path dir = modelWith("adept_test_note", "true");
        Path tokenizer = dir.resolve("tokenizer.json");
        // A WordLevel model whose unk_token is not in the vocabulary fails on the first unknown word.
        Files.writeString(tokenizer, Files.readString(tokenizer).replace("\"unk_token\": \"<unk>\"", "\"unk_token\": \"<nowhere>\""));
        Path data = Files.writeString(tmp.resolve("d.jsonl"), "{\"text\": \"the cat\"}\n{\"text\": \"the zyzzyva\"}\n");
        Run run = adept("eval", "--model", dir.toString(), "--data", data.toString());
        run.assertUserError("d.jsonl:2");
        assertTrue(run.err().contains("tokenizer.json"), run.err());
    }

    @Test
    void importanceOfAnotherArchitectureIsRefused() throws IOException {
        Path other = tmp.resolve("importance.json");
        double[] skip = new double[TinyModel.LAYERS];
        for (int i = 0; i < skip.length; i++) skip[i] = 1.1 + i / 10.0;
        new ProbeReport("x", "now", "/m", "tiny", "Qwen3ForCausalLM", "float32", "cpu", "/p", 1, 1, 1, 1, 8, 0,
                new LayerImportance(1.0, skip, 5), 2, Map.of()).write(other);
        adept("expand", "--model", model.toString(), "--k", "1", "--importance", other.toString(), "--out", tmp.resolve("x").toString())
                .assertUserError("was probed on a Qwen3ForCausalLM model");
    }

    @Test
    void importanceOfAnotherModelWithTheSameLayerCountIsRefused() throws IOException {
        Path otherModel = tmp.resolve("other-model");
        adept.nn.ModelConfig narrow = TinyModel.config(Architecture.LLAMA).toBuilder().hiddenSize(16).headDim(4).build();
        try (adept.nn.CausalLM m = adept.nn.CausalLM.random(narrow, 3, 0.1, adept.tensor.DType.FLOAT32, adept.tensor.Device.CPU)) {
            adept.io.checkpoint.Checkpoint.save(m, otherModel);
        }
        double[] skip = new double[TinyModel.LAYERS];
        for (int i = 0; i < skip.length; i++) skip[i] = 1.1 + i / 10.0;
        Path importance = tmp.resolve("importance.json");
        new ProbeReport("x", "now", otherModel.toString(), "other-model", "LlamaForCausalLM", "float32", "cpu", "/p", 1, 1, 1, 1, 8, 0,
                new LayerImportance(1.0, skip, 5), 2, Map.of()).write(importance);
        adept("expand", "--model", model.toString(), "--k", "1", "--importance", importance.toString(), "--out", tmp.resolve("x").toString())
                .assertUserError("whose config.json describes another model");
    }

    @Test
    void expandKilledBetweenRenamesIsRecoveredByTheNextRun() throws Exception {
        Path out = tmp.resolve("out");
        Run first = adept("expand", "--model", model.toString(), "--layers", "0", "--out", out.toString());
        assertEquals(0, first.exit(), first.err());
        Process dead = new ProcessBuilder("true").start();
        dead.waitFor();
        // kill -9 between the two renames of --force: the old output moved aside, the new one not yet in place.
        Files.move(out, tmp.resolve(".out.old-" + dead.pid() + "-1f"));
        Files.createDirectories(tmp.resolve(".out.tmp-" + dead.pid() + "-2e")).resolve("config.json").toFile().createNewFile();
        // The next run without --force finds the old output again (and so refuses to replace it).
        adept("expand", "--model", model.toString(), "--layers", "1", "--out", out.toString()).assertUsageError("exists; pass --force");
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")), "the previous output is back");
        List<String> names = new ArrayList<>();
        try (var files = Files.list(tmp)) {
            files.forEach(p -> names.add(p.getFileName().toString()));
        }
        assertEquals(List.of("out"), names, "no leftovers of the killed run");
    }

    @Test
    void badAdeptThreadsIsBlamedOnItselfNotOnATensor() throws Exception {
        // A fresh JVM: libtorch reads the setting once, when it loads.
        Path data = Files.writeString(tmp.resolve("d.txt"), "the cat sat\n");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", adept.testing.ChildJvm.classPath(), "-Dadept.threads=lots"));
        String nativeDir = System.getProperty("adept.native.dir");
        if (nativeDir != null && !nativeDir.isEmpty()) command.add("-Dadept.native.dir=" + nativeDir);
        command.addAll(List.of("adept.cli.AdeptCommand", "eval", "--model", model.toString(), "--data", data.toString()));
        Process p = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(2, p.exitValue(), err);
        String last = err.strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.startsWith("adept: ") && last.contains("ADEPT_THREADS"), err);
        assertFalse(last.contains("model.safetensors") || last.contains("tensor "), err);
    }
}
