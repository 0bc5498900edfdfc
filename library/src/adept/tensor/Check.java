package adept.tensor;

import static adept.bindings.adept_torch_h.at_clear_error;
import static adept.bindings.adept_torch_h.at_last_error;

import java.lang.foreign.MemorySegment;

/** Turns the shim's error channel (NULL / -1 plus a per-thread message) into TorchException. */
final class Check {
    private Check() {}

    static MemorySegment handle(MemorySegment result) {
        if (result.address() == 0) throw failure();
        return result;
    }

    static int status(int result) {
        if (result < 0) throw failure();
        return result;
    }

    static long count(long result) {
        if (result < 0) throw failure();
        return result;
    }

    /** The pending error, or null when the last call failed without one (e.g. an absent grad). */
    static String takeError() {
        MemorySegment message = at_last_error();
        if (message.address() == 0) return null;
        String text = cString(message);
        at_clear_error();
        return text;
    }

    static TorchException failure() {
        String message = takeError();
        return new TorchException(message != null ? message : "libtorch call failed without a message");
    }

    static String cString(MemorySegment pointer) {
        return pointer.reinterpret(Long.MAX_VALUE).getString(0);
    }
}
