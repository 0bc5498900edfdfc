package adept.train;

import adept.eval.Perplexity;
import adept.expand.ExpansionMetadata;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.OutputLock;
import adept.io.data.Batch;
import adept.io.data.Example;
import adept.io.data.Examples;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.optim.AdamWSettings;
import adept.optim.LrSchedule;
import adept.parallel.ProcessGroup;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Torch;
import adept.tune.DecoupledTuning;
import adept.tune.Granularity;
import adept.tune.RateMode;
import adept.tune.RateNorm;
import adept.tune.RatePolicy;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Continual pretraining with ADEPT or a baseline, as a library call. {@link #run} reads and checks every input first,
 * prepares the model for the mode (probe + expand when needed), trains with periodic importance refreshes, held-out
 * evaluation and atomic checkpoints, and resumes exactly from the newest valid checkpoint in the output folder
 * ({@link RunFolder}: run.json, metrics.jsonl, importance.jsonl, checkpoints/step-N/, model/, summary.json).
 * {@link #train(CausalLM, InMemoryData)} trains a model already in memory on texts or token blocks, with no files.
 *
 * <p>A facade: the steps are {@link StepLoop}'s, the processes {@link ParallelStrategy}'s, the folder {@link RunFolder}'s
 * and {@link CheckpointSaver}'s, the logs are {@link TrainListener}s.
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
    private final AtomicBoolean stop;
    private final boolean restart;
    private final String version;
    private final List<TrainListener> listeners = new ArrayList<>();
    private ParallelStrategy parallel = new SingleProcess();

    /** A library run: no listener, no stop flag, resumes an earlier run of these settings in out. */
    public Trainer(TrainSettings settings) {
        this(settings, null, null, false, "library");
    }

    /** stop: set it (e.g. from a SIGINT handler) to end after the current step with a checkpoint; restart: discard an earlier run in out. */
    public Trainer(TrainSettings settings, TrainListener listener, AtomicBoolean stop, boolean restart, String version) {
        this.s = settings.copy();
        if (listener != null) listeners.add(listener);
        this.stop = stop != null ? stop : new AtomicBoolean();
        this.restart = restart;
        this.version = version;
    }

    /** Adds a listener (called after those added before). */
    public Trainer listen(TrainListener listener) {
        listeners.add(listener);
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

    /** What data parallelism all-reduces per step: the trainable tensors' gradient in the optimizer's state type. */
    public static long gradientBytesPerStep(DecoupledTuning tuning) {
        return DataParallel.gradientBytesPerStep(tuning);
    }

    /** Trains (resuming from the newest checkpoint when there is one) until the last step or a stop request, writing the outputs into the run folder. */
    public Result run() {
        s.validate();
        RunFolder folder = new RunFolder(Path.of(s.out));
        folder.checkIsFolder();
        folder.checkApart(Path.of(s.model));
        folder.checkOwned(restart);
        boolean created = !Files.exists(folder.dir(), LinkOption.NOFOLLOW_LINKS);
        OutputLock lock = parallel.leader() ? folder.lock() : null;  // rank 0 alone writes
        try {
            if (lock != null) folder.removeLeftovers();
            return runInFolder(folder);
        } finally {
            if (lock != null) lock.close();
            if (lock != null && created) folder.removeIfEmpty();
        }
    }

    private Result runInFolder(RunFolder folder) {
        long t0 = System.nanoTime();
        parallel.checkBatchSize(s.batchSize);
        TrainListeners listener = new TrainListeners(listeners);
        Path modelDir = Path.of(s.model).toAbsolutePath().normalize();
        DType dtype = DType.parse(s.dtype);
        Device device = Device.parse(s.device);
        Checkpoint base = Checkpoint.open(modelDir);
        ModelConfig baseConfig = base.config().modelConfig();
        int maxPositions = baseConfig.maxPositionEmbeddings();
        int blockSize = blockSize(maxPositions);
        if (s.trainMode() == TrainMode.LORA) LoraMode.rank(s, base);  // a rank that matches nothing fails before any work
        if (!restart) folder.checkSameSettings(s);

        Torch.init();
        try (Tokenizer tokenizer = Tokenizer.load(modelDir);
             TrainingInputs inputs = TrainingInputs.read(s, modelDir, tokenizer, blockSize, maxPositions, baseConfig.vocabSize(),
                     folder.dir().resolveSibling(".adept-tokens"), bytes -> {})) {
            listener.info(String.format(Locale.ROOT, "data: %s: %,d tokens in %,d documents%s; %,d blocks of %d", s.data,
                    inputs.tokens.tokenCount(), inputs.tokens.documentCount(), inputs.tokens.reused() ? " (cached)" : "",
                    inputs.blocks.blocksPerEpoch(), blockSize));
            parallel.checkSameInputs(s, modelDir, inputs.tokens.binFile());  // before anything that depends on them
            if (restart && parallel.leader()) folder.clear();
            parallel.barrier();  // the other ranks look for checkpoints only once rank 0 has deleted them
            RunCheckpoints.Loaded resume = restart ? null : folder.checkpoints().newestValid(listener::info).orElse(null);
            parallel.checkSameResumeStep(resume == null ? -1 : resume.state().step());
            Result done = resume == null ? null : folder.completed(resume.state().step(), s.steps, (System.nanoTime() - t0) / 1e9);
            if (done != null) {
                listener.info("run complete: step " + done.step() + " of " + s.steps + " (" + folder.dir().resolve(RunFolder.SUMMARY_FILE) + "); nothing to do");
                return done;
            }
            try (Scope runScope = Scope.open()) {
                List<Batch> probe = inputs.probe == null ? List.of()
                        : TrainingInputs.batches(inputs.probe, s.probeBatchSize, s.probeBatches, inputs.padId, device);
                PreparedModel prepared = resume != null ? fromCheckpoint(resume, dtype, device, listener)
                        : PreparedModel.prepare(s, base, dtype, device, probe, version, parallel.group(), listener::info);
                try (CausalLM model = prepared.model()) {
                    StepLoop.Data data = new StepLoop.Data(inputs.blocks::nextBatch, blockSize, probe,
                            inputs.eval == null ? List.of() : inputs.eval, inputs.padId);
                    return trainInFolder(t0, folder, modelDir, prepared, data, inputs, resume, listener);
                }
            }
        }
    }

    private PreparedModel fromCheckpoint(RunCheckpoints.Loaded resume, DType dtype, Device device, TrainListener listener) {
        listener.info("resuming from " + resume.dir() + " (step " + resume.state().step() + ")");
        if (s.trainMode() == TrainMode.LORA) return LoraMode.resume(s, resume.dir(), resume.state(), dtype, device);
        Checkpoint c = Checkpoint.open(resume.dir());
        ExpansionMetadata expansion = ExpansionMetadata.from(c.metadata(), c.dir().toString()).orElse(null);
        return new PreparedModel(c.loadModel(dtype, device), c.config(), resume.state().trainable(), expansion, null,
                "resumed at step " + resume.state().step());
    }

    private Result trainInFolder(long t0, RunFolder folder, Path modelDir, PreparedModel prepared, StepLoop.Data data,
                                 TrainingInputs inputs, RunCheckpoints.Loaded resume, TrainListeners listener) {
        CausalLM model = prepared.model();
        long[] counts = describe(prepared, listener);
        boolean writes = parallel.leader();
        if (writes) folder.start(s, resume == null);
        parallel.broadcastParameters(model);
        TrainerState resumed = resume == null ? null : resume.state();
        try (DecoupledTuning tuning = tuning(prepared, listener);
             RunLogs logs = writes ? RunLogs.open(folder.dir(), resumed) : null;
             RunEvents events = RunEvents.open(folder.dir(), s, writes && s.tensorboard, resumed == null ? -1 : resumed.step())) {
            parallel.attach(model, tuning, s, listener::info);
            try {
                StepLoop.Progress start = StepLoop.Progress.START;
                if (resumed != null) {
                    if (!resumed.tokenFile().equals(inputs.tokens.binFile().getFileName().toString())) {
                        throw new TrainException(resume.dir() + " was trained on other data (" + resumed.tokenFile() + "); use another output folder or --restart");
                    }
                    CheckpointSaver.restoreOptimizer(tuning, resume.dir());
                    inputs.blocks.seek(resumed.data());
                    start = new StepLoop.Progress(resumed.step(), resumed.lastRefreshStep(), resumed.tokensSeen(), resumed.elapsedSeconds());
                }
                StepLoop.Saver saver = writes
                        ? CheckpointSaver.writing(s, folder.checkpoints(), modelDir, prepared, tuning, inputs.blocks, inputs.tokens.binFile().getFileName().toString())
                        : CheckpointSaver.readOnly(folder.checkpoints());
                TrainListeners all = writes ? listener.with(logs, events) : listener;
                StepLoop.Outcome o = new StepLoop(s, model, tuning, schedule(), data, parallel, all, stop, saver).run(start);
                if (o.status() == Status.INTERRUPTED) {
                    return new Result(Status.INTERRUPTED, o.progress().step(), folder.dir(), null, counts[0], counts[1], (System.nanoTime() - t0) / 1e9,
                            o.lastLoss(), o.evalLoss());
                }
                return finishFolder(t0, folder, modelDir, prepared, data, tuning, o, counts, listener);
            } finally {
                parallel.detach();
            }
        }
    }

    /** The final model, adapters and summary of a completed run (rank 0), then the listeners' outputsWritten. */
    private Result finishFolder(long t0, RunFolder folder, Path modelDir, PreparedModel prepared, StepLoop.Data data, DecoupledTuning tuning,
                                StepLoop.Outcome o, long[] counts, TrainListener listener) {
        long step = o.progress().step();
        double evalLoss = o.evalLoss();
        if (parallel.leader()) {
            ModelFolder.write(prepared.model(), folder.modelDir(), modelDir, prepared, Map.of());
            LoraMode.writeAdapterFolder(prepared.model(), folder.dir().resolve(LoraMode.ADAPTER_DIR), modelDir);  // lora: the adapters alone, PEFT layout
            if (!data.eval().isEmpty() && Double.isNaN(evalLoss)) evalLoss = evaluate(prepared.model(), data);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        // A run resumed at its last step trained nothing here: its last loss is the one its metrics hold.
        double lastLoss = Double.isNaN(o.lastLoss()) ? folder.lastLoggedLoss() : o.lastLoss();
        if (parallel.leader()) {
            // From the importance log, whole across resumes: one source for every run of these settings.
            NavigableMap<Long, Double> meanByRefresh = tuning.adaptive()
                    ? EffectiveRate.fromImportanceLog(folder.dir().resolve(RunFolder.IMPORTANCE_FILE)) : new TreeMap<>();
            LrSchedule schedule = schedule();
            folder.writeSummary(s, prepared, counts, new RunFolder.Summary(step, lastLoss, evalLoss, seconds,
                    EffectiveRate.cumulative(schedule, step, meanByRefresh), EffectiveRate.scheduled(schedule, step)));
            listener.outputsWritten(folder.dir());
        }
        return new Result(Status.COMPLETED, step, folder.dir(), folder.modelDir(), counts[0], counts[1], seconds, lastLoss, evalLoss);
    }

    /**
     * Trains model (the caller's, in place: an expanding mode adds its layer copies to it) on data, with no files: no
     * run folder, no checkpoints, no resume; metrics go to the listeners. The settings' model, data, out, probe and
     * eval paths are not read (give probe and held-out texts in data). The same texts, settings and seed give the
     * same losses as {@link #run} on a JSON Lines corpus of those texts. Mode lora needs a model folder.
     */
    public Result train(CausalLM model, InMemoryData data) {
        long t0 = System.nanoTime();
        TrainSettings settings = inMemorySettings(data);
        settings.validate();
        parallel.checkBatchSize(settings.batchSize);
        Trainer inMemory = new Trainer(settings, null, stop, false, version);
        inMemory.parallel = parallel;
        inMemory.listeners.addAll(listeners);
        return inMemory.trainInMemory(t0, model, data);
    }

    /** A copy whose file settings name the run's place in memory, so that validate() checks the rest. */
    private TrainSettings inMemorySettings(InMemoryData data) {
        TrainSettings settings = s.copy();
        settings.model = "(in memory)";
        settings.data = "(in memory)";
        settings.out = "(in memory)";
        settings.probe = data.probe().isEmpty() ? null : "(in memory)";
        settings.eval = data.eval().isEmpty() ? null : "(in memory)";
        if (data.blockSize() > 0) {
            if (settings.blockSize != null && settings.blockSize != data.blockSize()) {
                throw new TrainException("block_size " + settings.blockSize + " differs from the blocks given (" + data.blockSize() + " tokens)");
            }
            settings.blockSize = data.blockSize();
        }
        return settings;
    }

    private Result trainInMemory(long t0, CausalLM model, InMemoryData data) {
        TrainListeners listener = new TrainListeners(listeners);
        ModelConfig config = model.config();
        int blockSize = blockSize(config.maxPositionEmbeddings());
        long vocab = config.vocabSize();
        for (long id : data.tokens()) {
            if (id < 0 || id >= vocab) throw new TrainException("the training data in memory: token id " + id + " is outside the model's vocabulary of " + vocab);
        }
        Tokenizer tokenizer = data.tokenizer();
        if (tokenizer == null && (!data.probe().isEmpty() || !data.eval().isEmpty())) {
            throw new TrainException("probe and held-out texts need the model's tokenizer: give it with InMemoryData.withTokenizer");
        }
        Torch.init();
        TokenBlocks blocks = new TokenBlocks(data.tokens(), blockSize, s.seed);
        listener.info(String.format(Locale.ROOT, "data: %,d tokens in memory; %,d blocks of %d", data.tokens().length, blocks.blocksPerEpoch(), blockSize));
        long padId = tokenizer == null ? 0 : Examples.paddingId(tokenizer, vocab);
        List<Example> probeExamples = examples(data.probe(), "probe texts", tokenizer, Math.min(config.maxPositionEmbeddings(), TrainingInputs.PROBE_MAX_LENGTH), 0, vocab);
        List<Example> eval = examples(data.eval(), "held-out texts", tokenizer, blockSize, s.evalTokens, vocab);
        try (Scope runScope = Scope.open()) {
            List<Batch> probe = TrainingInputs.batches(probeExamples, s.probeBatchSize, s.probeBatches, padId, model.device());
            PreparedModel prepared = PreparedModel.prepareInMemory(s, model, probe, version, parallel.group(), listener::info);
            long[] counts = describe(prepared, listener);
            parallel.broadcastParameters(model);
            try (DecoupledTuning tuning = tuning(prepared, listener)) {
                parallel.attach(model, tuning, s, listener::info);
                try {
                    StepLoop.Data loopData = new StepLoop.Data(blocks, blockSize, probe, eval, padId);
                    StepLoop.Outcome o = new StepLoop(s, model, tuning, schedule(), loopData, parallel, listener, stop, StepLoop.Saver.NONE)
                            .run(StepLoop.Progress.START);
                    double evalLoss = o.evalLoss();
                    if (o.status() == Status.COMPLETED && !eval.isEmpty() && Double.isNaN(evalLoss)) evalLoss = evaluate(model, loopData);
                    return new Result(o.status(), o.progress().step(), null, null, counts[0], counts[1], (System.nanoTime() - t0) / 1e9,
                            o.lastLoss(), evalLoss);
                } finally {
                    parallel.detach();
                }
            }
        }
    }

    /** Texts tokenized as a corpus file's items are (cut into windows of contextLength; at most budget tokens, 0 = all). */
    private static List<Example> examples(List<String> texts, String what, Tokenizer tokenizer, int contextLength, long budget, long vocab) {
        if (texts.isEmpty()) return List.of();
        Path name = Path.of(what);
        List<Example> examples = Examples.tokenize(name, InMemoryData.items(texts), tokenizer, contextLength, Examples.LongItems.SPLIT, budget);
        Examples.requireInVocabulary(name, examples, vocab);
        return examples;
    }

    private int blockSize(int maxPositions) {
        int blockSize = s.blockSize != null ? s.blockSize : Math.min(512, maxPositions);
        if (blockSize > maxPositions) {
            throw new TrainException("block_size " + blockSize + " exceeds the model's context (max_position_embeddings " + maxPositions + ")");
        }
        return blockSize;
    }

    /** Says what the mode trains; returns the trainable and total parameter counts. */
    private long[] describe(PreparedModel prepared, TrainListener listener) {
        long[] counts = prepared.parameterCounts();
        listener.info(String.format(Locale.ROOT, "mode %s: %s", s.trainMode().label(), prepared.how()));
        listener.info(String.format(Locale.ROOT, "trainable: %d tensors, %,d of %,d parameters (%.2f%%)", prepared.trainable().size(),
                counts[0], counts[1], 100.0 * counts[0] / counts[1]));
        return counts;
    }

    /** Stage 2's tuning of the prepared model's trainable tensors (a caller closes it). */
    private DecoupledTuning tuning(PreparedModel prepared, TrainListener listener) {
        RatePolicy policy = new RatePolicy(RateMode.parse(s.rateMode), s.quantile, s.lowRate() / s.lr, s.highRate() / s.lr, RateNorm.parse(s.rateNorm));
        AdamWSettings adam = new AdamWSettings(s.beta1, s.beta2, s.eps, s.weightDecay, s.maxGradNorm);
        DecoupledTuning tuning = new DecoupledTuning(prepared.model(), prepared.trainable(), Granularity.parse(s.granularity), policy, adam,
                s.trainMode().adaptive());
        try {
            tuning.activationCheckpointing(s.gradCheckpointing);
        } catch (RuntimeException e) {
            tuning.close();
            throw e;
        }
        if (s.gradCheckpointing > 0) {
            listener.info(String.format(Locale.ROOT, "activation checkpointing: layers %d..%d recomputed in backward, %d a segment (grad_checkpointing)",
                    Math.max(0, tuning.firstRecordedLayer()), prepared.model().layers().size() - 1, s.gradCheckpointing));
        }
        return tuning;
    }

    private LrSchedule schedule() {
        return new LrSchedule(LrSchedule.parseKind(s.schedule), s.lr, s.warmup(), s.steps);
    }

    private double evaluate(CausalLM model, StepLoop.Data data) {
        return Perplexity.evaluate(model, data.eval(), s.batchSize, data.padId(), null).loss();
    }
}
