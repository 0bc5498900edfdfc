package adept.cli;

import static adept.testing.TinyModel.adept;
import static org.junit.jupiter.api.Assertions.*;

import adept.testing.ChildJvm;
import adept.testing.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 20, orphans and leftovers: ranks and spm_train die with adept, and what a killed run left is cleaned by the next. */
class ProcessLifetimeTest extends adept.testing.TrainFolder {
    static void await(BooleanSupplier condition, long seconds, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting: " + what);
            Thread.sleep(100);
        }
    }

    static String log(Path p) {
        try {
            return Files.readString(p);
        } catch (Exception e) {
            return "?";
        }
    }

    @Test
    void ranksDieWithTheirKilledLauncher() throws Exception {
        Path out = dir.resolve("run");
        List<String> args = new ArrayList<>(List.of("train", "--model", model.toString(), "--data", data.toString(), "--out", out.toString(),
                "--mode", "full", "--steps", "100000", "--block-size", "8", "--batch-size", "2", "--nproc", "2", "--save-every", "50"));
        Path logFile = dir.resolve("launcher.log");
        Process launcher = ChildJvm.start(ChildJvm.adept(args), Map.of("ADEPT_DIST_TIMEOUT", "30"), logFile);
        List<ProcessHandle> ranks;
        try {
            await(() -> Files.exists(out.resolve("metrics.jsonl")) || !launcher.isAlive(), 120, "the ranks to train");
            assertTrue(launcher.isAlive(), log(logFile));
            ranks = launcher.children().toList();
            assertEquals(2, ranks.size(), "two ranks: " + ranks);
        } finally {
            launcher.destroyForcibly().waitFor();  // SIGKILL: no shutdown hook runs
        }
        await(() -> ranks.stream().noneMatch(ProcessHandle::isAlive), 15, "the ranks to stop after the launcher was killed");
        // the folder is free again: the same command resumes (a short run here)
        args.set(args.indexOf("--steps") + 1, "4");
        args.subList(args.indexOf("--nproc"), args.indexOf("--nproc") + 2).clear();
        TinyModel.Run again = adept(args.toArray(String[]::new));
        if (again.exit() != 0) again.assertUserError("holds a run with other settings");  // steps differ: refused, not locked
        assertFalse(again.err().contains("being written"), again.err());
    }

    @Test
    void spmTrainDiesWithAKilledTokenizerAndItsInputIsCleanedUp() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/spm_train")), "no spm_train");
        Random random = new Random(1);
        StringBuilder text = new StringBuilder();
        for (int line = 0; line < 200_000; line++) {
            for (int w = 0; w < 12; w++) {
                for (int c = 2 + random.nextInt(6); c > 0; c--) text.append((char) ('a' + random.nextInt(26)));
                text.append(' ');
            }
            text.append('\n');
        }
        Path corpus = Files.writeString(dir.resolve("corpus.txt"), text);
        Path out = dir.resolve("tok");
        Path logFile = dir.resolve("tokenizer.log");
        Process adeptProcess = ChildJvm.start(ChildJvm.adept(List.of("tokenizer", "--data", corpus.toString(), "--vocab", "2000", "--out", out.toString())),
                Map.of(), logFile);
        List<ProcessHandle> spm = new ArrayList<>();
        try {
            await(() -> {
                spm.clear();
                adeptProcess.descendants().filter(h -> h.info().command().map(c -> c.endsWith("spm_train")).orElse(false)).forEach(spm::add);
                return !spm.isEmpty() || !adeptProcess.isAlive();
            }, 120, "spm_train to start");
            assertFalse(spm.isEmpty(), "spm_train ran: " + log(logFile));
        } finally {
            adeptProcess.destroyForcibly().waitFor();
        }
        await(() -> spm.stream().noneMatch(ProcessHandle::isAlive), 10, "spm_train to die with adept");
        assertTrue(hidden(out).stream().anyMatch(n -> n.startsWith(".spm-input")), "the killed run left its input: " + hidden(out));
        adept("tokenizer", "--data", data.toString(), "--vocab", "400", "--out", out.toString());
        assertEquals(List.of(), hidden(out), "the next run removed the leftover and its own input");
    }

    static List<String> hidden(Path folder) throws Exception {
        try (Stream<Path> files = Files.list(folder)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".")).sorted().toList();
        }
    }

    @Test
    void leftoversOfKilledRunsAreCleanedByTheNextRun() throws Exception {
        Path out = dir.resolve("run");
        List<String> train = List.of("train", "--model", model.toString(), "--data", data.toString(), "--out", out.toString(),
                "--mode", "full", "--steps", "2", "--block-size", "8", "--batch-size", "2");
        assertEquals(0, adept(train.toArray(String[]::new)).exit());
        long dead = deadPid();
        Files.writeString(out.resolve(".loss.png." + dead + "-1f.tmp"), "half a plot");
        Files.writeString(out.resolve(".summary.json." + dead + "-2e.tmp"), "half a summary");
        Path staging = Files.createDirectories(out.resolve("checkpoints/.staging-step-00000002"));
        Files.writeString(staging.resolve("optimizer.bin"), "half");
        Path live = Files.writeString(out.resolve(".loss.png." + ProcessHandle.current().pid() + "-3d.tmp"), "being written");
        assertEquals(0, adept("plot", "--run", out.toString()).exit());
        assertFalse(Files.exists(out.resolve(".loss.png." + dead + "-1f.tmp")), "plot removed a dead writer's temporary file");
        assertTrue(Files.exists(live), "a live writer's is kept");
        Files.delete(live);
        assertEquals(0, adept(train.toArray(String[]::new)).exit());  // complete: nothing to do, but the folder is cleaned
        assertEquals(List.of(), hidden(out));
        assertFalse(Files.exists(staging));
    }

    /** A pid no process has now. */
    static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }
}
