package adept.cli;

import static org.junit.jupiter.api.Assertions.*;

import adept.testing.ChildJvm;
import adept.testing.TinyModel;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `adept sweep` end to end on a tiny model: table, JSON and PNG; killed mid-run and rerun, the same numbers; bad configs refused. */
class SweepCommandTest {
    @TempDir
    Path dir;
    Path configs;

    @BeforeEach
    void files() throws Exception {
        TinyModel.write(dir.resolve("base"), 3);
        Files.writeString(dir.resolve("domain.jsonl"), String.join("\n", java.util.Collections.nCopies(80,
                "{\"text\": \"one plus two equals three . what is the answer ? the answer is three .\"}")) + "\n");
        Files.writeString(dir.resolve("general.txt"), "the cat sat on the mat . two plus two equals four .\n");
        Files.writeString(dir.resolve("domain-heldout.txt"), "what is one plus one ? the answer is two .\n");
        TinyModel.writeProbe(dir.resolve("probe.jsonl"));
        configs = Files.createDirectories(dir.resolve("configs"));
    }

    static final String SWEEP = """
            out: ../sweep
            model: ../base
            data: ../domain.jsonl
            probe: ../probe.jsonl
            steps: 6
            block_size: 16
            batch_size: 2
            refresh_every: 3
            save_every: 1
            k: 1
            general: ../general.txt
            domain: ../domain-heldout.txt
            budgets: [0.05, 0.1]
            """;

    Path config(String name, String text) throws IOException {
        return Files.writeString(configs.resolve(name), text);
    }

    @Test
    void twoModesTwoRatesGiveTableJsonAndPngAndAKilledSweepResumesToTheSameNumbers() throws Exception {
        Path cfg = config("sweep.yaml", SWEEP + """
                grid:
                  mode: [full, adept]
                  lr: [1e-3, 1e-2]
                  seed: [1]
                """);
        // the reference: one uninterrupted sweep into another folder (--out overrides out)
        TinyModel.Run whole = TinyModel.adept("sweep", "--config", cfg.toString(), "--out", dir.resolve("whole").toString());
        assertEquals(0, whole.exit(), whole.err());
        Path ref = dir.resolve("whole");
        for (String f : List.of("pareto.json", "pareto.png", "sweep.md")) assertTrue(Files.isRegularFile(ref.resolve(f)), f);
        assertTrue(whole.out().contains("Domain change at matched forgetting"), whole.out());
        JsonObject pareto = JsonParser.parseString(Files.readString(ref.resolve("pareto.json"))).getAsJsonObject();
        JsonArray runs = pareto.getAsJsonArray("runs");
        assertEquals(4, runs.size());
        double baseGeneral = pareto.getAsJsonObject("base").get("general_loss").getAsDouble();
        for (var r : runs) {
            JsonObject o = r.getAsJsonObject();
            assertEquals(o.get("general_loss").getAsDouble() - baseGeneral, o.get("general_change").getAsDouble(), 1e-12);
            assertTrue(o.get("effective_lr_sum").getAsDouble() > 0, o.toString());
            assertTrue(o.get("trainable_fraction").getAsDouble() > 0, o.toString());
            assertTrue(o.has("wall_seconds") && o.getAsJsonObject("grid").has("lr"), o.toString());
        }
        assertEquals(2, pareto.getAsJsonObject("curves").size(), "one curve per mode");
        assertEquals(2, pareto.getAsJsonArray("matched_forgetting").size(), "one row per budget");
        assertTrue(Files.size(ref.resolve("pareto.png")) > 5000);

        // the same sweep killed (SIGKILL) during its third run, then rerun: the same numbers
        Path killedOut = dir.resolve("killed");
        Process p = ChildJvm.start(ChildJvm.adept(List.of("sweep", "--config", cfg.toString(), "--out", killedOut.toString())), Map.of(),
                dir.resolve("killed.log"));
        Path third = killedOut.resolve("adept_lr0.001_seed1").resolve("checkpoints");
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (p.isAlive() && System.nanoTime() < deadline && !(Files.isDirectory(third) && hasCheckpoint(third))) Thread.sleep(20);
        assertTrue(p.isAlive(), "killed mid-sweep (log: " + Files.readString(dir.resolve("killed.log")) + ")");
        p.destroyForcibly();
        p.waitFor();
        TinyModel.Run rerun = TinyModel.adept("sweep", "--config", cfg.toString(), "--out", killedOut.toString());
        assertEquals(0, rerun.exit(), rerun.err());
        assertTrue(rerun.err().contains("full_lr0.001_seed1") && !rerun.err().contains("[1/4] full_lr0.001_seed1: training"), rerun.err());
        JsonArray resumed = JsonParser.parseString(Files.readString(killedOut.resolve("pareto.json"))).getAsJsonObject().getAsJsonArray("runs");
        for (int i = 0; i < 4; i++) {
            JsonObject a = runs.get(i).getAsJsonObject();
            JsonObject b = resumed.get(i).getAsJsonObject();
            for (String key : List.of("run", "general_loss", "domain_loss", "effective_lr_sum")) assertEquals(a.get(key), b.get(key), key + " of run " + i);
        }
    }

    @Test
    void aDivergedRunIsRecordedLeftOutOfTheCurvesAndSkippedOnRerun() throws Exception {
        Path cfg = config("sweep.yaml", SWEEP + """
                mode: full
                warmup_steps: 1
                grid: {lr: [1e-3, 1e20]}
                """);
        TinyModel.Run r = TinyModel.adept("sweep", "--config", cfg.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("full_lr100000000000000000000: diverged (step "), r.err());
        JsonObject pareto = JsonParser.parseString(Files.readString(dir.resolve("sweep/pareto.json"))).getAsJsonObject();
        assertEquals(1, pareto.getAsJsonArray("runs").size(), "the diverged run is not a point of the curve");
        assertEquals(1, pareto.getAsJsonArray("diverged").size());
        TinyModel.Run again = TinyModel.adept("sweep", "--config", cfg.toString());
        assertEquals(0, again.exit(), again.err());
        assertTrue(again.err().contains("diverged earlier"), again.err());
    }

    static boolean hasCheckpoint(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.anyMatch(f -> f.getFileName().toString().startsWith("step-"));
        }
    }

    void assertRefused(String text, String expected) throws IOException {
        Path cfg = config("bad.yaml", text);
        TinyModel.Run r = TinyModel.adept("sweep", "--config", cfg.toString());
        r.assertUserError(expected);
        assertFalse(Files.exists(dir.resolve("sweep")), "nothing written for: " + expected);
    }

    @Test
    void badGridsAndBudgetsAreOneLineErrorsNamingTheKey() throws Exception {
        assertRefused(SWEEP + "grid: {lrr: [1e-3], seed: [1]}\n", "grid.lrr: unknown key (did you mean lr?)");
        assertRefused(SWEEP + "grid: {lr: [], seed: [1]}\n", "grid.lr: empty list");
        assertRefused(SWEEP + "grid: {lr: [1e-3, 0.001]}\n", "grid.lr: the value 0.001 is listed twice");
        assertRefused(SWEEP + "grid: [{lr: [1e-3], seed: [1]}, {seed: [1], lr: [0.001]}]\n", "duplicated grid point");
        assertRefused(SWEEP.replace("budgets: [0.05, 0.1]", "budgets: [0.05, lots]") + "grid: {lr: [1e-3]}\n", "budgets: expected a number, got \"lots\"");
        assertRefused(SWEEP + "grid: {lr: [1e-3]}\nruns: [{name: x}]\n", "runs: a sweep's runs come from grid");
        assertRefused(SWEEP + "grid: {lr: [-1]}\n", "lr must be > 0");
        assertRefused(SWEEP.replace("general: ../general.txt\n", "") + "grid: {lr: [1e-3]}\n", "general: a held-out file is required");
    }
}
