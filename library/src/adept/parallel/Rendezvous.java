package adept.parallel;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Bounds a native rendezvous by the environment's timeout. c10d bounds each of its own waits, but a server on the port
 * that accepts and never answers keeps its client reading without end; the join runs on a thread of its own and this
 * rank gives up after the timeout plus {@link #GRACE}, naming the address and ADEPT_DIST_TIMEOUT.
 */
final class Rendezvous {
    /** Beyond the timeout: c10d's own deadline fails first when it can, with its own message. */
    static final Duration GRACE = Duration.ofSeconds(5);

    private Rendezvous() {}

    /**
     * Runs join on a daemon thread and returns its handle, or throws a {@link DistException} once the deadline passes
     * (a join that ends later hands its handle to freeLate, so nothing leaks).
     */
    static MemorySegment join(DistEnvironment env, Supplier<MemorySegment> join, Consumer<MemorySegment> freeLate) {
        CompletableFuture<MemorySegment> result = new CompletableFuture<>();
        Thread worker = Thread.ofPlatform().daemon().name("adept-rendezvous").unstarted(() -> {
            try {
                MemorySegment h = join.get();
                if (!result.complete(h)) freeLate.accept(h);
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        worker.start();
        Duration deadline = env.timeout().plus(GRACE);
        try {
            return result.get(deadline.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            if (result.complete(null)) {
                throw new DistException("rendezvous at " + env.masterAddr() + ":" + env.masterPort() + " as rank " + env.rank() + " of "
                        + env.worldSize() + ": no answer within " + deadline.toSeconds() + " s (ADEPT_DIST_TIMEOUT " + seconds(env.timeout())
                        + " s + " + GRACE.toSeconds() + " s); is the server at MASTER_ADDR:MASTER_PORT another program?");
            }
            return result.join();  // finished just now
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            result.complete(null);
            throw new DistException("rendezvous at " + env.masterAddr() + ":" + env.masterPort() + " interrupted");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r && r.getMessage() != null && r.getMessage().startsWith("rendezvous at ")
                    && !r.getMessage().contains("MASTER_PORT")) {
                // c10d's own words (a foreign server's bytes, a refused connection): name the settings that chose the address
                throw new DistException(r.getMessage() + " (MASTER_ADDR:MASTER_PORT, ADEPT_DIST_TIMEOUT)");
            }
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error err) throw err;
            throw new DistException("rendezvous failed: " + e.getCause());
        }
    }

    private static String seconds(Duration d) {
        double s = d.toMillis() / 1000.0;
        return s == Math.rint(s) ? Long.toString((long) s) : Double.toString(s);
    }
}
