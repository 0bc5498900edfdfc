package adept.dist;

import static adept.bindings.adept_torch_h.at_clear_error;
import static adept.bindings.adept_torch_h.at_last_error;

import java.lang.foreign.MemorySegment;

/** The shim's error channel (NULL / -1 plus a per-thread message) as DistException. */
final class DistCheck {
    private DistCheck() {}

    static MemorySegment handle(MemorySegment result) {
        if (result.address() == 0) throw failure();
        return result;
    }

    static int status(int result) {
        if (result < 0) throw failure();
        return result;
    }

    static DistException failure() {
        MemorySegment message = at_last_error();
        if (message.address() == 0) return new DistException("process group call failed without a message");
        String text = message.reinterpret(Long.MAX_VALUE).getString(0);
        at_clear_error();
        return new DistException(text);
    }
}
