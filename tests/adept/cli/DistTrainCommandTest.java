package adept.cli;

import static org.junit.jupiter.api.Assertions.*;

import adept.testing.ChildJvm;
import adept.testing.Ports;
import adept.testing.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `adept train` with torchrun's variables or --nproc, given wrong ones: one-line errors, exit 2, within the timeout. */
class DistTrainCommandTest extends adept.testing.TrainFolder {
    List<String> args(String... extra) {
        return fullTraining(dir.resolve("run"), 4, 8, extra);
    }

    static Map<String, String> torchrun(String rank, String world, String addr, int port) {
        Map<String, String> env = new HashMap<>(Map.of("RANK", rank, "WORLD_SIZE", world, "MASTER_ADDR", addr, "MASTER_PORT",
                Integer.toString(port), "ADEPT_DIST_TIMEOUT", "2"));
        return env;
    }

    /** The last line of the output: the error (c10d may log warnings before it). */
    static void assertUserError(ChildJvm.Outcome o, String expected) {
        assertEquals(2, o.exitCode(), o.output());
        List<String> lines = o.output().lines().filter(l -> l.contains("adept: ")).toList();
        assertFalse(lines.isEmpty(), o.output());
        String last = lines.get(lines.size() - 1);
        assertTrue(last.contains("adept: " + expected), "expected 'adept: " + expected + "...', got: " + o.output());
        assertFalse(o.output().contains("Exception"), o.output());
    }

    @Test
    void aRankOutsideTheWorldIsAOneLineError() throws Exception {
        ChildJvm.Outcome o = ChildJvm.run(ChildJvm.adept(args()), torchrun("3", "2", "127.0.0.1", 29400), dir.resolve("a.log"), 60);
        assertUserError(o, "RANK 3 is inconsistent with WORLD_SIZE 2 (ranks are 0..1)");
    }

    @Test
    void anUnreachableMasterFailsWithinTheTimeout() throws Exception {
        // 192.0.2.1 is TEST-NET-1: never routed. Rank 1 tries to reach rank 0's store there for 2 s.
        ChildJvm.Outcome o = ChildJvm.run(ChildJvm.adept(args()), torchrun("1", "2", "192.0.2.1", 29400), dir.resolve("b.log"), 60);
        assertUserError(o, "rendezvous at 192.0.2.1:29400 as rank 1 of 2 failed within 2000 ms");
        // Rank 0 waiting for a rank that never comes.
        ChildJvm.Outcome alone = ChildJvm.run(ChildJvm.adept(args()), torchrun("0", "2", "127.0.0.1", Ports.free()), dir.resolve("c.log"), 60);
        assertUserError(alone, "rendezvous at 127.0.0.1:");
        assertTrue(alone.output().contains("as rank 0 of 2 failed within 2000 ms"), alone.output());
        System.out.printf("unreachable master: exit 2 after %.1f s; lone rank 0: exit 2 after %.1f s (timeout 2 s, JVM start included)%n",
                o.seconds(), alone.seconds());
        assertTrue(o.seconds() < 30 && alone.seconds() < 30);
    }

    @Test
    void nprocIsCheckedBeforeAnyRankStarts() throws Exception {
        TinyModel.adept(args("--nproc", "0").toArray(String[]::new)).assertUsageError("--nproc must be at least 1, got 0");
        TinyModel.adept(args("--nproc", "3").toArray(String[]::new)).assertUsageError("--batch-size 2 is the global batch: it must split evenly over --nproc 3");
        ChildJvm.Outcome both = ChildJvm.run(ChildJvm.adept(args("--nproc", "2")), torchrun("0", "2", "127.0.0.1", 29400), dir.resolve("d.log"), 60);
        assertUserError(both, "--nproc starts its own ranks, but RANK / WORLD_SIZE are set");
    }

    @Test
    void aRankKilledMidRunFailsTheOtherWithTheClearError() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(adept.parallel.ProcessGroup.available(adept.parallel.Backend.GLOO), "the shim was built without Gloo");
        int port = Ports.free();
        List<String> a = args();
        a.set(a.indexOf("--steps") + 1, "1000000");  // still training when rank 1 dies
        Map<String, String> env0 = torchrun("0", "2", "127.0.0.1", port);
        env0.put("ADEPT_DIST_TIMEOUT", "20");
        Map<String, String> env1 = torchrun("1", "2", "127.0.0.1", port);
        env1.put("ADEPT_DIST_TIMEOUT", "20");
        Path log0 = dir.resolve("rank0.log");
        Process rank0 = ChildJvm.start(ChildJvm.adept(a), env0, log0);
        Process rank1 = ChildJvm.start(ChildJvm.adept(a), env1, dir.resolve("rank1.log"));
        try {
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(120);
            while (!Files.readString(log0).contains("buckets started during backward") && rank0.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
            assertTrue(Files.readString(log0).contains("buckets started during backward"), "rank 0 trains with the overlapped all-reduce: " + Files.readString(log0));
            Thread.sleep(500);
            rank1.destroyForcibly();  // SIGKILL, mid-run
            long t0 = System.nanoTime();
            assertTrue(rank0.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "rank 0 did not stop: " + Files.readString(log0));
            double seconds = (System.nanoTime() - t0) / 1e9;
            ChildJvm.Outcome o = new ChildJvm.Outcome(rank0.exitValue(), Files.readString(log0), seconds);
            System.out.printf("rank 1 killed mid-run: rank 0 exited %d after %.1f s%n", o.exitCode(), seconds);
            assertUserError(o, "all-reduce: failed (a peer process is gone, or none answered within 20000 ms)");
        } finally {
            rank1.destroyForcibly();
            rank0.destroyForcibly();
        }
    }

    @Test
    void aFailingRankMakesTheLauncherFail() throws Exception {
        List<String> a = args("--nproc", "2");
        a.set(a.indexOf("--data") + 1, dir.resolve("missing.txt").toString());
        ChildJvm.Outcome o = ChildJvm.run(ChildJvm.adept(a), Map.of("ADEPT_DIST_TIMEOUT", "20"), dir.resolve("e.log"), 120);
        assertEquals(2, o.exitCode(), o.output());
        assertTrue(o.output().contains("missing.txt"), o.output());
        assertTrue(o.output().contains("adept: rank ") && o.output().contains("failed (exit 2); stopped the other ranks"), o.output());
    }
}
