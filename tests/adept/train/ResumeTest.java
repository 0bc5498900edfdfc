package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exact resume: `adept train` killed with SIGKILL at a random step, then run again, logs the same loss at
 * every step as an uninterrupted run (same seed, same threads), with importance refreshes after the kill.
 * A checkpoint cut off mid-write is never loaded.
 */
class ResumeTest {
    @TempDir
    Path dir;

    static TrainSettings settings(Path dir, String out) throws IOException {
        TrainSettings s = TrainFixtures.settings(dir, "adept").toBuilder().out(dir.resolve(out)).steps(240).refreshEvery(30).saveEvery(5L).evalEvery(40L).keepCheckpoints(3).build();
        return s;
    }

    static List<String> cli(TrainSettings s) {
        return List.of("train", "--model", s.inputs().model().toString(), "--data", s.inputs().data().toString(), "--probe", s.inputs().probe().toString(), "--eval", s.inputs().eval().toString(), "--out", s.output().out().toString(),
                "--mode", s.preparation().mode().toString(), "--k", "2", "--steps", Long.toString(s.optimizer().steps()), "--block-size", "16", "--batch-size", "4",
                "--lr", "3e-3", "--refresh-every", "30", "--probe-batch-size", "4", "--save-every", "5", "--eval-every", "40",
                "--keep-checkpoints", "3");
    }

    /** `adept train` with these settings in a child JVM (so it can be killed). */
    static List<String> childCommand(TrainSettings s) {
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Xmx512m",
                "-Dadept.native.dir=" + System.getProperty("adept.native.dir"), "-cp", adept.testing.ChildJvm.classPath(),
                "adept.cli.AdeptCommand"));
        command.addAll(cli(s));
        return command;
    }

    static List<Double> losses(Path out) {
        List<Double> v = new ArrayList<>();
        for (JsonObject o : RunLog.read(out.resolve(RunFolder.METRICS_FILE))) if (o.has("loss")) v.add(o.get("loss").getAsDouble());
        return v;
    }

    @Test
    void killedWithSigkillAndResumedGivesTheSameLosses() throws Exception {
        TrainSettings reference = settings(dir, "uninterrupted");
        new Trainer(reference).run();
        List<Double> expected = losses(reference.output().out());
        assertEquals(240, expected.size());

        TrainSettings killed = settings(dir, "killed");
        List<String> command = childCommand(killed);
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(dir.resolve("child.log").toFile()).start();
        Path checkpoints = killed.output().out().resolve("checkpoints");
        int killAfter = 40 + new Random().nextInt(60);  // a random step between the first checkpoints and the last refreshes
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (p.isAlive() && newestStep(checkpoints) < killAfter && System.nanoTime() < deadline) Thread.sleep(20);
        Thread.sleep(new Random().nextInt(50));
        assertTrue(p.isAlive(), "the child is still training when killed: " + Files.readString(dir.resolve("child.log")));
        p.destroyForcibly();  // SIGKILL
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        long resumedFrom = newestStep(checkpoints);
        assertTrue(resumedFrom < 210, "a refresh (at 210) comes after the kill; resumed from " + resumedFrom);
        assertFalse(Files.exists(killed.output().out().resolve(RunFolder.MODEL_DIR)), "the killed run did not finish");

        Trainer.Result r = new Trainer(killed).run();
        assertEquals(Trainer.Status.COMPLETED, r.status());
        List<Double> actual = losses(killed.output().out());
        assertEquals(expected.size(), actual.size(), "one loss per step, no step logged twice");
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i), actual.get(i), "loss at step " + (i + 1) + " (killed near step " + resumedFrom + ")");
        }
        long refreshesAfterKill = RunLog.read(killed.output().out().resolve(RunFolder.IMPORTANCE_FILE)).stream()
                .mapToLong(o -> o.get("step").getAsLong()).filter(st -> st > resumedFrom).distinct().count();
        assertTrue(refreshesAfterKill >= 1, "at least one importance refresh after the kill");
        assertEquals(summaryLessTiming(reference.output().out()), summaryLessTiming(killed.output().out()),
                "the same summary (how the model was prepared, layer_dl, losses), not 'resumed at step N'");
    }

    static JsonObject summaryLessTiming(Path out) throws IOException {
        JsonObject o = com.google.gson.JsonParser.parseString(Files.readString(out.resolve(RunFolder.SUMMARY_FILE))).getAsJsonObject();
        o.remove("wall_seconds");
        return o;
    }

    @Test
    void sigtermWritesACheckpointAndExitsCleanly() throws Exception {
        TrainSettings s = settings(dir, "terminated");
        List<String> command = childCommand(s);
        command.set(command.indexOf("--save-every") + 1, "1000");  // only the signal writes a checkpoint
        Path log = dir.resolve("terminated.log");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Path metrics = s.output().out().resolve(RunFolder.METRICS_FILE);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (p.isAlive() && RunLog.read(metrics).size() < 30 && System.nanoTime() < deadline) Thread.sleep(20);
        assertTrue(p.isAlive(), Files.readString(log));
        p.destroy();  // SIGTERM
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "exits after the signal");
        String output = Files.readString(log);
        assertEquals(130, p.exitValue(), output);
        assertTrue(output.contains("SIGTERM received") && output.contains("checkpoint written"), output);
        long step = newestStep(s.output().out().resolve("checkpoints"));
        assertTrue(step >= 30 && step < 240, "checkpoint at the step it stopped: " + step);
        assertFalse(output.contains("Exception"), output);
    }

    static long newestStep(Path checkpoints) {
        if (!Files.isDirectory(checkpoints)) return -1;
        try (var s = Files.list(checkpoints)) {
            return s.map(x -> x.getFileName().toString()).filter(n -> n.matches("step-\\d{8}"))
                    .mapToLong(n -> Long.parseLong(n.substring(5))).max().orElse(-1);
        } catch (IOException e) {
            return -1;
        }
    }

    @Test
    void aCheckpointCutOffMidWriteIsNeverLoaded() throws Exception {
        TrainSettings s = settings(dir, "cut").toBuilder().steps(20).build();
        new Trainer(s).run();
        RunCheckpoints checkpoints = new RunCheckpoints(s.output().out());
        List<Path> all = checkpoints.list();
        assertEquals(3, all.size(), "the newest three kept");
        assertEquals("step-00000020", all.get(0).getFileName().toString());
        for (String file : List.of(RunCheckpoints.OPTIMIZER_FILE, "model.safetensors", TrainerState.FILE_NAME)) {
            Path victim = all.get(0).resolve(file);
            byte[] original = Files.readAllBytes(victim);
            try (RandomAccessFile f = new RandomAccessFile(victim.toFile(), "rw")) {
                f.setLength(original.length / 2);
            }
            List<String> skipped = new ArrayList<>();
            RunCheckpoints.Loaded loaded = checkpoints.newestValid(skipped::add).orElseThrow();
            assertEquals(15, loaded.state().step(), file + " cut in half: the previous checkpoint is used");
            assertEquals(1, skipped.size(), String.join("\n", skipped));
            Files.write(victim, original);
            assertEquals(20, checkpoints.newestValid(x -> {}).orElseThrow().state().step());
        }
    }
}
