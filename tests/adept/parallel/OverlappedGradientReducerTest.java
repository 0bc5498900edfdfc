package adept.parallel;

import static org.junit.jupiter.api.Assertions.*;

import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.testing.ChildJvm;
import adept.testing.LiveTensors;
import adept.testing.Ports;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The overlapped gradient all-reduce on two ranks (threads, one group each, as ProcessGroupTest): each rank's
 * gradients are first computed by plain backward (the hooks disarmed), then again with the reducer armed; its
 * outputs must equal the average of the two ranks' plain gradients computed here in float arithmetic, bit for bit,
 * with buckets launched from the hooks while backward ran. And a peer killed mid-run fails finish with the
 * group's one-line error.
 */
class OverlappedGradientReducerTest {
    @TempDir
    Path dir;

    static final long[][] SHAPES = {{5}, {4, 6}, {6, 6}, {6, 3}, {3}};  // spare (unused by the loss), W0, W1, W2, b

    /** Rank r's parameters (the same on every rank, as after the broadcast) and inputs (distinct per rank). */
    static List<Tensor> leaves() {
        List<Tensor> out = new ArrayList<>();
        try (Scope scope = Scope.open()) {
            for (int i = 0; i < SHAPES.length; i++) {
                long n = 1;
                for (long d : SHAPES[i]) n *= d;
                float[] v = new float[(int) n];
                for (int j = 0; j < v.length; j++) v[j] = (float) Math.sin(0.7 * j + i) * 0.5f;
                out.add(Tensor.of(v, SHAPES[i]).requiresGrad(true).keep());
            }
        }
        return out;
    }

    /** Zeros shaped like each of ts, kept: the caller closes them. */
    static List<Tensor> zerosLike(List<Tensor> ts) {
        List<Tensor> out = new ArrayList<>();
        try (Scope scope = Scope.open()) {
            for (Tensor t : ts) out.add(Tensor.zeros(t.shape()).keep());
        }
        return out;
    }

    static Tensor input(int rank, int microBatch) {
        float[] v = new float[2 * 4];
        for (int j = 0; j < v.length; j++) v[j] = (float) Math.cos(1.3 * j + 5 * rank + 11 * microBatch);
        return Tensor.of(v, 2, 4);
    }

    /** loss = sum(tanh(tanh(x W0) W1) W2 + b)^2): the spare tensor gets no gradient. */
    static void backward(List<Tensor> p, Tensor x) {
        try (Scope scope = Scope.open()) {
            Tensor h = x.matmul(p.get(1)).tanh().matmul(p.get(2)).tanh().matmul(p.get(3)).add(p.get(4));
            h.square().sum().backward();
        }
    }

    static float[][] grads(List<Tensor> p) {
        float[][] out = new float[p.size()][];
        try (Scope scope = Scope.open()) {
            for (int i = 0; i < p.size(); i++) {
                Tensor g = p.get(i).grad();
                out[i] = g == null ? new float[(int) p.get(i).numel()] : g.contiguous().toFloatArray();
            }
        }
        return out;
    }

    static float[][] values(List<Tensor> ts) {
        float[][] out = new float[ts.size()][];
        try (Scope scope = Scope.open()) {
            for (int i = 0; i < ts.size(); i++) out[i] = ts.get(i).contiguous().toFloatArray();
        }
        return out;
    }

    static void dropGrads(List<Tensor> p) {
        for (Tensor t : p) t.setGrad(null);
    }

    /** What the reducer must give: (rank 0's + rank 1's) / 2 in float32, element by element. */
    static float[][] average(float[][] a, float[][] b) {
        float[][] out = new float[a.length][];
        for (int i = 0; i < a.length; i++) {
            out[i] = new float[a[i].length];
            for (int j = 0; j < a[i].length; j++) out[i][j] = (a[i][j] + b[i][j]) / 2f;
        }
        return out;
    }

    record RankResult(float[][] reference, float[][] reduced, float[][] accumulatedReference, float[][] accumulatedReduced,
                      long buckets, long fromHooks, long atFinish, long fromHooksAfterNoSync, long fromHooksAtEnd, long atFinishAtEnd) {}

    @Test
    void overlappedAverageEqualsTheHandMadeAverageWithBucketsLaunchedDuringBackward() throws Exception {
        ProcessGroupTest.assumeGloo();
        long handlesBefore = ProcessGroup.liveHandles();
        long tensorsBefore = LiveTensors.settled();
        List<RankResult> results = ProcessGroupTest.onTwoRanks(g -> {
            List<Tensor> p = leaves();
            List<Tensor> outputs = zerosLike(p);
            Tensor spareGrad = Tensor.of(new float[] {1, -2, 3, -4, 5.5f}, 5).keep();
            try (OverlappedGradientReducer reducer = OverlappedGradientReducer.create(g, p, outputs, 4)) {  // 4 bytes: a bucket per tensor
                // One micro-batch; rank 0's spare tensor holds a gradient from earlier (it counts), rank 1's none (zero).
                if (g.rank() == 0) p.get(0).setGrad(spareGrad);
                backward(p, input(g.rank(), 0));
                float[][] reference = grads(p);
                dropGrads(p);
                if (g.rank() == 0) p.get(0).setGrad(spareGrad);
                reducer.prepare(true);
                backward(p, input(g.rank(), 0));
                long fromHooks = reducer.bucketsLaunchedDuringBackward();
                reducer.finish();
                float[][] reduced = values(outputs);
                long atFinish = reducer.bucketsLaunchedAtFinish();
                dropGrads(p);

                // Two micro-batches: the first only accumulates, the second reduces the sum.
                backward(p, input(g.rank(), 1));
                backward(p, input(g.rank(), 2));
                float[][] accumulatedReference = grads(p);
                dropGrads(p);
                reducer.prepare(false);
                backward(p, input(g.rank(), 1));
                long afterNoSync = reducer.bucketsLaunchedDuringBackward();
                reducer.prepare(true);
                backward(p, input(g.rank(), 2));
                reducer.finish();
                float[][] accumulatedReduced = values(outputs);
                return new RankResult(reference, reduced, accumulatedReference, accumulatedReduced, reducer.bucketCount(), fromHooks, atFinish,
                        afterNoSync, reducer.bucketsLaunchedDuringBackward(), reducer.bucketsLaunchedAtFinish());
            } finally {
                for (Tensor t : p) t.close();
                for (Tensor t : outputs) t.close();
                spareGrad.close();
            }
        });
        RankResult r0 = results.get(0);
        RankResult r1 = results.get(1);
        float[][] expected = average(r0.reference(), r1.reference());
        float[][] expectedAccumulated = average(r0.accumulatedReference(), r1.accumulatedReference());
        assertEquals(5.5f / 2, expected[0][4], "rank 0's earlier spare gradient averaged with rank 1's none");
        for (RankResult r : results) {
            for (int i = 0; i < SHAPES.length; i++) {
                assertArrayEquals(expected[i], r.reduced()[i], 0f, "tensor " + i + ": bit-identical to the hand-made average");
                assertArrayEquals(expectedAccumulated[i], r.accumulatedReduced()[i], 0f, "tensor " + i + ", 2 micro-batches");
            }
            assertEquals(5, r.buckets());
            // Buckets in reverse order: b, W2, W1, W0 get their gradients in backward, the spare tensor's bucket (last) never.
            assertEquals(4, r.fromHooks(), "four buckets started by the hooks, before backward returned");
            assertEquals(1, r.atFinish(), "the spare tensor's bucket started by finish");
            assertEquals(4, r.fromHooksAfterNoSync(), "the accumulate-only backward started nothing");
            assertEquals(8, r.fromHooksAtEnd());
            assertEquals(2, r.atFinishAtEnd());
        }
        assertNotEquals(r0.reference()[1][0], r1.reference()[1][0], "the ranks' gradients differ (else the average proves little)");
        assertEquals(handlesBefore, ProcessGroup.liveHandles(), "every group and reducer handle freed");
        assertEquals(tensorsBefore, LiveTensors.settled(), "no tensor handle left behind");
    }

    @Test
    void misuseIsAOneLineError() throws Exception {
        ProcessGroupTest.assumeGloo();
        long handlesBefore = ProcessGroup.liveHandles();
        List<String> messages = ProcessGroupTest.onTwoRanks(g -> {
            List<String> m = new ArrayList<>();
            List<Tensor> p = leaves();
            try (Scope scope = Scope.open()) {
                List<Tensor> outputs = new ArrayList<>();
                for (Tensor t : p) outputs.add(Tensor.zeros(t.shape()));
                Tensor notLeaf = p.get(1).mul(2.0);
                m.add(assertThrows(DistException.class, () -> OverlappedGradientReducer.create(g, List.of(notLeaf), List.of(outputs.get(1)), 1 << 20)).getMessage());
                m.add(assertThrows(DistException.class, () -> OverlappedGradientReducer.create(g, List.of(p.get(1)), List.of(outputs.get(2)), 1 << 20)).getMessage());
                m.add(assertThrows(DistException.class, () -> OverlappedGradientReducer.create(g, List.of(p.get(1), p.get(1)), List.of(outputs.get(1), outputs.get(1)), 1 << 20)).getMessage());
                try (OverlappedGradientReducer reducer = OverlappedGradientReducer.create(g, p, outputs, 1 << 20)) {
                    assertEquals(1, reducer.bucketCount());
                    m.add(assertThrows(DistException.class, reducer::finish).getMessage());
                    reducer.prepare(true);
                    m.add(assertThrows(DistException.class, () -> reducer.prepare(true)).getMessage());
                    reducer.finish();  // no backward: every tensor counts as zero; one all-reduce on each rank
                    for (Tensor o : outputs) assertEquals(0f, o.abs().sum().item(), "zero without gradients");
                }
            } finally {
                for (Tensor t : p) t.close();
            }
            return String.join("\n", m);
        });
        String[] m = messages.get(0).split("\n");
        assertTrue(m[0].contains("tensor 0 is not a leaf that requires grad"), m[0]);
        assertTrue(m[1].contains("tensor 0 has 24 elements, its output 36"), m[1]);
        assertTrue(m[2].contains("tensor 1 is listed twice"), m[2]);
        assertTrue(m[3].contains("finish: no reduced backward to finish"), m[3]);
        assertTrue(m[4].contains("the previous reduced backward was not finished"), m[4]);
        assertEquals(handlesBefore, ProcessGroup.liveHandles(), "failed constructions leave no handle");
    }

    @Test
    void aPeerKilledMidRunFailsFinishWithTheClearMessage() throws Exception {
        ProcessGroupTest.assumeGloo();
        long handlesBefore = ProcessGroup.liveHandles();
        int port = Ports.free();
        Path log = dir.resolve("peer.log");
        Process peer = ChildJvm.start(ChildJvm.command(PeerProcess.class.getName(), List.of("1", "2", Integer.toString(port), "4000")), Map.of(), log);
        List<Tensor> p = leaves();
        List<Tensor> outputs = zerosLike(p);
        try (Scope scope = Scope.open(); ProcessGroup g = ProcessGroup.joinLocal(0, 2, port, Duration.ofMillis(20_000)); Tensor t = Tensor.ones(4).keep();
             OverlappedGradientReducer reducer = OverlappedGradientReducer.create(g, p, outputs, 4)) {
            g.allReduce(List.of(t), Reduction.SUM);  // the peer's one collective
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!Files.readString(log).contains("ready") && System.nanoTime() < deadline) Thread.sleep(10);
            peer.destroyForcibly();  // SIGKILL
            assertTrue(peer.waitFor(10, TimeUnit.SECONDS));
            long t0 = System.nanoTime();
            reducer.prepare(true);
            backward(p, input(0, 0));  // the hooks start buckets towards a dead peer: backward itself still succeeds
            DistException e = assertThrows(DistException.class, reducer::finish);
            double seconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf("killed peer: the overlapped all-reduce failed after %.2f s: %s%n", seconds, e.getMessage());
            assertTrue(e.getMessage().startsWith("all-reduce: failed (a peer process is gone"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
            assertTrue(seconds < 25, "fails within the group's timeout: " + seconds);
            DistException again = assertThrows(DistException.class, () -> reducer.prepare(true));
            assertTrue(again.getMessage().contains("the gradient reducer failed earlier: all-reduce: failed"), again.getMessage());
        } finally {
            peer.destroyForcibly();
            for (Tensor t : p) t.close();
            for (Tensor t : outputs) t.close();
        }
        assertEquals(handlesBefore, ProcessGroup.liveHandles(), "the reducer and group freed after the failure");
    }
}
