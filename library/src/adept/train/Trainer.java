package adept.train;

import adept.nn.CausalLM;
import adept.parallel.ProcessGroup;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Continual pretraining with ADEPT or a baseline, as a library call. {@link #run} reads and checks every input first,
 * prepares the model for the mode (probe + expand when needed), trains with periodic importance refreshes, held-out
 * evaluation and atomic checkpoints, and resumes exactly from the newest valid checkpoint in the output folder
 * ({@link RunFolder}: run.json, metrics.jsonl, importance.jsonl, checkpoints/step-N/, model/, summary.json).
 * {@link #train(CausalLM, InMemoryData)} trains a model already in memory on texts or token blocks, with no files.
 *
 * <p>A facade: the steps are {@link StepLoop}'s, the processes a {@link ParallelStrategy}'s, the folder
 * {@link FolderRun}'s and {@link RunFolder}'s, the logs and plots {@link TrainListener}s.
 */
public final class Trainer {
    /** How a run ended. */
    public enum Status { COMPLETED, INTERRUPTED }

    /** What a run did: how it ended, its last step, its folders (null without files), parameter counts and wall time. */
    public record Result(Status status, long step, Path out, Path model, long trainableParameters, long totalParameters, double seconds,
                         double lastLoss, double evalLoss) {
        /** Trainable over total parameters. */
        public double trainableFraction() {
            return (double) trainableParameters / totalParameters;
        }
    }

    private final TrainSettings s;
    private final List<TrainListener> listeners = new ArrayList<>();
    private AtomicBoolean stop = new AtomicBoolean();
    private boolean restart;
    private ParallelStrategy parallel = new SingleProcess();

    /**
     * A run of settings: no listener, no stop flag, one process, resuming an earlier run of these settings in out. The
     * methods below change that; each returns this trainer. The adept version an expansion records is the library's
     * ({@link adept.AdeptVersion}).
     */
    public Trainer(TrainSettings settings) {
        this.s = Objects.requireNonNull(settings, "settings");
    }

    /** Adds a listener (called after those added before). */
    public Trainer listen(TrainListener listener) {
        listeners.add(Objects.requireNonNull(listener, "listener"));
        return this;
    }

    /** Ends the run after the current step, with a checkpoint, once stop is set (e.g. from a SIGINT handler). */
    public Trainer stopWhen(AtomicBoolean stop) {
        this.stop = Objects.requireNonNull(stop, "stop");
        return this;
    }

    /** Discards an earlier run in out instead of resuming it. */
    public Trainer restart() {
        this.restart = true;
        return this;
    }

    /**
     * Data-parallel training as one rank of group (null or one rank: one process): see {@link DataParallel}. Rank 0
     * alone writes logs, checkpoints and the model; every rank resumes from them, whatever the world size of the run
     * that wrote them.
     */
    public Trainer distributed(ProcessGroup group) {
        this.parallel = DataParallel.of(group);
        return this;
    }

    /** Trains (resuming from the newest checkpoint when there is one) until the last step or a stop request, writing the outputs into the run folder. */
    public Result run() {
        s.validate();
        return new FolderRun(context(s), restart).run();
    }

    /**
     * Trains model (the caller's, in place: an expanding mode adds its layer copies to it) on data, with no files: no
     * run folder, no checkpoints, no resume; metrics go to the listeners. The settings' model, data, out, probe and
     * eval paths are not read (give probe and held-out texts in data). The same texts, settings and seed give the
     * same losses as {@link #run} on a JSON Lines corpus of those texts. Mode lora needs a model folder.
     */
    public Result train(CausalLM model, InMemoryData data) {
        return new MemoryRun(context(MemoryRun.settings(s, data))).train(model, data);
    }

    private RunContext context(TrainSettings settings) {
        return new RunContext(settings, new TrainListeners(listeners), parallel, stop);
    }
}
