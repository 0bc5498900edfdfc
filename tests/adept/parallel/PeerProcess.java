package adept.parallel;

import adept.tensor.Scope;
import adept.tensor.Tensor;
import java.time.Duration;
import java.util.List;

/** A rank in its own JVM for ProcessGroupTest: joins, takes part in one all-reduce, says "ready", then waits to be killed. */
public final class PeerProcess {
    private PeerProcess() {}

    public static void main(String[] args) throws Exception {
        int rank = Integer.parseInt(args[0]);
        int world = Integer.parseInt(args[1]);
        int port = Integer.parseInt(args[2]);
        long timeoutMs = Long.parseLong(args[3]);
        try (ProcessGroup group = ProcessGroup.joinLocal(rank, world, port, Duration.ofMillis(timeoutMs)); Scope scope = Scope.open()) {
            Tensor t = Tensor.ones(4);
            group.allReduce(List.of(t), Reduction.SUM);
            System.out.println("ready " + t.toFloatArray()[0]);
            System.out.flush();
            Thread.sleep(600_000);
        }
    }
}
