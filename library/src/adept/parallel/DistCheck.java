package adept.parallel;

import adept.tensor.Torch;
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
        String text = Torch.takeNativeError();
        return new DistException(text != null ? text : "process group call failed without a message");
    }
}
