package adept.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Keeps the JVM's handlers for the signals it relies on. The JVM takes SIGSEGV, SIGBUS,
 * SIGFPE and SIGILL in normal operation (implicit null checks, safepoints); a library that
 * installs its own handlers when it loads turns those into crashes. Seen with Debian 13's
 * libtorch 2.6, which pulls in UCX (libucs): the JVM died in JIT-compiled code a few seconds
 * into the test suite.
 */
final class JvmSignalHandlers {
    private static final int[] SIGNALS = {4 /* SIGILL */, 7 /* SIGBUS */, 8 /* SIGFPE */, 11 /* SIGSEGV */};
    private static final long SIGACTION_BYTES = 256;  // struct sigaction is 152 bytes on x86-64 glibc
    private static final MethodHandle SIGACTION;

    static {
        Linker linker = Linker.nativeLinker();
        SIGACTION = linker.downcallHandle(linker.defaultLookup().find("sigaction").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
    }

    private final Arena arena = Arena.ofAuto();
    private final MemorySegment[] saved = new MemorySegment[SIGNALS.length];

    private JvmSignalHandlers() {}

    /** The handlers installed now. */
    static JvmSignalHandlers save() {
        JvmSignalHandlers handlers = new JvmSignalHandlers();
        for (int i = 0; i < SIGNALS.length; i++) {
            handlers.saved[i] = handlers.arena.allocate(SIGACTION_BYTES);
            sigaction(SIGNALS[i], MemorySegment.NULL, handlers.saved[i]);
        }
        return handlers;
    }

    /** Puts the saved handlers back where something replaced them; returns how many were replaced. */
    int restore() {
        int replaced = 0;
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment now = scratch.allocate(SIGACTION_BYTES);
            for (int i = 0; i < SIGNALS.length; i++) {
                sigaction(SIGNALS[i], MemorySegment.NULL, now);
                // sa_sigaction / sa_handler is the first field.
                if (now.get(ValueLayout.JAVA_LONG, 0) != saved[i].get(ValueLayout.JAVA_LONG, 0)) {
                    sigaction(SIGNALS[i], saved[i], MemorySegment.NULL);
                    replaced++;
                }
            }
        }
        return replaced;
    }

    private static void sigaction(int signal, MemorySegment action, MemorySegment old) {
        try {
            int rc = (int) SIGACTION.invokeExact(signal, action, old);
            if (rc != 0) throw new TorchException("sigaction(" + signal + ") failed");
        } catch (TorchException e) {
            throw e;
        } catch (Throwable t) {
            throw new TorchException("sigaction(" + signal + ") failed: " + t, t);
        }
    }
}
