package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.dist.Backend;
import adept.dist.ProcessGroup;
import adept.io.checkpoint.Checkpoint;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Tensor;
import adept.testing.ChildJvm;
import com.google.gson.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Data-parallel training: `adept train --nproc 2` (two ranks over Gloo on loopback, batch 2 each) against one
 * in-process rank with the global batch of 4, from the same tiny model, corpus and seed: the same losses,
 * the same importances and the same final parameters; and a run resumed with another world size continues
 * the same run.
 */
class DataParallelTest {
    @TempDir
    Path dir;

    static final Map<String, String> ENV = Map.of("ADEPT_DIST_TIMEOUT", "60");

    @BeforeEach
    void needsGloo() {
        Assumptions.assumeTrue(ProcessGroup.available(Backend.GLOO), "the shim was built without Gloo");
    }

    static TrainSettings settings(Path dir, String mode, String out, long steps) throws Exception {
        TrainSettings s = TrainFixtures.settings(dir, mode);
        if (mode.equals("full")) s.k = null;
        s.out = dir.resolve(out).toString();
        s.steps = steps;
        s.batchSize = 4;
        s.saveEvery = 5L;
        return s;
    }

    /** The CLI options giving exactly these settings (so run.json matches between the two ways of running). */
    static List<String> cli(TrainSettings s) {
        List<String> a = new ArrayList<>(List.of("train", "--model", s.model, "--data", s.data, "--probe", s.probe, "--eval", s.eval,
                "--out", s.out, "--mode", s.mode, "--steps", Long.toString(s.steps), "--block-size", s.blockSize.toString(),
                "--batch-size", Integer.toString(s.batchSize), "--lr", Double.toString(s.lr), "--refresh-every", Integer.toString(s.refreshEvery),
                "--probe-batch-size", Integer.toString(s.probeBatchSize), "--save-every", s.saveEvery.toString(),
                "--eval-every", s.evalEvery.toString()));
        if (s.k != null) a.addAll(List.of("--k", s.k.toString()));
        return a;
    }

    static ChildJvm.Outcome twoRanks(TrainSettings s, Path log) throws Exception {
        List<String> args = new ArrayList<>(cli(s));
        args.addAll(List.of("--nproc", "2"));
        ChildJvm.Outcome o = ChildJvm.run(ChildJvm.adept(args), ENV, log, 240);
        System.out.printf("%s: 2 ranks, %d steps in %.1f s (3 JVMs)%n", s.mode, s.steps, o.seconds());
        return o;
    }

    static List<Double> losses(Path out) {
        List<Double> v = new ArrayList<>();
        for (JsonObject o : RunLog.read(out.resolve(Trainer.METRICS_FILE))) if (o.has("loss")) v.add(o.get("loss").getAsDouble());
        return v;
    }

    static void assertSameLosses(List<Double> expected, List<Double> actual, double tolerance, String what) {
        assertEquals(expected.size(), actual.size(), what + ": one loss per step");
        double worst = 0;
        for (int i = 0; i < expected.size(); i++) {
            double d = Math.abs(expected.get(i) - actual.get(i));
            worst = Math.max(worst, d);
            assertTrue(d <= tolerance * Math.max(1, Math.abs(expected.get(i))), what + ": loss at step " + (i + 1) + ": " + expected.get(i) + " vs " + actual.get(i));
        }
        System.out.printf("%s: max loss difference %.3g over %d steps%n", what, worst, expected.size());
    }

    /** Largest absolute difference over every tensor of the two models (which must have the same tensors). */
    static double maxParameterDifference(Path a, Path b) {
        try (CausalLM x = Checkpoint.load(a, DType.FLOAT32, Device.CPU); CausalLM y = Checkpoint.load(b, DType.FLOAT32, Device.CPU)) {
            Map<String, Tensor> px = x.namedParameters();
            Map<String, Tensor> py = y.namedParameters();
            assertEquals(px.keySet(), py.keySet());
            double worst = 0;
            for (String n : px.keySet()) worst = Math.max(worst, TrainerTest.maxDifference(px.get(n), py.get(n)));
            return worst;
        }
    }

    void twoRanksMatchOneRankWithTheDoubledBatch(String mode) throws Exception {
        TrainSettings one = settings(dir, mode, "one-" + mode, 20);
        Trainer.Result r = new Trainer(one, null, null, false, "test").run();
        assertEquals(Trainer.Status.COMPLETED, r.status());
        TrainSettings two = settings(dir, mode, "two-" + mode, 20);
        ChildJvm.Outcome o = twoRanks(two, dir.resolve("two-" + mode + ".log"));
        assertEquals(0, o.exitCode(), o.output());
        assertTrue(o.output().contains("data parallel: 2 ranks, 2 of each 4-block batch per rank"), o.output());
        assertSameLosses(losses(Path.of(one.out)), losses(Path.of(two.out)), 1e-5, mode + " 2 ranks vs 1");
        double diff = maxParameterDifference(r.model(), Path.of(two.out).resolve(Trainer.MODEL_DIR));
        System.out.printf("%s: max parameter difference after 20 steps, 2 ranks x batch 2 vs 1 rank x batch 4: %.3g%n", mode, diff);
        assertTrue(diff <= 1e-6, mode + ": max parameter difference " + diff);
        assertTrue(Files.isRegularFile(Path.of(two.out).resolve("summary.json")), "rank 0 wrote the summary");
    }

    @Test
    void adeptModeOnTwoRanksMatchesOneRankWithTheDoubledBatch() throws Exception {
        twoRanksMatchOneRankWithTheDoubledBatch("adept");
        List<JsonObject> a = RunLog.read(dir.resolve("one-adept").resolve(Trainer.IMPORTANCE_FILE));
        List<JsonObject> b = RunLog.read(dir.resolve("two-adept").resolve(Trainer.IMPORTANCE_FILE));
        assertEquals(a.size(), b.size());
        assertTrue(a.stream().anyMatch(o -> o.get("step").getAsLong() == 10), "a refresh at step 10");
        for (int i = 0; i < a.size(); i++) {
            double x = a.get(i).get("importance").getAsDouble();
            double y = b.get(i).get("importance").getAsDouble();
            assertEquals(x, y, 1e-6 * Math.max(1e-3, Math.abs(x)), "importance of " + a.get(i).get("unit") + " at step " + a.get(i).get("step"));
        }
    }

    @Test
    void fullModeOnTwoRanksMatchesOneRankWithTheDoubledBatch() throws Exception {
        twoRanksMatchOneRankWithTheDoubledBatch("full");
    }

    @Test
    void aRunStoppedOnOneRankResumesOnTwoAndViceVersa() throws Exception {
        TrainSettings reference = settings(dir, "adept", "uninterrupted", 40);
        new Trainer(reference, null, null, false, "test").run();
        List<Double> expected = losses(Path.of(reference.out));

        // 1 rank, stopped after step 8 (a checkpoint), then 2 ranks take over.
        TrainSettings switched = settings(dir, "adept", "one-then-two", 40);
        AtomicBoolean stop = new AtomicBoolean();
        Trainer.Listener stopAt8 = new Trainer.Listener() {
            @Override
            public void step(long step, long steps, double loss, double lr, double tokensPerSecond) {
                if (step == 8) stop.set(true);
            }
        };
        assertEquals(Trainer.Status.INTERRUPTED, new Trainer(switched, stopAt8, stop, false, "test").run().status());
        ChildJvm.Outcome o = twoRanks(switched, dir.resolve("one-then-two.log"));
        assertEquals(0, o.exitCode(), o.output());
        assertTrue(o.output().contains("(step 8)"), "resumed at step 8: " + o.output());
        assertSameLosses(expected, losses(Path.of(switched.out)), 1e-5, "1 rank to step 8, then 2 ranks");

        // 2 ranks, stopped by SIGTERM to the launcher (it passes it on), then 1 rank takes over.
        TrainSettings back = settings(dir, "adept", "two-then-one", 40);
        List<String> args = new ArrayList<>(cli(back));
        args.addAll(List.of("--nproc", "2"));
        Path log = dir.resolve("two-then-one.log");
        Process launcher = ChildJvm.start(ChildJvm.adept(args), ENV, log);
        Path metrics = Path.of(back.out).resolve(Trainer.METRICS_FILE);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (launcher.isAlive() && losses(Path.of(back.out)).size() < 6 && System.nanoTime() < deadline) Thread.sleep(20);
        assertTrue(launcher.isAlive(), Files.readString(log));
        launcher.destroy();  // SIGTERM
        assertTrue(launcher.waitFor(120, TimeUnit.SECONDS), Files.readString(log));
        long stoppedAt = ResumeTest.newestStep(Path.of(back.out).resolve("checkpoints"));
        assertTrue(stoppedAt >= 6 && stoppedAt < 40, "stopped with a checkpoint: step " + stoppedAt + "\n" + Files.readString(log));
        assertFalse(Files.exists(Path.of(back.out).resolve(Trainer.MODEL_DIR)), "the 2-rank run did not finish");
        assertEquals(stoppedAt, RunLog.read(metrics).stream().filter(m -> m.has("loss")).count(), "rank 0 logged up to its checkpoint");
        Trainer.Result r = new Trainer(back, null, null, false, "test").run();
        assertEquals(Trainer.Status.COMPLETED, r.status());
        assertSameLosses(expected, losses(Path.of(back.out)), 1e-5, "2 ranks to step " + stoppedAt + ", then 1 rank");
        double diff = maxParameterDifference(Path.of(reference.out).resolve(Trainer.MODEL_DIR), r.model());
        System.out.printf("world size 2 -> 1 at step %d: max parameter difference to the uninterrupted run %.3g%n", stoppedAt, diff);
        assertTrue(diff <= 1e-6, "max parameter difference " + diff);
    }
}
