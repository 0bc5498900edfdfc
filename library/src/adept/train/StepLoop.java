package adept.train;

import adept.optim.GradientSource;
import adept.eval.Perplexity;
import adept.io.data.Batch;
import adept.io.data.Example;
import adept.nn.CausalLM;
import adept.optim.LrSchedule;
import adept.optim.RateStats;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tune.DecoupledTuning;
import com.google.gson.JsonObject;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The training steps from a start state to the last step or a stop request: importance refreshes, micro-batches
 * with gradient accumulation, the optimizer's step, held-out evaluation, and when to read values back from the device
 * (a host round trip: a device sync on CUDA) — every log_every steps, at checkpoints, at the end and on a stop. What
 * it reads goes to the listeners; checkpoints go to the {@link Saver}. It neither knows files nor processes: those
 * are the saver's and the {@link ParallelStrategy}'s.
 */
final class StepLoop {
    /** Where checkpoints go; {@link #NONE} for a run with no folder. */
    interface Saver {
        /** Writes a checkpoint after step (the count of steps done). */
        void save(Progress progress);

        /** A sentence on the last good checkpoint, for a diverged run's error. */
        String lastGood();

        /** What a stopped run leaves behind, for its last line. */
        default String afterStop() {
            return "checkpoint written; run the same command again to resume";
        }

        Saver NONE = new Saver() {
            @Override
            public void save(Progress progress) {}

            @Override
            public String lastGood() {
                return "No checkpoint is written by a run without a folder.";
            }

            @Override
            public String afterStop() {
                return "no checkpoint (a run without a folder)";
            }
        };
    }

    /** Where a run stands: steps done, the step of the last importance refresh (-1: none), tokens trained on, seconds spent. */
    record Progress(long step, long lastRefresh, long tokensSeen, double elapsedSeconds) {
        static final Progress START = new Progress(0, -1, 0, 0);
    }

    /** How the loop ended: its progress, the last loss read back (NaN: none this run), the last held-out loss (NaN: none). */
    record Outcome(Trainer.Status status, Progress progress, double lastLoss, double evalLoss) {}

    /** What the loop trains on: blocks of blockSize tokens, probe batches (for refreshes), held-out examples (may be empty). */
    record Data(BatchSource batches, int blockSize, List<Batch> probe, List<Example> eval, long padId) {}

    private final TrainSettings s;
    private final CausalLM model;
    private final DecoupledTuning tuning;
    private final LrSchedule schedule;
    private final Data data;
    private final ParallelStrategy parallel;
    private final TrainListener listener;
    private final AtomicBoolean stop;
    private final Saver saver;

    StepLoop(TrainSettings s, CausalLM model, DecoupledTuning tuning, LrSchedule schedule, Data data, ParallelStrategy parallel,
             TrainListener listener, AtomicBoolean stop, Saver saver) {
        this.s = s;
        this.model = model;
        this.tuning = tuning;
        this.schedule = schedule;
        this.data = data;
        this.parallel = parallel;
        this.listener = listener;
        this.stop = stop;
        this.saver = saver;
    }

    /** Whether step (0-based, about to run) reads its loss back: every log_every steps, at checkpoints, at the end, on a stop. */
    private boolean readsBack(long step) {
        return (step + 1) % s.output().logEvery() == 0 || step + 1 == s.optimizer().steps() || (step + 1) % s.saveInterval() == 0 || parallel.stopNow(stop);
    }

    /** Trains from start (the optimizer and data already where start left them) until the last step or a stop. */
    Outcome run(Progress start) {
        long step = start.step();
        long lastRefresh = start.lastRefresh();
        long tokensSeen = start.tokensSeen();
        // The rate multipliers in force (restored with the optimizer on resume).
        RateStats rates = tuning.adaptive() ? tuning.optimizer().rateStats() : RateStats.UNIFORM;
        long tokensPerStep = (long) s.inputs().batchSize() * data.blockSize() * s.inputs().gradAccum();
        double lastLoss = Double.NaN;
        double evalLoss = Double.NaN;
        long lastRead = step;     // the step of the last read-back (its metrics line)
        long lastReadNanos = 0;
        Tensor pendingLoss = null;  // the summed losses since the last read-back, on the device
        long trainStart = System.nanoTime();
        long stepsThisRun = 0;
        while (step < s.optimizer().steps()) {
            if (tuning.adaptive() && step % s.stage2().refreshEvery() == 0 && step != lastRefresh) {
                long r0 = System.nanoTime();
                double[] importance = parallel.refresh(tuning, data.probe(), s.stage2().probeBatches());
                rates = tuning.optimizer().rateStats();
                listener.refresh(step, tuning, importance, rates, schedule.rate(step));
                lastRefresh = step;
                listener.info(String.format(Locale.ROOT, "step %d: importance refreshed on %d probe batches (%.1f s); rate multiplier %s",
                        step, s.stage2().probeBatches() > 0 ? Math.min(s.stage2().probeBatches(), data.probe().size()) : data.probe().size(), (System.nanoTime() - r0) / 1e9,
                        rates.describe()));
            }
            long s0 = System.nanoTime();
            double lr = schedule.rate(step);
            boolean read = readsBack(step);
            boolean stopping = false;
            double gradNorm = Double.NaN;
            try (Scope scope = Scope.open()) {
                int rows = s.inputs().batchSize() / parallel.ranks();
                for (int a = 0; a < s.inputs().gradAccum(); a++) {
                    long[] ids = data.batches().nextBatch(s.inputs().batchSize(), parallel.rank(), parallel.ranks());
                    Tensor batch = Tensor.of(ids, rows, data.blockSize()).to(model.device());
                    parallel.beforeBackward(a, s.inputs().gradAccum());
                    Tensor value = tuning.accumulate(batch, s.inputs().gradAccum());  // backward of loss / grad_accum; the loss stays on the device
                    pendingLoss = pendingLoss == null ? value : replace(pendingLoss, pendingLoss.add(value), value);
                }
                GradientSource gradients = parallel.beforeStep(step, stepsThisRun == 0, listener::info);
                if (read) {
                    double lossSum = pendingLoss.item();
                    pendingLoss.close();
                    pendingLoss = null;
                    // Ranks decide together, so that all stop at the same step.
                    ParallelStrategy.ReadBack agreed = parallel.agree(lossSum, stop.get());
                    stopping = agreed.stopping();
                    if (!Double.isFinite(agreed.lossSum())) throw nonFinite(step, "loss", agreed.lossSum());
                    lastLoss = agreed.lossSum() / s.inputs().gradAccum() / (step + 1 - lastRead);
                }
                tuning.step(lr, gradients);
                if (read) gradNorm = tuning.optimizer().lastGradNorm().item();
            }
            if (read && !Double.isFinite(gradNorm)) throw nonFinite(step, "gradient norm", gradNorm);
            step++;
            stepsThisRun++;
            tokensSeen += tokensPerStep;
            double elapsed = start.elapsedSeconds() + (System.nanoTime() - trainStart) / 1e9;
            if (read) {
                double intervalSeconds = (System.nanoTime() - (lastReadNanos != 0 ? lastReadNanos : s0)) / 1e9;
                JsonObject line = new JsonObject();
                line.addProperty("step", step);
                line.addProperty("loss", lastLoss);  // the mean over the steps since the last line
                line.addProperty("lr", lr);
                RunLogs.addRates(line, rates);  // the multipliers in force: element-weighted mean, min, max, shares
                line.addProperty("effective_lr", lr * rates.mean());
                line.addProperty("grad_norm", gradNorm);
                line.addProperty("tokens", tokensSeen);
                line.addProperty("tokens_per_s", tokensPerStep * (step - lastRead) / intervalSeconds);
                line.addProperty("elapsed_s", elapsed);
                listener.metrics(line);
                lastRead = step;
                lastReadNanos = System.nanoTime();
            }
            listener.step(step, s.optimizer().steps(), lastLoss, lr, tokensPerStep * stepsThisRun / ((System.nanoTime() - trainStart) / 1e9));
            long every = s.evalInterval();
            if (!data.eval().isEmpty() && ((every > 0 && step % every == 0) || step == s.optimizer().steps())) {
                // Every rank evaluates (the same numbers): a rank waiting idle for rank 0 could run past the collective timeout.
                evalLoss = Perplexity.evaluate(model, data.eval(), s.inputs().batchSize(), data.padId(), null).loss();
                JsonObject e = new JsonObject();
                e.addProperty("step", step);
                e.addProperty("eval_loss", evalLoss);
                e.addProperty("eval_perplexity", Math.exp(evalLoss));
                listener.metrics(e);
            }
            stopping |= parallel.stopNow(stop);
            if (stopping && !read) continue;  // read at the next step, so that its loss is checked before it is saved
            Progress progress = new Progress(step, lastRefresh, tokensSeen, elapsed);
            if (stopping || step % s.saveInterval() == 0 || step == s.optimizer().steps()) saver.save(progress);
            if (stopping && step < s.optimizer().steps()) {
                listener.finished();
                listener.info("stopped at step " + step + " of " + s.optimizer().steps() + "; " + saver.afterStop());
                return new Outcome(Trainer.Status.INTERRUPTED, progress, lastLoss, evalLoss);
            }
        }
        listener.finished();
        return new Outcome(Trainer.Status.COMPLETED, new Progress(step, lastRefresh, tokensSeen,
                start.elapsedSeconds() + (System.nanoTime() - trainStart) / 1e9), lastLoss, evalLoss);
    }

    /** next in place of old and spent (closed), kept out of the step's scope. */
    private static Tensor replace(Tensor old, Tensor next, Tensor spent) {
        next.keep();
        old.close();
        spent.close();
        return next;
    }

    private TrainException nonFinite(long step, String what, double value) {
        return TrainException.diverged("step " + (step + 1) + ": the " + what + " is " + value + "; training stopped. "
                + saver.lastGood() + " (try a lower lr or max_grad_norm)");
    }
}
