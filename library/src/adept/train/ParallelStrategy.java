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

/**
 * How a run spreads over processes. {@link SingleProcess} does nothing at each hook; {@link DataParallel} is one rank
 * of a process group: each rank trains on its share of every batch and the gradients are averaged before the
 * optimizer steps. The step loop calls every hook unconditionally, so it has no "is this data parallel?" branches.
 */
interface ParallelStrategy {
    /** This process's rank (0 for one process). */
    int rank();

    /** How many processes train together. */
    int ranks();

    /** Rank 0 (or the only process): the one that writes the run folder. */
    default boolean leader() {
        return rank() == 0;
    }

    /** The process group the layer probe shares its batches over; null for one process. */
    ProcessGroup group();

    /** Refuses a global batch that does not split evenly over the ranks. */
    default void checkBatchSize(int batchSize) {
        if (batchSize % ranks() != 0) {
            throw new TrainException("batch_size " + batchSize + " does not split over " + ranks() + " ranks (each takes batch_size / "
                    + ranks() + " blocks of the global batch): give a multiple of " + ranks());
        }
    }

    /** Every rank has the same settings, model and data (before anything that depends on them). */
    void checkSameInputs(TrainSettings s, Path modelDir, Path tokenFile);

    /** Waits for every rank (e.g. until rank 0 has cleared a restarted run folder). */
    void barrier();

    /** Every rank resumes from the same step (-1: none resumes). */
    void checkSameResumeStep(long step);

    /** Gives every rank rank 0's values of the model's tensors. */
    void broadcastParameters(CausalLM model);

    /** Sets up gradient averaging for tuning (once, before the first step), saying how through info. */
    void attach(CausalLM model, DecoupledTuning tuning, TrainSettings s, Consumer<String> info);

    /** Before micro-batch index of count runs its backward. */
    void beforeBackward(int index, int count);

    /**
     * After the last backward of step (0-based), before the optimizer's step: averages the gradients over the ranks
     * and says where the step finds them (the parameters' .grad, or the optimizer's flat gradient buffer).
     */
    GradientSource beforeStep(long step, boolean firstOfRun, Consumer<String> info);

    /** The importance refresh, its probe batches shared out over the ranks. */
    double[] refresh(DecoupledTuning tuning, List<Batch> probe, int maxBatches);

    /** Whether to act on stop now; false when the ranks must first decide together at a read-back. */
    boolean stopNow(AtomicBoolean stop);

    /** The ranks' agreed read-back: the global loss sum (the mean of theirs) and whether any rank was told to stop. */
    ReadBack agree(double lossSum, boolean stopping);

    /** A read-back all ranks agree on. */
    record ReadBack(double lossSum, boolean stopping) {}

    /** Undoes {@link #attach} (before the tuning closes). */
    void detach();
}
