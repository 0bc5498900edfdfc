package adept.parallel;

import static org.junit.jupiter.api.Assertions.*;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.testing.ChildJvm;
import adept.testing.Ports;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Collectives over Gloo on loopback: two ranks as two threads of this JVM (each its own group, its own
 * rendezvous), and a rank in a child JVM that is killed; results against sums computed here element by element.
 */
class ProcessGroupTest {
    @TempDir
    Path dir;

    static final Duration TIMEOUT = Duration.ofSeconds(20);

    /** Runs body as ranks 0 and 1 (two threads, one group each) and returns their results. */
    static <T> List<T> onTwoRanks(Function<ProcessGroup, T> body) throws Exception {
        int port = Ports.free();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<T>> results = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                int rank = r;
                results.add(pool.submit(() -> {
                    // A scope per rank thread: what body makes on it (and does not keep) is freed with it.
                    try (ProcessGroup g = ProcessGroup.joinLocal(rank, 2, port, TIMEOUT); Scope scope = Scope.open()) {
                        assertEquals(rank, g.rank());
                        assertEquals(2, g.size());
                        return body.apply(g);
                    }
                }));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : results) out.add(f.get(60, TimeUnit.SECONDS));
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    /** Rank r's input values: distinct per rank and element. */
    static double[] input(int rank, int n, double scale) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = scale * (rank + 1) * (i + 0.25) - rank * 3;
        return v;
    }

    @Test
    void allReduceSumAndAverageEqualTheSumsComputedByHand() throws Exception {
        assumeGloo();
        long handlesBefore = ProcessGroup.liveHandles();
        List<double[][]> results = onTwoRanks(g -> {
            try (Tensor a = Tensor.of(input(g.rank(), 5, 1.5), 5).keep();
                 Tensor b = Tensor.of(input(g.rank(), 6, -0.5), 2, 3).to(DType.FLOAT32).keep();
                 Tensor c = Tensor.of(input(g.rank(), 7, 2), 7).to(DType.FLOAT32).keep();
                 Tensor ints = Tensor.of(new long[] {g.rank() + 1, 10L * (g.rank() + 1)}).keep()) {
                try (Work sums = g.allReduceAsync(List.of(a, b, ints), Reduction.SUM);
                     Work avg = g.allReduceAsync(List.of(c), Reduction.AVG)) {
                    sums.await();
                    avg.await();
                    sums.await();  // twice is fine
                }
                long[] i = ints.toLongArray();
                return new double[][] {a.toDoubleArray(), b.to(DType.FLOAT64).toDoubleArray(), c.to(DType.FLOAT64).toDoubleArray(),
                        {i[0], i[1]}};
            }
        });
        for (double[][] r : results) {
            assertArrayEquals(sum(input(0, 5, 1.5), input(1, 5, 1.5), 1), r[0], 1e-12, "float64 sum");
            assertArrayEquals(sum(input(0, 6, -0.5), input(1, 6, -0.5), 1), r[1], 1e-5, "float32 [2, 3] sum");
            assertArrayEquals(sum(input(0, 7, 2), input(1, 7, 2), 0.5), r[2], 1e-5, "float32 average");
            assertArrayEquals(new double[] {1 + 2, 10 + 20}, r[3], 0, "int64 sum");
        }
        assertEquals(handlesBefore, ProcessGroup.liveHandles(), "every group and work handle freed");
    }

    @Test
    void broadcastCopiesTheRootsTensorsAndBarrierReturns() throws Exception {
        assumeGloo();
        List<double[][]> results = onTwoRanks(g -> {
            try (Tensor a = Tensor.of(input(g.rank(), 4, 3), 4).keep(); Tensor b = Tensor.of(input(g.rank(), 3, -1), 3).keep()) {
                g.broadcast(List.of(a, b), 1);
                g.barrier();
                return new double[][] {a.toDoubleArray(), b.toDoubleArray(), g.sum(g.rank() + 1, 100)};
            }
        });
        for (double[][] r : results) {
            assertArrayEquals(input(1, 4, 3), r[0], 0, "rank 1's tensor on every rank");
            assertArrayEquals(input(1, 3, -1), r[1], 0);
            assertArrayEquals(new double[] {1 + 2, 200}, r[2], 0);
        }
    }

    @Test
    void gradientBucketsAverageAFlatTensorInPieces() throws Exception {
        assumeGloo();
        List<double[]> results = onTwoRanks(g -> {
            try (Tensor flat = Tensor.of(input(g.rank(), 1000, 0.01), 1000).to(DType.FLOAT32).keep()) {
                GradientBuckets buckets = new GradientBuckets(g, 256 * 4 + 12);  // 4 buckets, the last short
                buckets.averageInPlace(flat);
                assertEquals(1000 * 4, buckets.bytesPerCall());
                return flat.to(DType.FLOAT64).toDoubleArray();
            }
        });
        double[] expected = sum(input(0, 1000, 0.01), input(1, 1000, 0.01), 0.5);
        for (double[] r : results) assertArrayEquals(expected, r, 1e-5);
    }

    @Test
    void badCallsAreOneLineErrors() throws Exception {
        assumeGloo();
        List<String> messages = onTwoRanks(g -> {
            List<String> m = new ArrayList<>();
            try (Tensor t = Tensor.zeros(4, 4).keep(); Tensor strided = t.transpose(0, 1).keep(); Tensor ints = Tensor.of(new long[] {1}).keep()) {
                m.add(assertThrows(DistException.class, () -> g.allReduce(List.of(strided), Reduction.SUM)).getMessage());
                m.add(assertThrows(DistException.class, () -> g.allReduce(List.of(ints), Reduction.AVG)).getMessage());
                m.add(assertThrows(DistException.class, () -> g.broadcast(List.of(t), 2)).getMessage());
            }
            g.barrier();  // the group still works
            return String.join("\n", m);
        });
        String m = messages.get(0);
        assertTrue(m.contains("not contiguous"), m);
        assertTrue(m.contains("avg needs floating-point"), m);
        assertTrue(m.contains("broadcast root 2 is not a rank of 2"), m);
    }

    @Test
    void ncclOnThisBuildIsAClearError() {
        assumeGloo();
        if (ProcessGroup.available(Backend.NCCL)) return;  // a CUDA build with NCCL: nothing to check here
        var env = new DistEnvironment(0, 2, 0, "127.0.0.1", 1, TIMEOUT, java.util.Optional.of(Backend.NCCL), java.util.Optional.empty());
        DistException e = assertThrows(DistException.class, () -> ProcessGroup.join(env, Device.CPU));
        assertTrue(e.getMessage().contains("nccl"), e.getMessage());
    }

    @Test
    void aPeerThatNeverJoinsFailsTheRendezvousWithinTheTimeout() {
        assumeGloo();
        long t0 = System.nanoTime();
        DistException server = assertThrows(DistException.class,
                () -> ProcessGroup.joinLocal(0, 2, Ports.free(), Duration.ofMillis(1500)).close());
        double serverSeconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(server.getMessage().startsWith("rendezvous at 127.0.0.1:") && server.getMessage().contains("as rank 0 of 2 failed within 1500 ms"),
                server.getMessage());
        t0 = System.nanoTime();
        DistException client = assertThrows(DistException.class,
                () -> ProcessGroup.joinLocal(1, 2, Ports.free(), Duration.ofMillis(1500)).close());
        double clientSeconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(client.getMessage().contains("as rank 1 of 2 failed within 1500 ms"), client.getMessage());
        System.out.printf("never-joined peer: rank 0 failed after %.2f s, rank 1 after %.2f s (timeout 1.5 s)%n", serverSeconds, clientSeconds);
        assertTrue(serverSeconds < 10 && clientSeconds < 10, serverSeconds + " / " + clientSeconds);
    }

    @Test
    void aPeerKilledMidRunFailsTheNextCollectiveWithAClearMessage() throws Exception {
        assumeGloo();
        int port = Ports.free();
        long timeoutMs = 4000;
        Path log = dir.resolve("peer.log");
        Process peer = ChildJvm.start(ChildJvm.command(PeerProcess.class.getName(), List.of("1", "2", Integer.toString(port), Long.toString(timeoutMs))),
                Map.of(), log);
        try (ProcessGroup g = ProcessGroup.joinLocal(0, 2, port, Duration.ofMillis(20_000)); Scope scope = Scope.open();
             Tensor t = Tensor.ones(4).keep()) {
            g.allReduce(List.of(t), Reduction.SUM);
            assertArrayEquals(new float[] {2, 2, 2, 2}, t.toFloatArray());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!Files.readString(log).contains("ready") && System.nanoTime() < deadline) Thread.sleep(10);
            peer.destroyForcibly();  // SIGKILL
            assertTrue(peer.waitFor(10, TimeUnit.SECONDS));
            long t0 = System.nanoTime();
            DistException e = assertThrows(DistException.class, () -> g.allReduce(List.of(t), Reduction.SUM));
            double seconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf("killed peer: the next all-reduce failed after %.2f s: %s%n", seconds, e.getMessage());
            assertTrue(e.getMessage().startsWith("all-reduce: failed (a peer process is gone"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
            assertTrue(seconds < 25, "fails within the group's timeout: " + seconds);
        } finally {
            peer.destroyForcibly();
        }
    }

    static double[] sum(double[] a, double[] b, double scale) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) out[i] = (a[i] + b[i]) * scale;
        return out;
    }

    static void assumeGloo() {
        org.junit.jupiter.api.Assumptions.assumeTrue(ProcessGroup.available(Backend.GLOO), "the shim was built without Gloo");
    }
}
