package adept.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Ownership without traps: unowned tensors do not leak, segments cannot outlive their memory. */
class OwnershipTest {
    private static final int ITERATIONS = 1000;
    private static final long ELEMENTS = 1 << 18;  // 1 MiB of float32 per tensor: 1.5 GiB if all leaked

    @Test
    void tensorsNobodyClosesAreFreedOnceUnreachable() throws Exception {
        // The suite runs with adept.requireScope set, which refuses unowned tensors: the fallback owner is tested
        // in a child JVM without it.
        Child child = child(false, "fallback");
        System.out.print(child.output());
        assertEquals(0, child.exitCode(), child.output());
    }

    /** The body of {@link #tensorsNobodyClosesAreFreedOnceUnreachable}, in a JVM without adept.requireScope. */
    static void fallbackFreesUnreachableTensors() throws Exception {
        Torch.init();
        assertNull(Scope.current(), "this test makes tensors outside any scope");
        long liveAtStart = adept.testing.LiveTensors.settled();
        long bytesAtStart = FallbackOwner.unownedBytes();
        long mostAlive = 0;
        for (int i = 0; i < ITERATIONS; i++) {
            Tensor dropped = Tensor.zeros(ELEMENTS);
            if (i % 2 == 0) dropped.add(1.0);  // an op result nobody closes either
            mostAlive = Math.max(mostAlive, Torch.liveTensors() - liveAtStart);
        }
        // Before the fallback owner all ~1,500 handles stayed alive; a collection is asked for every ~64 MiB.
        System.out.println("OwnershipTest: at most " + mostAlive + " of " + ITERATIONS + " unclosed tensors alive at once");
        assertTrue(mostAlive < 400, "at most " + mostAlive + " unclosed tensors alive at once");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (Torch.liveTensors() > liveAtStart && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(20);
            Scope.open().close();  // a safe point: frees what the cleaner queued to this thread
        }
        // At most the start: garbage of earlier tests in this JVM may be freed too.
        assertTrue(Torch.liveTensors() <= liveAtStart, "every unreachable tensor freed: " + Torch.liveTensors() + " > " + liveAtStart);
        assertTrue(FallbackOwner.unownedBytes() <= bytesAtStart, "unowned bytes back to the start");
    }

    @Test
    void keptTensorsStayUntilClosedAndCloseOnce() {
        long liveAtStart = adept.testing.LiveTensors.settled();
        Tensor kept;
        try (Scope scope = Scope.open()) {
            kept = Tensor.ones(3).keep();
        }
        System.gc();
        try (Scope scope = Scope.open()) {
            assertEquals(3.0, kept.sum().item(), "a reachable kept tensor is never freed behind the caller");
        }
        kept.close();
        kept.close();
        assertEquals(liveAtStart, Torch.liveTensors());
    }

    @Test
    void segmentsEndWithTheirTensor() {
        MemorySegment segment;
        try (Scope scope = Scope.open()) {
            Tensor t = Tensor.ones(4);
            segment = t.asSegment();
            assertEquals(1f, segment.getAtIndex(ValueLayout.JAVA_FLOAT, 3));
        }
        MemorySegment closed = segment;
        assertThrows(IllegalStateException.class, () -> closed.getAtIndex(ValueLayout.JAVA_FLOAT, 0),
                "reading a freed tensor's segment is an exception, not a read of freed memory");
    }

    @Test
    void closableArenasCannotBackATensor() {
        for (Arena arena : List.of(Arena.ofConfined(), Arena.ofShared())) {
            try (arena) {
                MemorySegment segment = arena.allocate(ValueLayout.JAVA_FLOAT, 4);
                TorchException e = assertThrows(TorchException.class, () -> Tensor.fromSegment(segment, DType.FLOAT32, 4));
                assertTrue(e.getMessage().contains("Arena.ofAuto()") && e.getMessage().contains("copyOf"), e.getMessage());
            }
        }
    }

    @Test
    void copyOfOwnsItsBytes() {
        try (Arena arena = Arena.ofConfined(); Scope scope = Scope.open()) {
            MemorySegment segment = arena.allocate(ValueLayout.JAVA_FLOAT, 6);
            for (int i = 0; i < 6; i++) segment.setAtIndex(ValueLayout.JAVA_FLOAT, i, i);
            Tensor copy = Tensor.copyOf(segment, DType.FLOAT32, 2, 3);
            segment.setAtIndex(ValueLayout.JAVA_FLOAT, 4, 99f);
            assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5}, copy.toFloatArray());
            assertThrows(TorchException.class, () -> Tensor.copyOf(segment, DType.FLOAT32, 7));
        }
    }

    /**
     * Child JVM: with "fallback", {@link #fallbackFreesUnreachableTensors} (exit 0 when it passes, 1 with the failure);
     * else for {@link #requireScopeRefusesUnscopedTensors}: exit 3 with the message when refused.
     */
    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("fallback")) {
            try {
                fallbackFreesUnreachableTensors();
            } catch (AssertionError e) {
                System.out.println(e.getMessage());
                System.exit(1);
            }
            System.exit(0);
        }
        try (Scope scope = Scope.open()) {
            Tensor.ones(2);  // scoped: fine
        }
        try {
            Tensor.ones(2);
            System.out.println("made an unscoped tensor");
        } catch (TorchException e) {
            System.out.println(e.getMessage());
            System.exit(Torch.liveTensors() == 0 ? 3 : 4);
        }
    }

    @Test
    void requireScopeRefusesUnscopedTensors() throws Exception {
        Child child = child(true);
        assertEquals(3, child.exitCode(), child.output());
        assertTrue(child.output().contains("outside any Scope"), child.output());
    }

    record Child(int exitCode, String output) {}

    /** Runs {@link #main} with args in a child JVM, with or without adept.requireScope. */
    static Child child(boolean requireScope, String... args) throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new java.util.ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Dadept.requireScope=" + requireScope,
                "-Dadept.native.dir=" + System.getProperty("adept.native.dir"),
                "-cp", adept.testing.ChildJvm.classPath(), OwnershipTest.class.getName()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));  // its output is a line or two: it fits the pipe
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Child(p.exitValue(), out);
    }
}
