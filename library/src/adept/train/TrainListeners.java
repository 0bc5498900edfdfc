package adept.train;

import adept.optim.RateStats;
import adept.tune.DecoupledTuning;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Several listeners as one, called in the order added. */
final class TrainListeners implements TrainListener {
    private final List<TrainListener> all;

    TrainListeners(List<TrainListener> all) {
        this.all = List.copyOf(all);
    }

    /** These, then more. */
    TrainListeners with(TrainListener... more) {
        List<TrainListener> next = new ArrayList<>(all);
        next.addAll(List.of(more));
        return new TrainListeners(next);
    }

    @Override
    public void info(String line) {
        for (TrainListener l : all) l.info(line);
    }

    @Override
    public void step(long step, long steps, double loss, double lr, double tokensPerSecond) {
        for (TrainListener l : all) l.step(step, steps, loss, lr, tokensPerSecond);
    }

    @Override
    public void metrics(JsonObject line) {
        for (TrainListener l : all) l.metrics(line);
    }

    @Override
    public void refresh(long step, DecoupledTuning tuning, double[] importance, RateStats rates, double lr) {
        for (TrainListener l : all) l.refresh(step, tuning, importance, rates, lr);
    }

    @Override
    public void finished() {
        for (TrainListener l : all) l.finished();
    }

    @Override
    public void outputsWritten(Path out) {
        for (TrainListener l : all) l.outputsWritten(out);
    }
}
