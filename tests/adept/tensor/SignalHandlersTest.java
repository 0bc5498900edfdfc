package adept.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import org.junit.jupiter.api.Test;

/** After libtorch loads and runs, the JVM still owns the signals it needs (a libtorch with UCX takes them otherwise). */
class SignalHandlersTest {
    private static final Linker LINKER = Linker.nativeLinker();

    private static String libraryOfHandler(int signal) throws Throwable {
        MethodHandle sigaction = LINKER.downcallHandle(LINKER.defaultLookup().find("sigaction").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        MethodHandle dladdr = LINKER.downcallHandle(LINKER.defaultLookup().find("dladdr").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment action = arena.allocate(256);
            assertEquals(0, (int) sigaction.invokeExact(signal, MemorySegment.NULL, action));
            MemorySegment info = arena.allocate(32);  // Dl_info: dli_fname, dli_fbase, dli_sname, dli_saddr
            int found = (int) dladdr.invokeExact(MemorySegment.ofAddress(action.get(ValueLayout.JAVA_LONG, 0)), info);
            return found == 0 ? "(unknown)" : info.get(ValueLayout.ADDRESS, 0).reinterpret(4096).getString(0);
        }
    }

    @Test
    void jvmKeepsItsSignalHandlers() throws Throwable {
        try (Scope scope = Scope.open()) {
            Tensor.ones(4, 4).matmul(Tensor.ones(4, 4)).sum().item();
        }
        for (int signal : new int[] {4, 7, 8, 11}) {
            String library = libraryOfHandler(signal);
            assertTrue(library.contains("libjvm"), "signal " + signal + " is handled by " + library);
        }
    }
}
