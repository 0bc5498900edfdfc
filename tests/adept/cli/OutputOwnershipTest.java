package adept.cli;

import static adept.testing.TinyModel.adept;
import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.OutputLock;
import adept.testing.ChildJvm;
import adept.testing.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 20, lost user files: no command writes over its own inputs, into a folder it does not own, or beside another writer. */
class OutputOwnershipTest extends adept.testing.TrainFolder {
    List<String> train(Path modelDir, Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", modelDir.toString(), "--data", data.toString(), "--out", out.toString(),
                "--mode", "full", "--steps", "2", "--block-size", "16", "--batch-size", "2"));
        a.addAll(Arrays.asList(extra));
        return a;
    }

    static byte[] weights(Path modelDir) throws Exception {
        return Files.readAllBytes(modelDir.resolve("model.safetensors"));
    }

    @Test
    void trainNeverWritesOverItsOwnModel() throws Exception {
        Path run = dir.resolve("run");
        assertEquals(0, adept(train(model, run).toArray(String[]::new)).exit());
        byte[] before = weights(run.resolve("model"));
        adept(train(run.resolve("model"), run, "--restart").toArray(String[]::new)).assertUserError("is inside out");
        Path link = Files.createSymbolicLink(dir.resolve("link"), run.resolve("model"));
        adept(train(link, run, "--restart").toArray(String[]::new)).assertUserError("is inside out");
        adept(train(link, link).toArray(String[]::new)).assertUserError("is the model folder");
        assertArrayEquals(before, weights(run.resolve("model")), "the source model is untouched");
    }

    @Test
    void trainRefusesAFolderItDidNotWrite() throws Exception {
        Path out = dir.resolve("mine");
        Path userModel = Files.createDirectories(out.resolve("model"));
        Files.writeString(userModel.resolve("notes.txt"), "my notes");
        adept(train(model, out).toArray(String[]::new)).assertUserError("holds files no adept training run wrote (model)");
        assertEquals("my notes", Files.readString(userModel.resolve("notes.txt")));
        // --restart is the say-so; an empty folder is fine without it
        assertEquals(0, adept(train(model, out, "--restart").toArray(String[]::new)).exit());
        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertEquals(0, adept(train(model, empty).toArray(String[]::new)).exit());
        assertFalse(Files.exists(empty.resolve(".adept.lock")), "the lock goes with the run");
    }

    @Test
    void tokenizerNeedsForceOverAModelsTokenizer() throws Exception {
        byte[] before = Files.readAllBytes(model.resolve("tokenizer.json"));
        adept("tokenizer", "--data", data.toString(), "--vocab", "400", "--out", model.toString()).assertUsageError("already holds tokenizer.json");
        assertArrayEquals(before, Files.readAllBytes(model.resolve("tokenizer.json")));
        Path file = Files.writeString(dir.resolve("file"), "x");
        adept("tokenizer", "--data", data.toString(), "--out", file.toString()).assertUsageError("exists and is not a folder");
    }

    @Test
    void plotNeverWritesOverARunsInputs() throws Exception {
        Path run = dir.resolve("run");
        assertEquals(0, adept(train(model, run).toArray(String[]::new)).exit());
        Path metrics = run.resolve("metrics.jsonl");
        byte[] before = Files.readAllBytes(metrics);
        adept("plot", "--compare", run.toString(), "--metric", "loss", "--out", metrics.toString()).assertUsageError("own metrics.jsonl");
        Path link = Files.createSymbolicLink(dir.resolve("m.png"), metrics);
        adept("plot", "--compare", run.toString(), "--metric", "loss", "--out", link.toString()).assertUsageError("own metrics.jsonl");
        adept("plot", "--compare", run.toString(), "--metric", "loss", "--out", run.resolve("model/x.png").toString()).assertUsageError("inside run");
        assertArrayEquals(before, Files.readAllBytes(metrics));
        adept("plot", "--compare", run.toString(), "--metric", "loss", "--out", dir.toString()).assertUsageError("is a folder");
        adept("plot", "--compare", run.toString(), "--metric", "loss", "--out", dir.resolve("no/such/c.png").toString()).assertUsageError("no such folder");
        Path notes = Files.writeString(dir.resolve("notes.png"), "not a png");
        adept("plot", "--compare", run.toString(), "--metric", "loss", "--out", notes.toString()).assertUsageError("not a PNG");
        Path chart = dir.resolve("c.png");
        assertEquals(0, adept("plot", "--compare", run.toString(), "--metric", "loss", "--out", chart.toString()).exit());
        assertEquals(0, adept("plot", "--compare", run.toString(), "--metric", "loss", "--out", chart.toString()).exit(), "its own PNG: redrawn");
    }

    @Test
    void aSecondWriterIsRefusedAndADeadOnesLockTakenOver() throws Exception {
        Path out = dir.resolve("run");
        Files.createDirectories(out);
        try (OutputLock held = OutputLock.acquire(out.resolve(".adept.lock"), "test")) {
            adept(train(model, out).toArray(String[]::new)).assertUserError("is being written by another adept process (pid "
                    + ProcessHandle.current().pid());
        }
        // a lock file left by a killed run (its pid gone, no OS lock held): taken over
        Files.writeString(out.resolve(".adept.lock"), "999999999\n");
        var taken = adept(train(model, out).toArray(String[]::new));
        assertEquals(0, taken.exit(), taken.err());

        Path expanded = dir.resolve("expanded");
        try (OutputLock held = OutputLock.acquire(dir.resolve(".expanded.adept-lock"), "test")) {
            adept("expand", "--model", model.toString(), "--layers", "1", "--out", expanded.toString()).assertUserError("is being written by another");
        }
        assertFalse(Files.exists(expanded));
        var expand = adept("expand", "--model", model.toString(), "--layers", "1", "--out", expanded.toString());
        assertEquals(0, expand.exit(), expand.err());
    }

    /** Another process (a child JVM) training into --out: refused with its pid; once it is killed, its lock is stale and the run resumes. */
    @Test
    void aLiveTrainingProcessHoldsItsFolder() throws Exception {
        Path out = dir.resolve("busy");
        List<String> longRun = train(model, out);
        longRun.set(longRun.indexOf("--steps") + 1, "100000");
        Process child = ChildJvm.start(ChildJvm.adept(longRun), Map.of(), dir.resolve("child.log"));
        try {
            Path lock = out.resolve(".adept.lock");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!(Files.isRegularFile(lock) && Files.readString(lock).strip().equals(Long.toString(child.pid())))) {
                assertTrue(child.isAlive(), () -> "child ended: " + readQuietly(dir.resolve("child.log")));
                assertTrue(System.nanoTime() < deadline, "child never took the lock");
                Thread.sleep(100);
            }
            adept(longRun.toArray(String[]::new)).assertUserError("(pid " + child.pid() + ", lock file " + lock);
        } finally {
            child.destroyForcibly().waitFor();
        }
        assertEquals(0, adept(train(model, out, "--restart").toArray(String[]::new)).exit());
    }

    static String readQuietly(Path p) {
        try {
            return Files.readString(p);
        } catch (Exception e) {
            return "?";
        }
    }
}
