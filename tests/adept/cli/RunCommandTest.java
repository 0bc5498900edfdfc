package adept.cli;

import static org.junit.jupiter.api.Assertions.*;

import adept.testing.TinyModel;
import adept.train.RunConfig;
import adept.train.TrainSettings;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `adept run` as a user runs it: a whole pipeline from one config, reruns that skip finished work, bad configs refused before any work. */
class RunCommandTest {
    @TempDir
    Path dir;
    Path configs;

    @BeforeEach
    void files() throws Exception {
        TinyModel.write(dir.resolve("base"), 3);
        Files.writeString(dir.resolve("domain.jsonl"), String.join("\n", java.util.Collections.nCopies(60,
                "{\"text\": \"one plus two equals three . what is the answer ? the answer is three .\"}")) + "\n");
        Files.writeString(dir.resolve("heldout.txt"), "two plus two equals four . the cat sat on the mat .\n");
        TinyModel.writeProbe(dir.resolve("probe.jsonl"));
        configs = Files.createDirectories(dir.resolve("configs"));
    }

    /** Shared keys of a tiny pipeline, with paths relative to configs/. */
    static final String SHARED = """
            out: ../results
            model: ../base
            data: ../domain.jsonl
            probe: ../probe.jsonl
            eval: ../heldout.txt
            steps: 4
            block_size: 16
            batch_size: 2
            refresh_every: 2
            lr: 1e-3
            """;

    Path config(String name, String text) throws IOException {
        return Files.writeString(configs.resolve(name), text);
    }

    @Test
    void twoRunYamlRunsBothEvaluatesAndARerunChangesNothing() throws Exception {
        Path cfg = config("pipeline.yaml", SHARED + """
                runs:
                  - {name: full, mode: full}
                  - name: adept-s1
                    mode: adept
                    k: 1
                    seed: 1
                evaluate:
                  data: [../heldout.txt, ../domain.jsonl]
                  batch_size: 8
                """);
        Path out = dir.resolve("results");
        TinyModel.Run r = TinyModel.adept("run", "--config", cfg.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("[1/2] full: training, mode full"), r.err());
        assertTrue(r.err().contains("[2/2] adept-s1: training, mode adept"), r.err());
        for (String run : new String[] {"full", "adept-s1"}) {
            assertTrue(Files.isRegularFile(out.resolve(run).resolve("model/config.json")), run);
            assertTrue(Files.isRegularFile(out.resolve(run).resolve("loss.png")), run);
        }
        assertTrue(Files.isRegularFile(out.resolve("adept-s1/model/adept_expansion.json")), "adept probed and expanded the base model");
        JsonObject settings = JsonParser.parseString(Files.readString(out.resolve("adept-s1/run.json"))).getAsJsonObject();
        assertEquals(1, settings.get("seed").getAsLong());
        assertEquals(1e-3, settings.get("lr").getAsDouble(), "YAML's 1e-3 (text in YAML 1.1) read as a number");
        assertEquals(dir.resolve("base").toString(), settings.get("model").getAsString());

        JsonObject evaluation = JsonParser.parseString(Files.readString(out.resolve("evaluation.json"))).getAsJsonObject();
        assertEquals(3 * 2, evaluation.getAsJsonArray("results").size(), "base, full and adept-s1 on two files");
        for (var cell : evaluation.getAsJsonArray("results")) {
            double loss = cell.getAsJsonObject().get("loss").getAsDouble();
            assertTrue(Double.isFinite(loss) && loss > 0, cell.toString());
        }
        String md = Files.readString(out.resolve("evaluation.md"));
        for (String row : new String[] {"| base |", "| full |", "| adept-s1 |", "heldout loss", "domain perplexity"}) assertTrue(md.contains(row), md);
        assertTrue(r.out().contains("| adept-s1 |"), "the table is printed: " + r.out());

        Map<String, String> before = snapshot(out);
        TinyModel.Run again = TinyModel.adept("run", "--config", cfg.toString());
        assertEquals(0, again.exit(), again.err());
        assertTrue(again.err().contains("[1/2] full: done"), again.err());
        assertTrue(again.err().contains("[2/2] adept-s1: done"), again.err());
        assertFalse(again.err().contains("evaluating"), again.err());
        assertTrue(again.out().contains("evaluation: up to date"), again.out());
        assertEquals(before, snapshot(out), "a rerun of a finished pipeline changes nothing");

        // a retrained model is newer than the evaluation: only its cells are recomputed
        Files.setLastModifiedTime(out.resolve("full/model/config.json"), java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 60_000));
        TinyModel.Run third = TinyModel.adept("run", "--config", cfg.toString());
        assertEquals(0, third.exit(), third.err());
        assertTrue(third.err().contains("evaluating full on 2 file(s)"), third.err());
        assertFalse(third.err().contains("evaluating base") || third.err().contains("evaluating adept-s1"), third.err());

        // adept plot redraws a run's plots from its logs
        Files.delete(out.resolve("adept-s1/loss.png"));
        TinyModel.Run plot = TinyModel.adept("plot", "--run", out.resolve("adept-s1").toString());
        assertEquals(0, plot.exit(), plot.err());
        assertTrue(Files.isRegularFile(out.resolve("adept-s1/loss.png")));
        assertTrue(Files.isRegularFile(out.resolve("adept-s1/importance.png")));
        TinyModel.adept("plot", "--run", dir.toString()).assertUserError("has no metrics.jsonl");
    }

    @Test
    void jsonConfigWithoutRunsIsOneRunNamedAfterTheMode() throws Exception {
        Path cfg = config("pipeline.json", """
                {"out": "../results", "model": "../base", "data": "../domain.jsonl", "mode": "full", "steps": 2,
                 "block_size": 16, "batch_size": 2, "lr": 0.001,
                 "evaluate": {"data": "../heldout.txt", "base": false}}
                """);
        TinyModel.Run r = TinyModel.adept("run", "--config", cfg.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("[1/1] full: training"), r.err());
        Path out = dir.resolve("results");
        assertTrue(Files.isRegularFile(out.resolve("full/model/config.json")));
        JsonObject evaluation = JsonParser.parseString(Files.readString(out.resolve("evaluation.json"))).getAsJsonObject();
        assertEquals(1, evaluation.getAsJsonArray("results").size(), "full on one file, no base row");
        assertEquals("full", evaluation.getAsJsonArray("results").get(0).getAsJsonObject().get("model").getAsString());
    }

    void assertRefused(String config, String... expected) throws IOException {
        Path cfg = config("bad.yaml", config);
        TinyModel.Run r = TinyModel.adept("run", "--config", cfg.toString());
        r.assertUserError(cfg.toString() + ": ");
        for (String e : expected) assertTrue(r.err().contains(e), "expected '" + e + "' in: " + r.err());
        assertFalse(Files.exists(dir.resolve("results")), "nothing written");
    }

    @Test
    void jsonConfigsAreStrictJson() throws Exception {
        Path cfg = config("bad.json", "{\"model\": \"m\", // a comment\n \"steps\": 3}");
        TinyModel.Run r = TinyModel.adept("run", "--config", cfg.toString());
        r.assertUserError(cfg.toString() + ": not valid JSON");
        cfg = config("dup.json", "{\"steps\": 3, \"steps\": 4}");
        r = TinyModel.adept("run", "--config", cfg.toString());
        r.assertUserError(cfg.toString() + ": not valid JSON");
        assertTrue(r.err().contains("steps"), r.err());
        assertFalse(Files.exists(dir.resolve("results")), "nothing written");
    }

    @Test
    void unknownKeysAreOneLineErrorsNamingThemAndNothingIsWritten() throws Exception {
        assertRefused(SHARED + "stpes: 3\n", "stpes: unknown key (did you mean steps?)");
        assertRefused(SHARED + "runs: [{name: a, mode: full, lrr: 1}]\n", "runs[1].lrr: unknown key (did you mean lr?)");
        assertRefused(SHARED + "evaluate: {data: ../heldout.txt, batch: 2}\n", "evaluate.batch: unknown key");
        assertRefused(SHARED + "runs: [{name: a, out: elsewhere}]\n", "runs[1].out: a run trains into out/NAME");
        assertRefused(SHARED + "lr: 1e-3\n", "not valid YAML", "duplicate key lr");
        assertRefused(SHARED + "steps: !!java.io.File /tmp\n", "not valid YAML");
    }

    @Test
    void aBadValueInOneRunIsRefusedBeforeTheFirstRunStarts() throws Exception {
        assertRefused(SHARED + "runs: [{name: ok, mode: full}, {name: bad, mode: full, lr: -1}]\n", "runs[2] (bad): lr must be > 0");
        assertRefused(SHARED + "runs: [{name: ok, mode: full}, {name: ok, mode: adept}]\n", "runs[2].name: duplicate run name \"ok\" (also runs[1])");
        assertRefused(SHARED + "runs: [{mode: full}, {mode: full, seed: 2}]\n", "duplicate run name \"full\"");
        assertRefused(SHARED + "runs: [{name: ok, mode: full}, {name: b, data: ../nothing.jsonl}]\n", "runs[2] (b): data: no such file "
                + dir.resolve("nothing.jsonl"));
        assertRefused(SHARED + "runs: [{name: ok, mode: full}, {name: b, steps: many}]\n", "runs[2].steps: expected a whole number, got \"many\"");
        assertRefused(SHARED + "runs: [{name: ok, mode: full}, {name: b, batch_size: 1.5}]\n", "runs[2].batch_size: expected a whole number");
        assertRefused(SHARED + "runs: [{name: ok, mode: fancy}]\n", "runs[1].mode: unknown mode");
        assertRefused(SHARED + "runs: [{name: ok, mode: full, block_size: 100}]\n", "exceeds the model's context");
        assertRefused(SHARED + "runs: [{name: ../x, mode: full}]\n", "not a usable folder name");
        assertRefused(SHARED + "evaluate: {data: [../heldout.txt, ../gone.txt]}\n", "evaluate.data: no such file " + dir.resolve("gone.txt"));
        assertRefused(SHARED + "runs: [{name: z, data: /dev/zero}]\n", "runs[1] (z): data: /dev/zero is not a regular file (a device, FIFO or socket)");
        assertRefused(SHARED + "evaluate: {data: [/dev/zero]}\n", "evaluate.data: /dev/zero is not a regular file");
        assertRefused(SHARED.replace("out: ../results\n", ""), "out: the pipeline folder is required");
    }

    @Test
    void aRunFolderWithOtherSettingsIsRefusedBeforeAnyWork() throws Exception {
        Path cfg = config("one.yaml", SHARED.replace("steps: 4", "steps: 2") + "mode: full\n");
        assertEquals(0, TinyModel.adept("run", "--config", cfg.toString()).exit());
        Map<String, String> before = snapshot(dir.resolve("results"));
        config("one.yaml", SHARED.replace("steps: 4", "steps: 2").replace("lr: 1e-3", "lr: 2e-3") + "mode: full\n");
        TinyModel.adept("run", "--config", cfg.toString()).assertUserError("holds a run with other settings (differs in lr)");
        assertEquals(before, snapshot(dir.resolve("results")));
    }

    @Test
    void relativePathsResolveAgainstTheConfigFolder() throws Exception {
        Path nested = Files.createDirectories(configs.resolve("deeper"));
        Path cfg = Files.writeString(nested.resolve("exp.yml"), SHARED.replace("../", "../../") + "runs: [{name: f, mode: full, eval: ../../heldout.txt}]\n");
        RunConfig c = RunConfig.parseTree(ConfigFiles.load(cfg), cfg, cfg.toString());
        assertEquals(dir.resolve("results"), c.out);
        RunConfig.Run run = c.runs.get(0);
        assertEquals(dir.resolve("results/f"), run.dir());
        assertEquals(dir.resolve("base"), run.settings().inputs().model());
        assertEquals(dir.resolve("domain.jsonl"), run.settings().inputs().data());
        assertEquals(dir.resolve("heldout.txt"), run.settings().inputs().eval());
        assertEquals(dir.resolve("results/f"), run.settings().output().out());
        // the same file read with the process in another folder: the dry run shows the same folders and writes nothing
        TinyModel.Run r = TinyModel.adept("run", "--config", cfg.toString(), "--dry-run");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("[1/1] f: train (full) -> " + dir.resolve("results/f")), r.out());
        assertFalse(Files.exists(dir.resolve("results")));
        // a relative path that is wrong is reported resolved
        Files.writeString(cfg, SHARED + "runs: [{name: f, mode: full}]\n");
        TinyModel.adept("run", "--config", cfg.toString()).assertUserError("data: no such file " + configs.resolve("domain.jsonl"));
    }

    @Test
    void keysListEveryTrainingKeyWithDefaultAndTheReadmeHasTheSameList() throws Exception {
        TinyModel.Run r = TinyModel.adept("run", "--keys");
        assertEquals(0, r.exit(), r.err());
        for (TrainSettings.KeyDoc d : TrainSettings.reference()) {
            if (d.key().equals("out")) continue;
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith("  " + d.key() + " ") && l.contains(d.defaultValue())), d.key() + " in:\n" + r.out());
        }
        assertTrue(r.out().contains("lr") && r.out().contains("1e-4"), r.out());
        assertTrue(r.out().contains("evaluate.data"), r.out());
        String doc = Files.readString(Path.of("docs/configuration.md"), StandardCharsets.UTF_8);
        assertTrue(doc.contains(RunConfig.referenceText()), "docs/configuration.md lists the keys as adept run --keys prints them");
        TinyModel.adept("run").assertUsageError("--config");
    }

    /** Every file under root: path -> size, modification time and content hash. */
    static Map<String, String> snapshot(Path root) throws Exception {
        Map<String, String> out = new TreeMap<>();
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : files.filter(Files::isRegularFile).toList()) {
                out.put(root.relativize(p).toString(), Files.size(p) + " " + Files.getLastModifiedTime(p) + " "
                        + HexFormat.of().formatHex(sha.digest(Files.readAllBytes(p))));
            }
        }
        return out;
    }
}
