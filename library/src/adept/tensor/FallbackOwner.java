package adept.tensor;

import static adept.bindings.adept_torch_h.at_free;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Owner of last resort for tensors no {@link Scope} owns (made outside any scope, kept, or
 * promoted out of the outermost scope): frees them once they become unreachable. The garbage
 * collector cannot see native memory, so when the bytes of unowned tensors pile up this asks
 * for a collection, as the JDK does for direct buffers; a program that closes what it makes
 * never reaches that point. {@code -Dadept.requireScope=true} turns the fallback into an error
 * at creation, for code that wants every tensor scoped.
 *
 * <p>The collector may find a tensor unreachable while a native call of its creating thread
 * still uses the handle (the JIT drops {@code this} once no Java code needs it), so the
 * cleaner does not free: it queues the handle to that thread, which frees it at its next
 * tensor creation, when none of its calls is running. Handles of finished threads are freed
 * by the cleaner directly.
 */
final class FallbackOwner {
    private FallbackOwner() {}

    static final boolean REQUIRE_SCOPE = Boolean.getBoolean("adept.requireScope");

    /** Unowned bytes above which a collection is requested (and above twice the level after the last one). */
    private static final long GC_BYTES = Long.getLong("adept.unownedGcBytes", 64L << 20);

    private static volatile Thread cleanerThread;
    private static final Cleaner CLEANER = Cleaner.create(runnable -> {
        Thread thread = new Thread(runnable, "adept-tensor-cleaner");
        thread.setDaemon(true);
        cleanerThread = thread;
        return thread;
    });

    private static final AtomicLong unownedBytes = new AtomicLong();
    // The lowest unowned level seen since the last requested collection: what is really still in use.
    private static final AtomicLong floorSinceGc = new AtomicLong();
    // Handles queued to their threads and not yet freed (a cheap check before the thread-local one).
    private static final AtomicInteger queued = new AtomicInteger();

    /** Handles of one thread's unreachable tensors, freed by that thread. */
    private static final class ThreadQueue {
        final Thread thread = Thread.currentThread();
        final ConcurrentLinkedQueue<Release> releases = new ConcurrentLinkedQueue<>();
    }

    private static final ThreadLocal<ThreadQueue> QUEUE = ThreadLocal.withInitial(ThreadQueue::new);

    /** Frees the handle (and closes the tensor's segment arena) once: from close(), or queued by the cleaner. */
    static final class Release implements Runnable {
        private final long address;
        private final long bytes;
        private final ThreadQueue owner;
        volatile Arena segmentArena;

        Release(long address, long bytes, ThreadQueue owner) {
            this.address = address;
            this.bytes = bytes;
            this.owner = owner;
        }

        @Override
        public void run() {
            if (Thread.currentThread() == cleanerThread && owner.thread.isAlive()) {
                owner.releases.add(this);
                queued.incrementAndGet();
            } else {
                free();
            }
        }

        void free() {
            Arena arena = segmentArena;
            if (arena != null) arena.close();
            at_free(MemorySegment.ofAddress(address));
            long level = unownedBytes.addAndGet(-bytes);
            floorSinceGc.accumulateAndGet(level, Math::min);
        }
    }

    /** A tensor's registration: {@link #free()} frees the handle now, once. */
    record Registration(Release release, Cleaner.Cleanable cleanable) {
        void free() {
            cleanable.clean();
        }

        void setSegmentArena(Arena arena) {
            release.segmentArena = arena;
        }
    }

    /** Registers a tensor that lost (or never had) a scope. */
    static Registration register(Tensor tensor, MemorySegment handle, long bytes) {
        Release release = new Release(handle.address(), bytes, QUEUE.get());
        long level = unownedBytes.addAndGet(bytes);
        if (level > Math.max(GC_BYTES, 2 * floorSinceGc.get())) {
            floorSinceGc.set(level);
            System.gc();
        }
        return new Registration(release, CLEANER.register(tensor, release));
    }

    /** Frees what the cleaner queued to this thread; called where no native call of this thread runs. */
    static void freeQueued() {
        if (queued.get() == 0) return;
        ConcurrentLinkedQueue<Release> releases = QUEUE.get().releases;
        for (Release release; (release = releases.poll()) != null; ) {
            queued.decrementAndGet();
            release.free();
        }
    }

    /** Bytes of live tensors that only this owner would free (for tests and diagnostics). */
    static long unownedBytes() {
        return unownedBytes.get();
    }
}
