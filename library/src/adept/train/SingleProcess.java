package adept.train;

import adept.optim.GradientSource;
import adept.io.data.Batch;
import adept.nn.CausalLM;
import adept.parallel.ProcessGroup;
import adept.tune.DecoupledTuning;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/** One process: nothing to share, agree on or average; a stop request is acted on at once. */
final class SingleProcess implements ParallelStrategy {
    @Override
    public int rank() {
        return 0;
    }

    @Override
    public int ranks() {
        return 1;
    }

    @Override
    public ProcessGroup group() {
        return null;
    }

    @Override
    public void checkSameInputs(TrainSettings s, Path modelDir, Path tokenFile) {}

    @Override
    public void barrier() {}

    @Override
    public void checkSameResumeStep(long step) {}

    @Override
    public void broadcastParameters(CausalLM model) {}

    @Override
    public void attach(CausalLM model, DecoupledTuning tuning, TrainSettings s, Consumer<String> info) {}

    @Override
    public void beforeBackward(int index, int count) {}

    @Override
    public GradientSource beforeStep(long step, boolean firstOfRun, Consumer<String> info) {
        return GradientSource.PARAMETER_GRADS;
    }

    @Override
    public double[] refresh(DecoupledTuning tuning, List<Batch> probe, int maxBatches) {
        return tuning.refresh(probe, maxBatches, null);
    }

    @Override
    public boolean stopNow(AtomicBoolean stop) {
        return stop.get();
    }

    @Override
    public ReadBack agree(double lossSum, boolean stopping) {
        return new ReadBack(lossSum, stopping);
    }

    @Override
    public void detach() {}
}
