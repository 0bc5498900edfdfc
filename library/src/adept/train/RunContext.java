package adept.train;

import adept.eval.Perplexity;
import adept.nn.CausalLM;
import adept.optim.AdamW;
import adept.optim.AdamWSettings;
import adept.optim.LrSchedule;
import adept.tune.DecoupledTuning;
import adept.tune.Granularity;
import adept.tune.RateMode;
import adept.tune.RateNorm;
import adept.tune.RatePolicy;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What every kind of run is wired from: the settings, the listeners, the parallel strategy and the stop flag; and the parts both runs build the same way from them (block size, tuning, schedule).
 */
record RunContext(TrainSettings s, TrainListeners listener, ParallelStrategy parallel, AtomicBoolean stop) {
    /** The block size: the setting, or the model's context up to 512. */
    /** A micro-batch's tokens must fit one array: refused before any work, naming the options. */
    void checkMicroBatch(int blockSize) {
        long tokens = (long) s.inputs().batchSize() / parallel().ranks() * blockSize;
        if (tokens > Integer.MAX_VALUE - 8) {
            throw new TrainException(String.format(java.util.Locale.ROOT, "batch_size %d x block_size %d is %,d tokens in one micro-batch, more than one "
                    + "array holds (%,d): lower --batch-size or --block-size (--grad-accum keeps the tokens per optimizer step)",
                    s.inputs().batchSize(), blockSize, tokens, Integer.MAX_VALUE - 8));
        }
    }

    int blockSize(int maxPositions) {
        int blockSize = s.inputs().blockSize() != null ? s.inputs().blockSize() : Math.min(512, maxPositions);
        if (blockSize > maxPositions) {
            throw new TrainException("block_size " + blockSize + " exceeds the model's context (max_position_embeddings " + maxPositions + ")");
        }
        return blockSize;
    }

    /** Says what the mode trains; returns the trainable and total parameter counts. */
    long[] describe(PreparedModel prepared) {
        long[] counts = prepared.parameterCounts();
        listener.info(String.format(Locale.ROOT, "mode %s: %s", s.preparation().mode().label(), prepared.how()));
        listener.info(String.format(Locale.ROOT, "trainable: %d tensors, %,d of %,d parameters (%.2f%%)", prepared.trainable().size(),
                counts[0], counts[1], 100.0 * counts[0] / counts[1]));
        return counts;
    }

    /** Stage 2's tuning of the prepared model's trainable tensors (the caller closes it). */
    DecoupledTuning tuning(PreparedModel prepared) {
        RatePolicy policy = new RatePolicy(s.stage2().rateMode(), s.stage2().quantile(), s.lowRate() / s.optimizer().lr(), s.highRate() / s.optimizer().lr(), s.stage2().rateNorm());
        AdamWSettings adam = new AdamWSettings(s.optimizer().beta1(), s.optimizer().beta2(), s.optimizer().eps(), s.optimizer().weightDecay(), s.optimizer().maxGradNorm());
        DecoupledTuning tuning = new DecoupledTuning(prepared.model(), prepared.trainable(), s.stage2().granularity(), policy, AdamW.factory(adam),
                s.preparation().mode().adaptive());
        try {
            tuning.activationCheckpointing(s.hardware().gradCheckpointing());
        } catch (RuntimeException e) {
            tuning.close();
            throw e;
        }
        if (s.hardware().gradCheckpointing() > 0) {
            listener.info(String.format(Locale.ROOT, "activation checkpointing: layers %d..%d recomputed in backward, %d a segment (grad_checkpointing)",
                    Math.max(0, tuning.firstRecordedLayer()), prepared.model().layers().size() - 1, s.hardware().gradCheckpointing()));
        }
        return tuning;
    }

    LrSchedule schedule() {
        return new LrSchedule(s.optimizer().schedule(), s.optimizer().lr(), s.warmup(), s.optimizer().steps());
    }

    /** The step loop of tuning over data, reporting to listener, checkpointing through saver. */
    StepLoop loop(CausalLM model, DecoupledTuning tuning, StepLoop.Data data, TrainListener to, StepLoop.Saver saver) {
        return new StepLoop(s, model, tuning, schedule(), data, parallel, to, stop, saver);
    }

    /** The held-out loss of model on data's eval examples. */
    double evaluate(CausalLM model, StepLoop.Data data) {
        return Perplexity.evaluate(model, data.eval(), s.inputs().batchSize(), data.padId(), null).loss();
    }
}
