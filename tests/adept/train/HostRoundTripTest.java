package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.tensor.Tensor;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * log_every: the steps between read-backs read no value into Java (on CUDA each such read is a device sync),
 * and reading less often changes nothing but the metrics lines, whose loss is the mean over their steps.
 */
class HostRoundTripTest {
    @TempDir
    Path dir;

    TrainSettings settings(String out, int logEvery) throws Exception {
        TrainSettings s = TrainFixtures.settings(dir, "adept").toBuilder().out(dir.resolve(out)).steps(12).saveEvery(12L).evalEvery(0L).refreshEvery(100).logEvery(logEvery).build();
        return s;
    }

    /** Host reads made from one step callback to the next: index k holds those of step k + 1 (and what followed step k). */
    static List<Long> readsPerStep(TrainSettings s) {
        List<Long> marks = new ArrayList<>();
        TrainListener counting = new TrainListener() {
            @Override
            public void step(long step, long steps, double loss, double lr, double tokensPerSecond) {
                marks.add(Tensor.hostReads());
            }
        };
        assertEquals(Trainer.Status.COMPLETED, new Trainer(s).listen(counting).run().status());
        List<Long> deltas = new ArrayList<>();
        for (int k = 1; k < marks.size(); k++) deltas.add(marks.get(k) - marks.get(k - 1));
        return deltas;
    }

    @Test
    void stepsBetweenReadBacksReadNothingAndTrainTheSame() throws Exception {
        TrainSettings every = settings("every", 1);
        List<Long> everyReads = readsPerStep(every);
        TrainSettings fourth = settings("fourth", 4);
        List<Long> fourthReads = readsPerStep(fourth);
        System.out.println("host reads per step, log_every 1: " + everyReads + "; log_every 4: " + fourthReads);
        // every step reads at least its loss and gradient norm: the count sees them
        for (int k = 0; k < everyReads.size(); k++) assertTrue(everyReads.get(k) >= 2, "log_every 1, step " + (k + 2) + ": " + everyReads);
        for (int k = 0; k < fourthReads.size(); k++) {
            long step = k + 2;
            if (step % 4 == 0 || step == 12) assertTrue(fourthReads.get(k) >= 2, "step " + step + " reads back: " + fourthReads);
            else assertEquals(0, fourthReads.get(k), "step " + step + " makes no host round trip: " + fourthReads);
        }

        Map<Long, Double> perStep = new TreeMap<>();
        for (JsonObject o : RunLog.read(every.output().out().resolve(RunFolder.METRICS_FILE))) {
            if (o.has("loss")) perStep.put(o.get("step").getAsLong(), o.get("loss").getAsDouble());
        }
        List<JsonObject> lines = new ArrayList<>();
        for (JsonObject o : RunLog.read(fourth.output().out().resolve(RunFolder.METRICS_FILE))) if (o.has("loss")) lines.add(o);
        assertEquals(List.of(4L, 8L, 12L), lines.stream().map(o -> o.get("step").getAsLong()).toList(), "a line per read-back");
        for (JsonObject o : lines) {
            long end = o.get("step").getAsLong();
            double mean = 0;
            for (long k = end - 3; k <= end; k++) mean += perStep.get(k) / 4;
            assertEquals(mean, o.get("loss").getAsDouble(), 1e-6 * mean, "mean loss of steps " + (end - 3) + ".." + end);
        }
        assertEquals(0.0, DataParallelTest.maxParameterDifference(every.output().out().resolve(RunFolder.MODEL_DIR),
                fourth.output().out().resolve(RunFolder.MODEL_DIR)), "reading less often trains the same");
    }
}
