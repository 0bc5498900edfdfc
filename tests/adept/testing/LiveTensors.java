package adept.testing;

import adept.tensor.Scope;
import adept.tensor.Torch;

/** Exact live-handle counts for tests: first lets the fallback owner free what earlier tests left unreachable. */
public final class LiveTensors {
    private LiveTensors() {}

    /** Torch.liveTensors() once it has not changed over three collect-and-free rounds (at most ~3 s). */
    public static long settled() {
        long last = Torch.liveTensors();
        int stable = 0;
        for (int round = 0; round < 100 && stable < 3; round++) {
            System.gc();
            try {
                Thread.sleep(30);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            Scope.open().close();  // frees what the cleaner queued to this thread
            long now = Torch.liveTensors();
            stable = now == last ? stable + 1 : 0;
            last = now;
        }
        return last;
    }
}
