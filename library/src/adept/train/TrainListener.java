package adept.train;

import adept.optim.RateStats;
import adept.tune.DecoupledTuning;
import com.google.gson.JsonObject;
import java.nio.file.Path;

/**
 * Receives a run's progress; every method may be left out. The run folder's logs (metrics.jsonl, importance.jsonl,
 * TensorBoard events) are listeners too, attached by the trainer on the writing process; a caller adds its own (a
 * progress bar, plots) with {@link Trainer#listen}.
 */
public interface TrainListener {
    /** A line of progress text (the mode, the expansion, a refresh). */
    default void info(String line) {}

    /** After each optimizer step; loss is the last value read back from the device. */
    default void step(long step, long steps, double loss, double lr, double tokensPerSecond) {}

    /** A metrics line (a metrics.jsonl line): a read-back of the training loss and rates, or a held-out evaluation. */
    default void metrics(JsonObject line) {}

    /** An importance refresh at step: the units' importances, the multipliers in force (tuning.assignment()), their statistics, the scheduled lr. */
    default void refresh(long step, DecoupledTuning tuning, double[] importance, RateStats rates, double lr) {}

    /** After the last step or the interrupting checkpoint. */
    default void finished() {}

    /** A completed run's folder holds all its outputs (model, summary); called on the writing process alone. */
    default void outputsWritten(Path out) {}
}
