package adept.train;

import adept.parallel.GradientBuckets;
import adept.parallel.OverlappedGradientReducer;
import adept.parallel.ProcessGroup;
import adept.expand.ExpansionMetadata;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.FileOps;
import adept.io.checkpoint.SaveOptions;
import adept.io.checkpoint.Safetensors;
import adept.io.data.Batch;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.optim.AdamW;
import adept.optim.AdamWSettings;
import adept.optim.Parameter;
import adept.optim.LrSchedule;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.tune.DecoupledTuning;
import adept.tune.Granularity;
import adept.tune.RateMode;
import adept.tune.RatePolicy;
import adept.tune.Unit;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Continual pretraining with ADEPT or a baseline, as a library call: reads and checks every input first,
 * prepares the model for the mode (probe + expand when needed), trains with periodic importance refreshes,
 * held-out evaluation and atomic checkpoints, and resumes exactly from the newest valid checkpoint in the
 * output folder. Outputs (in out/): run.json, metrics.jsonl, importance.jsonl, checkpoints/step-N/,
 * model/ (the final model, a Hugging Face folder), loss.png, importance.png, rates.png, summary.json.
 */
public final class Trainer {
    /** Receives progress; every method may be left out. */
    public interface Listener {
        /** A line of progress text (the mode, the expansion, a refresh). */
        default void info(String line) {}

        /** After each optimizer step. */
        default void step(long step, long steps, double loss, double lr, double tokensPerSecond) {}

        /** After the last step or the interrupting checkpoint. */
        default void finished() {}
    }

    /** How a run ended. */
    public enum Status { COMPLETED, INTERRUPTED }

    /** What a run did: how it ended, its last step, its folders, parameter counts and wall time. */
    public record Result(Status status, long step, Path out, Path model, long trainableParameters, long totalParameters, double seconds,
                         double lastLoss, double evalLoss) {
        /** Trainable over total parameters. */
        public double trainableFraction() {
            return (double) trainableParameters / totalParameters;
        }
    }

    public static final String RUN_FILE = "run.json";
    public static final String METRICS_FILE = "metrics.jsonl";
    public static final String IMPORTANCE_FILE = "importance.jsonl";
    public static final String MODEL_DIR = "model";
    public static final String SUMMARY_FILE = "summary.json";

    private final TrainSettings s;
    private final Listener listener;
    private final AtomicBoolean stop;
    private final boolean restart;
    private final String version;
    private ProcessGroup group;  // null: one process

    /** A library run: no listener, no stop flag, resumes an earlier run of these settings in out. */
    public Trainer(TrainSettings settings) {
        this(settings, null, null, false, "library");
    }

    /** stop: set it (e.g. from a SIGINT handler) to end after the current step with a checkpoint; restart: discard an earlier run in out. */
    public Trainer(TrainSettings settings, Listener listener, AtomicBoolean stop, boolean restart, String version) {
        this.s = settings.copy();
        this.listener = listener != null ? listener : new Listener() {};
        this.stop = stop != null ? stop : new AtomicBoolean();
        this.restart = restart;
        this.version = version;
    }

    /**
     * Data-parallel training as one rank of group (null: one process). batch_size stays the global batch: each of
     * the N ranks trains on its own batch_size / N blocks of it, gradients are averaged over the ranks before
     * clipping, so N ranks follow the one-process run (up to rounding). Rank 0 alone writes logs, checkpoints and
     * the model; every rank resumes from them, whatever the world size of the run that wrote them.
     */
    public Trainer distributed(ProcessGroup group) {
        this.group = group != null && group.size() > 1 ? group : null;
        return this;
    }

    private int rank() {
        return group == null ? 0 : group.rank();
    }

    private int ranks() {
        return group == null ? 1 : group.size();
    }

    /** Rank 0 (or the only process): the one that writes. */
    private boolean leader() {
        return rank() == 0;
    }

    /** Trains (resuming from the newest checkpoint when there is one) until the last step or a stop request, writing the outputs into the run folder. */
    public Result run() {
        s.validate();
        Path out = Path.of(s.out).toAbsolutePath().normalize();
        if (Files.exists(out, LinkOption.NOFOLLOW_LINKS) && !Files.isDirectory(out)) throw new TrainException(out + ": exists and is not a folder");
        RunFolder.checkApart(Path.of(s.model), out);
        RunFolder.checkOwned(out, restart);
        boolean created = !Files.exists(out, LinkOption.NOFOLLOW_LINKS);
        adept.io.checkpoint.OutputLock lock = leader() ? RunFolder.lock(out) : null;  // rank 0 alone writes
        try {
            if (lock != null) RunFolder.removeLeftovers(out);
            return runInFolder();
        } finally {
            if (lock != null) lock.close();
            if (lock != null && created) RunFolder.removeIfEmpty(out);
        }
    }

    private Result runInFolder() {
        long t0 = System.nanoTime();
        if (s.batchSize % ranks() != 0) {
            throw new TrainException("batch_size " + s.batchSize + " does not split over " + ranks() + " ranks (each takes batch_size / "
                    + ranks() + " blocks of the global batch): give a multiple of " + ranks());
        }
        Path modelDir = Path.of(s.model).toAbsolutePath().normalize();
        Path out = Path.of(s.out).toAbsolutePath().normalize();
        DType dtype = DType.parse(s.dtype);
        Device device = Device.parse(s.device);
        Checkpoint base = Checkpoint.open(modelDir);
        ModelConfig baseConfig = base.config().modelConfig();
        int maxPositions = baseConfig.maxPositionEmbeddings();
        int blockSize = s.blockSize != null ? s.blockSize : Math.min(512, maxPositions);
        if (blockSize > maxPositions) {
            throw new TrainException("block_size " + blockSize + " exceeds the model's context (max_position_embeddings " + maxPositions + ")");
        }
        if ((long) s.batchSize / ranks() * blockSize > Integer.MAX_VALUE - 8) {
            throw new TrainException(String.format(Locale.ROOT, "batch_size %d x block_size %d is %,d tokens in one micro-batch, more than one "
                    + "array holds (%,d): lower --batch-size or --block-size (--grad-accum keeps the tokens per optimizer step)",
                    s.batchSize, blockSize, (long) s.batchSize / ranks() * blockSize, Integer.MAX_VALUE - 8));
        }
        if (s.trainMode() == TrainMode.LORA) LoraMode.rank(s, base);  // a rank that matches nothing fails before any work
        RunCheckpoints checkpoints = new RunCheckpoints(out);
        Path runFile = out.resolve(RUN_FILE);
        if (!restart && Files.exists(runFile)) {
            TrainSettings prior;
            try {
                String text = FileOps.readUtf8(runFile, 1 << 20, "run.json");
                prior = TrainSettings.fromJson(com.google.gson.JsonParser.parseString(text).getAsJsonObject(), runFile.toString());
            } catch (RuntimeException e) {
                throw new TrainException(runFile + ": unreadable (" + e.getMessage() + "); use another output folder or --restart");
            }
            List<String> diff = s.differences(prior);
            if (!diff.isEmpty()) {
                throw new TrainException(out + " holds a run with other settings (differs in " + String.join(", ", diff)
                        + "); use another output folder, or --restart to discard it");
            }
        }

        Torch.init();
        try (Tokenizer tokenizer = Tokenizer.load(modelDir);
             TrainingInputs inputs = TrainingInputs.read(s, modelDir, tokenizer, blockSize, maxPositions, baseConfig.vocabSize(),
                     out.resolveSibling(".adept-tokens"), bytes -> {})) {
            listener.info(String.format(Locale.ROOT, "data: %s: %,d tokens in %,d documents%s; %,d blocks of %d", s.data,
                    inputs.tokens.tokenCount(), inputs.tokens.documentCount(), inputs.tokens.reused() ? " (cached)"
                            : inputs.tokens.rebuiltBecause().map(why -> " (token cache rebuilt: " + why + ")").orElse(""),
                    inputs.blocks.blocksPerEpoch(), blockSize));
            if (group != null) RankAgreement.check(group, s, modelDir, inputs.tokens.binFile());  // before anything that depends on them
            if (restart && leader()) {
                checkpoints.deleteAll();
                for (String f : List.of(METRICS_FILE, IMPORTANCE_FILE, RUN_FILE)) deleteQuietly(out.resolve(f));
                RunEvents.deleteAll(out);
            }
            if (group != null) group.barrier();  // the other ranks look for checkpoints only once rank 0 has deleted them
            RunCheckpoints.Loaded resume = restart ? null : checkpoints.newestValid(listener::info).orElse(null);
            if (group != null) checkSameResumeStep(resume == null ? -1 : resume.state().step());
            Result done = resume == null ? null : completed(out, resume.state().step(), t0);
            if (done != null) return done;
            try (Scope runScope = Scope.open()) {
                List<Batch> probe = inputs.probe == null ? List.of()
                        : TrainingInputs.batches(inputs.probe, s.probeBatchSize, s.probeBatches, inputs.padId, device);
                PreparedModel prepared = resume != null ? fromCheckpoint(resume, dtype, device)
                        : PreparedModel.prepare(s, base, dtype, device, probe, version, group, listener::info);
                try (CausalLM model = prepared.model()) {
                    return train(t0, out, modelDir, prepared, inputs, probe, blockSize, resume, checkpoints);
                }
            }
        } catch (adept.tensor.TorchException e) {
            throw OutOfMemory.explain(e, s, ranks(), blockSize).orElseThrow(() -> e);
        }
    }

    /** What data parallelism all-reduces per step: the trainable tensors' gradient in the optimizer's state type. */
    public static long gradientBytesPerStep(DecoupledTuning tuning) {
        DType state = tuning.optimizer().parameters().get(0).tensor().dtype() == DType.FLOAT64 ? DType.FLOAT64 : DType.FLOAT32;
        return tuning.trainableParameters() * state.byteSize();
    }

    /**
     * The overlapped all-reduce of the trainable tensors' gradients (data parallel with overlap_grad_reduce), writing
     * into the optimizer's gradient slots; null for one process or the post-backward path. The tensors go in the
     * model's order, so that the buckets (filled in reverse) follow backward.
     */
    private OverlappedGradientReducer overlappedReducer(CausalLM model, DecoupledTuning tuning) {
        if (group == null || !s.overlapGradReduce) return null;
        AdamW adam = tuning.optimizer();
        List<Parameter> ps = adam.parameters();
        Map<String, Integer> modelOrder = new java.util.HashMap<>();
        for (String name : model.parametersAndAdapters().keySet()) modelOrder.put(name, modelOrder.size());
        List<Integer> order = new java.util.ArrayList<>();
        for (int i = 0; i < ps.size(); i++) order.add(i);
        order.sort(java.util.Comparator.comparingInt(i -> modelOrder.getOrDefault(ps.get(i).name(), Integer.MAX_VALUE)));
        try (Scope scope = Scope.open()) {
            List<Tensor> tensors = new java.util.ArrayList<>();
            List<Tensor> slots = new java.util.ArrayList<>();
            for (int i : order) {
                tensors.add(ps.get(i).tensor());
                slots.add(adam.gradientSlot(i));
            }
            OverlappedGradientReducer reducer = OverlappedGradientReducer.create(group, tensors, slots, GradientBuckets.bucketBytes(System.getenv()));
            adam.useGradientsInSlots(true);
            return reducer;
        }
    }

    /** Every rank must resume from the same step: a mismatch (ranks seeing other folders) would train nonsense. */
    private void checkSameResumeStep(long step) {
        double[] sums = group.sum(step, (double) step * step);
        double mean = sums[0] / ranks();
        if (Math.abs(sums[1] / ranks() - mean * mean) > 1e-6 || mean != step) {
            throw new TrainException("rank " + rank() + " resumes from step " + step + " but the other ranks do not (is --out the same folder on every rank?)");
        }
    }

    /** Rank 0's values of every tensor of the model on every rank (they start equal anyway: this makes sure). */
    private void broadcastParameters(CausalLM model) {
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            List<Tensor> direct = new java.util.ArrayList<>();
            for (Tensor t : model.parametersAndAdapters().values()) {
                if (t.isContiguous()) {
                    direct.add(t);
                } else {
                    Tensor copy = t.contiguous();
                    group.broadcast(List.of(copy), 0);
                    t.copyFrom(copy);
                }
            }
            group.broadcast(direct, 0);
        }
    }

    private PreparedModel fromCheckpoint(RunCheckpoints.Loaded resume, DType dtype, Device device) {
        listener.info("resuming from " + resume.dir() + " (step " + resume.state().step() + ")");
        if (s.trainMode() == TrainMode.LORA) return LoraMode.resume(s, resume.dir(), resume.state(), dtype, device);
        Checkpoint c = Checkpoint.open(resume.dir());
        ExpansionMetadata expansion = ExpansionMetadata.from(c.metadata(), c.dir().toString()).orElse(null);
        CausalLM model = c.loadModel(dtype, device);
        java.util.Set<String> tensors = model.namedParameters().keySet();
        for (String name : resume.state().trainable()) {
            if (!tensors.contains(name)) {
                model.close();
                throw new TrainException(resume.dir().resolve(TrainerState.FILE_NAME) + ": trainable names " + name
                        + ", which is not a tensor of the checkpoint's model; the checkpoint is damaged");
            }
        }
        return new PreparedModel(model, c.config(), resume.state().trainable(), expansion, null, "resumed at step " + resume.state().step());
    }

    private Result train(long t0, Path out, Path modelDir, PreparedModel prepared, TrainingInputs inputs, List<Batch> probe,
                         int blockSize, RunCheckpoints.Loaded resume, RunCheckpoints checkpoints) {
        TrainMode mode = s.trainMode();
        CausalLM model = prepared.model();
        List<adept.io.data.Example> eval = inputs.eval == null ? List.of() : inputs.eval;
        RatePolicy policy = new RatePolicy(RateMode.parse(s.rateMode), s.quantile, s.lowRate() / s.lr, s.highRate() / s.lr,
                adept.tune.RateNorm.parse(s.rateNorm));
        AdamWSettings adam = new AdamWSettings(s.beta1, s.beta2, s.eps, s.weightDecay, s.maxGradNorm);
        LrSchedule schedule = new LrSchedule(LrSchedule.parseKind(s.schedule), s.lr, s.warmup(), s.steps);
        long[] counts = prepared.parameterCounts();
        // The summary describes the run's start, also when this process resumed it from a checkpoint.
        TrainerState.Preparation preparation = resume != null && resume.state().preparation() != null ? resume.state().preparation()
                : new TrainerState.Preparation(prepared.how(), layerDl(prepared));
        listener.info(String.format(Locale.ROOT, "mode %s: %s", mode.label(), prepared.how()));
        listener.info(String.format(Locale.ROOT, "trainable: %d tensors, %,d of %,d parameters (%.2f%%)", prepared.trainable().size(),
                counts[0], counts[1], 100.0 * counts[0] / counts[1]));
        if (leader()) {
            try {
                Files.createDirectories(out);
                if (resume == null) FileOps.writeStringAtomically(out.resolve(RUN_FILE), s.toJson());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + out.resolve(RUN_FILE) + ": " + e.getMessage(), e);
            }
            checkpoints.removeStaleTemporaries();
        }
        if (group != null) broadcastParameters(model);
        try (DecoupledTuning tuning = new DecoupledTuning(model, prepared.trainable(), Granularity.parse(s.granularity), policy, adam,
                mode.adaptive());
             RunLog metrics = new RunLog(out.resolve(METRICS_FILE));
             RunLog importanceLog = new RunLog(out.resolve(IMPORTANCE_FILE));
             RunEvents events = RunEvents.open(out, s, leader() && s.tensorboard, resume == null ? -1 : resume.state().step());
             OverlappedGradientReducer reducer = overlappedReducer(model, tuning)) {
            tuning.activationCheckpointing(s.gradCheckpointing);
            if (s.gradCheckpointing > 0) {
                listener.info(String.format(Locale.ROOT, "activation checkpointing: layers %d..%d recomputed in backward, %d a segment (grad_checkpointing)",
                        Math.max(0, tuning.firstRecordedLayer()), model.layers().size() - 1, s.gradCheckpointing));
            }
            if (group != null) {
                long bucketBytes = GradientBuckets.bucketBytes(System.getenv());
                String how;
                if (reducer == null) {
                    GradientBuckets buckets = new GradientBuckets(group, bucketBytes);
                    tuning.optimizer().reduceGradientsWith(buckets::averageInPlace);
                    how = "after backward";
                } else {
                    how = String.format(Locale.ROOT, "in %d bucket%s of at most %,d bytes, overlapped with backward", reducer.bucketCount(),
                            reducer.bucketCount() == 1 ? "" : "s", bucketBytes);
                }
                listener.info(String.format(Locale.ROOT, "data parallel: %d ranks, %d of each %d-block batch per rank; %,d bytes of gradient all-reduced per step (%s)",
                        ranks(), s.batchSize / ranks(), s.batchSize, gradientBytesPerStep(tuning), how));
            }
            long step = 0;
            long lastRefresh = -1;
            long tokensSeen = 0;
            double elapsedBefore = 0;
            if (resume != null) {
                TrainerState state = resume.state();
                if (!state.tokenFile().equals(inputs.tokens.binFile().getFileName().toString())) {
                    throw new TrainException(resume.dir() + " was trained on other data (" + state.tokenFile() + "); use another output folder or --restart");
                }
                restoreOptimizer(tuning, resume.dir());
                if (state.data().offset() > inputs.blocks.blocksPerEpoch()) {
                    throw new TrainException(resume.dir().resolve(TrainerState.FILE_NAME) + ": data_offset " + state.data().offset()
                            + " is past the " + inputs.blocks.blocksPerEpoch() + " blocks of an epoch of " + s.data + "; the checkpoint is damaged");
                }
                inputs.blocks.seek(state.data());
                step = state.step();
                lastRefresh = state.lastRefreshStep();
                tokensSeen = state.tokensSeen();
                elapsedBefore = state.elapsedSeconds();
                if (leader()) {
                    metrics.truncateFrom(step + 1);  // metrics lines carry the step count after their update
                    importanceLog.truncateFrom(lastRefresh + 1);
                }
            } else if (leader()) {
                metrics.truncateFrom(0);
                importanceLog.truncateFrom(0);
            }
            // The rate multipliers in force (restored with the optimizer on resume).
            adept.optim.RateStats rates = tuning.adaptive() ? tuning.optimizer().rateStats() : adept.optim.RateStats.UNIFORM;
            long tokensPerStep = (long) s.batchSize * blockSize * s.gradAccum;
            double lastLoss = Double.NaN;
            double evalLoss = Double.NaN;
            long lastRead = step;     // the step of the last read-back (its metrics line)
            long lastReadNanos = 0;
            Tensor pendingLoss = null;  // the summed losses since the last read-back, on the device
            long trainStart = System.nanoTime();
            long stepsThisRun = 0;
            while (step < s.steps) {
                if (tuning.adaptive() && step % s.refreshEvery == 0 && step != lastRefresh) {
                    long r0 = System.nanoTime();
                    double[] importance = tuning.refresh(probe, s.probeBatches, group);
                    rates = tuning.optimizer().rateStats();
                    if (leader()) logImportance(importanceLog, step, tuning, importance, rates);
                    events.refresh(step, tuning, importance, schedule.rate(step));
                    lastRefresh = step;
                    listener.info(String.format(Locale.ROOT, "step %d: importance refreshed on %d probe batches (%.1f s); rate multiplier %s",
                            step, s.probeBatches > 0 ? Math.min(s.probeBatches, probe.size()) : probe.size(), (System.nanoTime() - r0) / 1e9,
                            rates.describe()));
                }
                long s0 = System.nanoTime();
                double lr = schedule.rate(step);
                // Read back (a host round trip: a device sync on CUDA) only every log_every steps, at checkpoints and at the end.
                boolean read = (step + 1) % s.logEvery == 0 || step + 1 == s.steps || (step + 1) % s.saveInterval() == 0
                        || (group == null && stop.get());
                boolean stopping = false;
                double gradNorm = Double.NaN;
                try (Scope scope = Scope.open()) {
                    int rows = s.batchSize / ranks();
                    for (int a = 0; a < s.gradAccum; a++) {
                        long[] ids = inputs.blocks.nextBatch(s.batchSize, rank(), ranks());
                        Tensor batch = Tensor.of(ids, rows, blockSize).to(model.device());
                        // Overlapped all-reduce: only the last micro-batch's backward reduces (the others accumulate).
                        if (reducer != null) reducer.prepare(a == s.gradAccum - 1);
                        Tensor value = tuning.accumulate(batch, s.gradAccum);  // backward of loss / grad_accum; the loss stays on the device
                        pendingLoss = pendingLoss == null ? value : replace(pendingLoss, pendingLoss.add(value), value);
                    }
                    if (reducer != null) {
                        reducer.finish();  // before the collectives below: every rank issues them in the same order
                        if (stepsThisRun == 0) {
                            listener.info(String.format(Locale.ROOT, "data parallel: step %d's gradient all-reduce: %d of %d buckets started during backward",
                                    step + 1, reducer.bucketsLaunchedDuringBackward(), reducer.bucketCount()));
                        }
                    }
                    if (read) {
                        double lossSum = pendingLoss.item();
                        pendingLoss.close();
                        pendingLoss = null;
                        // Ranks decide together (below), so that all stop at the same step.
                        if (group == null && !Double.isFinite(lossSum)) throw nonFinite(step, "loss", lossSum, checkpoints);
                        stopping = stop.get();
                        if (group != null) {
                            // The global loss (each rank's is the mean over its equal share) and whether any rank was told to stop.
                            double[] sums = group.sum(lossSum, stopping ? 1 : 0);
                            lossSum = sums[0] / ranks();
                            stopping = sums[1] > 0;
                            if (!Double.isFinite(lossSum)) throw nonFinite(step, "loss", lossSum, checkpoints);
                        }
                        lastLoss = lossSum / s.gradAccum / (step + 1 - lastRead);
                    }
                    tuning.step(lr);
                    if (read) gradNorm = tuning.optimizer().lastGradNorm().item();
                }
                if (read && !Double.isFinite(gradNorm)) throw nonFinite(step, "gradient norm", gradNorm, checkpoints);
                step++;
                stepsThisRun++;
                tokensSeen += tokensPerStep;
                double elapsed = elapsedBefore + (System.nanoTime() - trainStart) / 1e9;
                if (read) {
                    double intervalSeconds = (System.nanoTime() - (lastReadNanos != 0 ? lastReadNanos : s0)) / 1e9;
                    JsonObject line = new JsonObject();
                    line.addProperty("step", step);
                    line.addProperty("loss", lastLoss);  // the mean over the steps since the last line
                    line.addProperty("lr", lr);
                    addRates(line, rates);  // the multipliers in force: element-weighted mean, min, max, shares
                    line.addProperty("effective_lr", lr * rates.mean());
                    line.addProperty("grad_norm", gradNorm);
                    line.addProperty("tokens", tokensSeen);
                    line.addProperty("tokens_per_s", tokensPerStep * (step - lastRead) / intervalSeconds);
                    line.addProperty("elapsed_s", elapsed);
                    if (leader()) metrics.append(line);
                    events.metrics(line);
                    lastRead = step;
                    lastReadNanos = System.nanoTime();
                }
                listener.step(step, s.steps, lastLoss, lr, tokensPerStep * stepsThisRun / ((System.nanoTime() - trainStart) / 1e9));
                long every = s.evalInterval();
                if (!eval.isEmpty() && ((every > 0 && step % every == 0) || step == s.steps)) {
                    // Every rank evaluates (the same numbers): a rank waiting idle for rank 0 could run past the collective timeout.
                    evalLoss = adept.eval.Perplexity.evaluate(model, eval, s.batchSize, inputs.padId, null).loss();
                    JsonObject e = new JsonObject();
                    e.addProperty("step", step);
                    e.addProperty("eval_loss", evalLoss);
                    e.addProperty("eval_perplexity", Math.exp(evalLoss));
                    if (leader()) metrics.append(e);
                    events.metrics(e);
                }
                if (group == null) stopping = stop.get();
                if (stopping && !read) continue;  // read at the next step, so that its loss is checked before it is saved
                if (leader() && (stopping || step % s.saveInterval() == 0 || step == s.steps)) {
                    metrics.flush();
                    importanceLog.flush();
                    save(checkpoints, modelDir, prepared, preparation, tuning, inputs, step, lastRefresh, tokensSeen, elapsed);
                }
                if (stopping && step < s.steps) {
                    listener.finished();
                    listener.info("stopped at step " + step + " of " + s.steps + "; checkpoint written; run the same command again to resume");
                    return new Result(Status.INTERRUPTED, step, out, null, counts[0], counts[1], (System.nanoTime() - t0) / 1e9, lastLoss, evalLoss);
                }
            }
            listener.finished();
            metrics.flush();
            importanceLog.flush();
            Path finalModel = out.resolve(MODEL_DIR);
            if (leader()) {
                saveModel(model, finalModel, modelDir, prepared, Map.of());
                LoraMode.writeAdapterFolder(model, out.resolve(LoraMode.ADAPTER_DIR), modelDir);  // lora: the adapters alone, PEFT layout
                if (!eval.isEmpty() && Double.isNaN(evalLoss)) evalLoss = adept.eval.Perplexity.evaluate(model, eval, s.batchSize, inputs.padId, null).loss();
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            // A run resumed at its last step trained nothing here: its last loss is the one its metrics hold.
            if (Double.isNaN(lastLoss)) lastLoss = lastLoggedLoss(RunLog.read(metrics.file()));
            if (leader()) {
                // From the importance log, whole across resumes: one source for every run of these settings.
                java.util.NavigableMap<Long, Double> meanByRefresh = tuning.adaptive()
                        ? EffectiveRate.fromImportanceLog(importanceLog.file()) : new java.util.TreeMap<>();
                double effective = EffectiveRate.cumulative(schedule, step, meanByRefresh);
                writeSummary(out, prepared, preparation, counts, step, lastLoss, evalLoss, seconds, effective, EffectiveRate.scheduled(schedule, step));
                TrainPlots.write(out, listener::info);
            }
            return new Result(Status.COMPLETED, step, out, finalModel, counts[0], counts[1], seconds, lastLoss, evalLoss);
        }
    }

    /** next in place of old and spent (closed), kept out of the step's scope. */
    private static Tensor replace(Tensor old, Tensor next, Tensor spent) {
        next.keep();
        old.close();
        spent.close();
        return next;
    }

    private TrainException nonFinite(long step, String what, double value, RunCheckpoints checkpoints) {
        List<Path> kept = checkpoints.list();
        return TrainException.diverged("step " + (step + 1) + ": the " + what + " is " + value + "; training stopped. "
                + (kept.isEmpty() ? "No checkpoint was written yet." : "Last good checkpoint: " + kept.get(0))
                + " (try a lower lr or max_grad_norm)");
    }

    private static void logImportance(RunLog log, long step, DecoupledTuning tuning, double[] importance, adept.optim.RateStats rates) {
        RatePolicy.Assignment a = tuning.assignment();
        List<Unit> units = tuning.units().units();
        for (int u = 0; u < units.size(); u++) {
            JsonObject o = new JsonObject();
            o.addProperty("step", step);
            o.addProperty("unit", units.get(u).name());
            o.addProperty("layer", units.get(u).layer());
            o.addProperty("index", units.get(u).indexInLayer());
            o.addProperty("elements", tuning.units().elements(units.get(u)));
            o.addProperty("importance", importance[u]);
            o.addProperty("multiplier", a.multipliers()[u]);
            o.addProperty("frozen", a.frozen()[u]);
            addRates(o, rates);  // the refresh's statistics over every trainable element, on each of its lines
            log.append(o);
        }
        log.flush();
    }

    private static void addRates(JsonObject o, adept.optim.RateStats rates) {
        o.addProperty("rate_mean", rates.mean());
        o.addProperty("rate_min", rates.min());
        o.addProperty("rate_max", rates.max());
        o.addProperty("rate_below_0_5", rates.belowHalf());
        o.addProperty("rate_above_1_5", rates.aboveOneAndHalf());
    }

    private void restoreOptimizer(DecoupledTuning tuning, Path dir) {
        Safetensors file = Safetensors.open(dir.resolve(RunCheckpoints.OPTIMIZER_FILE));
        try (Scope scope = Scope.open()) {
            Map<String, Tensor> state = new LinkedHashMap<>();
            for (String name : file.names()) state.put(name, file.tensor(name).to(file.entry(name).dtype(), tuning.optimizer().parameters().get(0).tensor().device()));
            String layout = file.metadata().get("layout");
            if (layout != null && !layout.equals(tuning.optimizer().stateLayout())) {
                throw new TrainException(dir + ": optimizer state was written for other parameters");
            }
            tuning.optimizer().importState(state);
            Tensor rng = state.get("rng.cpu");
            if (rng != null) Torch.setCpuRngState(rng.to(DType.UINT8, Device.CPU).contiguous());
        }
    }

    private void save(RunCheckpoints checkpoints, Path modelDir, PreparedModel prepared, TrainerState.Preparation preparation,
                      DecoupledTuning tuning, TrainingInputs inputs, long step, long lastRefresh, long tokensSeen, double elapsed) {
        Path staging = checkpoints.dir().resolve(".staging-" + RunCheckpoints.name(step));
        try (FileOps.Temporary registered = FileOps.deleteOnExit(staging)) {
            Files.createDirectories(staging);
            Path optimizerFile = staging.resolve(RunCheckpoints.OPTIMIZER_FILE);
            Map<String, Tensor> state = tuning.optimizer().exportState();
            try {
                try (Scope scope = Scope.open()) {
                    Map<String, Tensor> all = new LinkedHashMap<>(state);
                    all.put("rng.cpu", Torch.cpuRngState());
                    Safetensors.write(optimizerFile, all, Map.of("layout", tuning.optimizer().stateLayout()));
                }
            } finally {
                state.values().forEach(Tensor::close);
            }
            TrainerState ts = new TrainerState(step, inputs.blocks.position(), inputs.tokens.binFile().getFileName().toString(),
                    prepared.trainable(), lastRefresh, tokensSeen, elapsed, s, preparation);
            Path stateFile = staging.resolve(TrainerState.FILE_NAME);
            FileOps.writeStringAtomically(stateFile, ts.toJson());
            saveModel(prepared.model(), checkpoints.dir().resolve(RunCheckpoints.name(step)), modelDir, prepared,
                    Map.of(RunCheckpoints.OPTIMIZER_FILE, optimizerFile, TrainerState.FILE_NAME, stateFile));
            checkpoints.prune(s.keepCheckpoints);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write a checkpoint in " + checkpoints.dir() + ": " + e.getMessage(), e);
        } finally {
            try {
                FileOps.deleteRecursively(staging);  // also after a failed write (a full disk): not left for the next run
            } catch (IOException ignored) {
                // the next run's clean-up removes it
            }
        }
    }

    /** A Hugging Face folder of the model with its tokenizer files and expansion metadata, plus extra files. */
    private void saveModel(CausalLM model, Path target, Path modelDir, PreparedModel prepared, Map<String, Path> extra) {
        SaveOptions options = SaveOptions.defaults().withConfig(prepared.config());
        Path sidecar = null;
        try {
            if (prepared.expansion() != null) {
                sidecar = FileOps.newTemporarySibling(target.getParent(), ExpansionMetadata.FILE_NAME);  // not createTempFile's 0600: copied with its mode
                Files.writeString(sidecar, prepared.expansion().toPrettyJson(), StandardCharsets.UTF_8);
                options = options.withMetadata(Map.of(ExpansionMetadata.METADATA_KEY, prepared.expansion().toJson()))
                        .withExtraFile(ExpansionMetadata.FILE_NAME, sidecar);
            }
            for (String name : Checkpoint.COMPANION_FILES) {
                Path f = modelDir.resolve(name);
                if (Files.isRegularFile(f)) options = options.withExtraFile(name, f);
            }
            for (var e : extra.entrySet()) options = options.withExtraFile(e.getKey(), e.getValue());
            if (!extra.isEmpty()) options = options.withChecksums();  // a checkpoint: verified before it is resumed
            // lora: the merged weights (a plain model for every command) plus the adapters' PEFT files
            try (LoraMode.Staged lora = LoraMode.stage(model, target.getParent(), modelDir)) {
                if (lora != null) for (var e : lora.files().entrySet()) options = options.withExtraFile(e.getKey(), e.getValue());
                Checkpoint.save(lora != null ? lora.merged() : model, target, options);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        } finally {
            if (sidecar != null) deleteQuietly(sidecar);
        }
    }

    /**
     * The result of a run that already finished with these settings (its last checkpoint at the last step, its final
     * model and summary written), read from its summary; null when there is work left. A rerun changes nothing.
     */
    private Result completed(Path out, long resumeStep, long t0) {
        Path summary = out.resolve(SUMMARY_FILE);
        if (resumeStep < s.steps || !Files.isRegularFile(out.resolve(MODEL_DIR).resolve("config.json")) || !Files.isRegularFile(summary)) return null;
        JsonObject o;
        try {
            o = com.google.gson.JsonParser.parseString(FileOps.readUtf8(summary, 1 << 20, "summary.json")).getAsJsonObject();
            double loss = o.get("final_loss").getAsDouble();
            double evalLoss = o.has("eval_loss") ? o.get("eval_loss").getAsDouble() : Double.NaN;
            long trainable = o.get("trainable_parameters").getAsLong();
            long total = o.get("total_parameters").getAsLong();
            if (!Double.isFinite(loss)) return null;  // an older summary without a true loss: rewrite it
            listener.info("run complete: step " + resumeStep + " of " + s.steps + " (" + summary + "); nothing to do");
            return new Result(Status.COMPLETED, resumeStep, out, out.resolve(MODEL_DIR), trainable, total, (System.nanoTime() - t0) / 1e9, loss, evalLoss);
        } catch (RuntimeException unreadable) {
            return null;  // rewritten from the checkpoint
        }
    }

    /** The last "loss" of a metrics log, NaN when it has none. */
    static double lastLoggedLoss(List<JsonObject> metrics) {
        for (int i = metrics.size() - 1; i >= 0; i--) {
            JsonObject o = metrics.get(i);
            if (o.has("loss") && o.get("loss").isJsonPrimitive()) return o.get("loss").getAsDouble();
        }
        return Double.NaN;
    }

    private static List<Double> layerDl(PreparedModel prepared) {
        List<Double> d = new java.util.ArrayList<>();
        if (prepared.probed() != null) for (double v : prepared.probed().deltas()) d.add(v);
        return d;
    }

    private void writeSummary(Path out, PreparedModel prepared, TrainerState.Preparation preparation, long[] counts, long step, double loss,
                              double evalLoss, double seconds, double effectiveLrSum, double scheduledLrSum) {
        JsonObject o = new JsonObject();
        o.addProperty("mode", s.mode);
        if (s.trainMode().adaptive()) o.addProperty("rate_norm", s.rateNorm);
        o.addProperty("how", preparation.how());
        o.addProperty("steps", step);
        o.addProperty("trainable_parameters", counts[0]);
        o.addProperty("total_parameters", counts[1]);
        o.addProperty("trainable_fraction", (double) counts[0] / counts[1]);
        o.addProperty("final_loss", loss);
        if (!Double.isNaN(evalLoss)) o.addProperty("eval_loss", evalLoss);
        o.addProperty("wall_seconds", seconds);
        // Sum over steps of the scheduled rate x the mean multiplier in force, beside the same sum at multiplier 1.
        o.addProperty("effective_lr_sum", effectiveLrSum);
        o.addProperty("scheduled_lr_sum", scheduledLrSum);
        o.addProperty("mean_rate_multiplier", scheduledLrSum > 0 ? effectiveLrSum / scheduledLrSum : 1.0);
        if (!preparation.layerDl().isEmpty()) {
            com.google.gson.JsonArray d = new com.google.gson.JsonArray();
            preparation.layerDl().forEach(d::add);
            o.add("layer_dl", d);
        }
        if (prepared.expansion() != null) {
            com.google.gson.JsonArray c = new com.google.gson.JsonArray();
            prepared.expansion().copyIndices().forEach(c::add);
            o.add("copies", c);
        }
        try {
            FileOps.writeStringAtomically(out.resolve(SUMMARY_FILE), TrainSettings.GSON.toJson(o) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + out.resolve(SUMMARY_FILE) + ": " + e.getMessage(), e);
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // clean-up only
        }
    }
}
