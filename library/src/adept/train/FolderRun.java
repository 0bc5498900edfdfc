package adept.train;

import adept.expand.ExpansionMetadata;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.LoadedModel;
import adept.io.checkpoint.OutputLock;
import adept.io.data.Batch;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.optim.LrSchedule;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Torch;
import adept.tune.DecoupledTuning;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * A run from files into a run folder: checks every input first, resumes from the newest valid checkpoint (every rank
 * from the same one), trains, and on the writing rank (rank 0) writes the logs, checkpoints, final model and summary.
 */
final class FolderRun {
    private final RunContext run;
    private final TrainSettings s;
    private final TrainListeners listener;
    private final ParallelStrategy parallel;
    private final boolean restart;
    private final RunFolder folder;

    FolderRun(RunContext run, boolean restart) {
        this.run = run;
        this.s = run.s();
        this.listener = run.listener();
        this.parallel = run.parallel();
        this.restart = restart;
        this.folder = new RunFolder(s.output().out());
    }

    Trainer.Result run() {
        folder.checkIsFolder();
        folder.checkApart(s.inputs().model());
        folder.checkOwned(restart);
        boolean created = !Files.exists(folder.dir(), LinkOption.NOFOLLOW_LINKS);
        OutputLock lock = parallel.leader() ? folder.lock() : null;  // rank 0 alone writes
        try {
            if (lock != null) folder.removeLeftovers();
            return readAndTrain();
        } finally {
            if (lock != null) lock.close();
            if (lock != null && created) folder.removeIfEmpty();
        }
    }

    private Trainer.Result readAndTrain() {
        long t0 = System.nanoTime();
        parallel.checkBatchSize(s.inputs().batchSize());
        Path modelDir = s.inputs().model().toAbsolutePath().normalize();
        DType dtype = s.hardware().dtype();
        Device device = s.hardware().device();
        Checkpoint base = Checkpoint.open(modelDir);
        ModelConfig baseConfig = base.config().modelConfig();
        int maxPositions = baseConfig.maxPositionEmbeddings();
        int blockSize = run.blockSize(maxPositions);
        run.checkMicroBatch(blockSize);
        if (s.preparation().mode() == TrainMode.LORA) LoraMode.rank(s, base);  // a rank that matches nothing fails before any work
        if (!restart) folder.checkSameSettings(s);

        Torch.init();
        Torch.manualSeed(s.inputs().seed());  // libtorch's generator starts from a random seed: any draw, and rng.cpu, repeat
        try (Tokenizer tokenizer = Tokenizer.load(modelDir);
             TrainingInputs inputs = TrainingInputs.read(s, modelDir, tokenizer, blockSize, maxPositions, baseConfig.vocabSize(),
                     folder.dir().resolveSibling(".adept-tokens"), bytes -> {})) {
            listener.info(String.format(Locale.ROOT, "data: %s: %,d tokens in %,d documents%s; %,d blocks of %d", s.inputs().data(),
                    inputs.tokens.tokenCount(), inputs.tokens.documentCount(), inputs.tokens.reused() ? " (cached)"
                            : inputs.tokens.rebuiltBecause().map(why -> " (token cache rebuilt: " + why + ")").orElse(""),
                    inputs.blocks.blocksPerEpoch(), blockSize));
            parallel.checkSameInputs(s, modelDir, inputs.tokens.binFile());  // before anything that depends on them
            if (restart && parallel.leader()) folder.clear();
            parallel.barrier();  // the other ranks look for checkpoints only once rank 0 has deleted them
            RunCheckpoints.Loaded resume = restart ? null : folder.checkpoints().newestValid(listener::info).orElse(null);
            parallel.checkSameResumeStep(resume == null ? -1 : resume.state().step());
            Trainer.Result done = resume == null ? null : folder.completed(resume.state().step(), s.optimizer().steps(), (System.nanoTime() - t0) / 1e9);
            if (done != null) {
                listener.info("run complete: step " + done.step() + " of " + s.optimizer().steps() + " (" + folder.dir().resolve(RunFolder.SUMMARY_FILE) + "); nothing to do");
                return done;
            }
            try (Scope runScope = Scope.open()) {
                List<Batch> probe = inputs.probe == null ? List.of()
                        : TrainingInputs.batches(inputs.probe, s.stage2().probeBatchSize(), s.stage2().probeBatches(), inputs.padId, device);
                PreparedModel prepared = resume != null ? fromCheckpoint(resume, base, dtype, device)
                        : PreparedModel.prepare(s, base, dtype, device, probe, parallel.group(), listener::info);
                try (CausalLM model = prepared.model()) {
                    StepLoop.Data data = new StepLoop.Data(inputs.blocks::nextBatch, blockSize, probe,
                            inputs.eval == null ? List.of() : inputs.eval, inputs.padId);
                    return train(t0, modelDir, prepared, data, inputs, resume);
                }
            }
        } catch (adept.tensor.TorchException e) {
            throw OutOfMemory.explain(e, s, parallel.ranks(), blockSize).orElseThrow(() -> e);
        }
    }

    /** The model of a checkpoint, with base's provenance (its folder's tokenizer files) and the checkpoint's config.json. */
    private PreparedModel fromCheckpoint(RunCheckpoints.Loaded resume, Checkpoint base, DType dtype, Device device) {
        listener.info("resuming from " + resume.dir() + " (step " + resume.state().step() + ")");
        if (s.preparation().mode() == TrainMode.LORA) return LoraMode.resume(s, resume.dir(), resume.state(), dtype, device);
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
        LoadedModel loaded = new LoadedModel(model, base.provenance().withConfig(c.config()));
        return new PreparedModel(loaded, resume.state().trainable(), expansion, null, "resumed at step " + resume.state().step());
    }

    private Trainer.Result train(long t0, Path modelDir, PreparedModel prepared, StepLoop.Data data, TrainingInputs inputs,
                                 RunCheckpoints.Loaded resume) {
        CausalLM model = prepared.model();
        long[] counts = run.describe(prepared);
        boolean writes = parallel.leader();
        if (writes) folder.start(s, resume == null);
        parallel.broadcastParameters(model);
        TrainerState resumed = resume == null ? null : resume.state();
        // The summary describes the run's start, also when this process resumed it from a checkpoint.
        TrainerState.Preparation preparation = resumed != null && resumed.preparation() != null ? resumed.preparation()
                : new TrainerState.Preparation(prepared.how(), layerDl(prepared));
        try (DecoupledTuning tuning = run.tuning(prepared);
             RunLogs logs = writes ? RunLogs.open(folder.dir(), resumed) : null;
             RunEvents events = RunEvents.open(folder.dir(), s, writes && s.output().tensorboard(), resumed == null ? -1 : resumed.step())) {
            parallel.attach(model, tuning, s, listener::info);
            try {
                StepLoop.Progress start = StepLoop.Progress.START;
                if (resumed != null) {
                    if (!resumed.tokenFile().equals(inputs.tokens.binFile().getFileName().toString())) {
                        throw new TrainException(resume.dir() + " was trained on other data (" + resumed.tokenFile() + "); use another output folder or --restart");
                    }
                    CheckpointSaver.restoreOptimizer(tuning, resume.dir());
                    if (resumed.data().offset() > inputs.blocks.blocksPerEpoch()) {
                        throw new TrainException(resume.dir().resolve(TrainerState.FILE_NAME) + ": data_offset " + resumed.data().offset()
                                + " is past the " + inputs.blocks.blocksPerEpoch() + " blocks of an epoch of " + s.inputs().data() + "; the checkpoint is damaged");
                    }
                    inputs.blocks.seek(resumed.data());
                    start = new StepLoop.Progress(resumed.step(), resumed.lastRefreshStep(), resumed.tokensSeen(), resumed.elapsedSeconds());
                }
                StepLoop.Saver saver = writes
                        ? CheckpointSaver.writing(s, folder.checkpoints(), modelDir, prepared, tuning, inputs.blocks, inputs.tokens.binFile().getFileName().toString(),
                                preparation)
                        : CheckpointSaver.readOnly(folder.checkpoints());
                StepLoop.Outcome o = run.loop(model, tuning, data, writes ? listener.with(logs, events) : listener, saver).run(start);
                if (o.status() == Trainer.Status.INTERRUPTED) {
                    return new Trainer.Result(Trainer.Status.INTERRUPTED, o.progress().step(), folder.dir(), null, counts[0], counts[1],
                            (System.nanoTime() - t0) / 1e9, o.lastLoss(), o.evalLoss());
                }
                return finish(t0, modelDir, prepared, preparation, data, tuning, o, counts);
            } finally {
                parallel.detach();
            }
        }
    }

    /** The final model, adapters and summary of a completed run (rank 0), then the listeners' outputsWritten. */
    private static List<Double> layerDl(PreparedModel prepared) {
        List<Double> d = new java.util.ArrayList<>();
        if (prepared.probed() != null) for (double v : prepared.probed().deltas()) d.add(v);
        return d;
    }

    private Trainer.Result finish(long t0, Path modelDir, PreparedModel prepared, TrainerState.Preparation preparation, StepLoop.Data data,
                                  DecoupledTuning tuning,
                                  StepLoop.Outcome o, long[] counts) {
        long step = o.progress().step();
        double evalLoss = o.evalLoss();
        if (parallel.leader()) {
            ModelFolder.write(prepared, folder.modelDir(), modelDir, Map.of());
            LoraMode.writeAdapterFolder(prepared.model(), folder.dir().resolve(LoraMode.ADAPTER_DIR), modelDir);  // lora: the adapters alone, PEFT layout
            if (!data.eval().isEmpty() && Double.isNaN(evalLoss)) evalLoss = run.evaluate(prepared.model(), data);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        // A run resumed at its last step trained nothing here: its last loss is the one its metrics hold.
        double lastLoss = Double.isNaN(o.lastLoss()) ? folder.lastLoggedLoss() : o.lastLoss();
        if (parallel.leader()) {
            // From the importance log, whole across resumes: one source for every run of these settings.
            NavigableMap<Long, Double> meanByRefresh = tuning.adaptive()
                    ? EffectiveRate.fromImportanceLog(folder.dir().resolve(RunFolder.IMPORTANCE_FILE)) : new TreeMap<>();
            LrSchedule schedule = run.schedule();
            folder.writeSummary(s, prepared, preparation, counts, new RunFolder.Summary(step, lastLoss, evalLoss, seconds,
                    EffectiveRate.cumulative(schedule, step, meanByRefresh), EffectiveRate.scheduled(schedule, step)));
            listener.outputsWritten(folder.dir());
        }
        return new Trainer.Result(Trainer.Status.COMPLETED, step, folder.dir(), folder.modelDir(), counts[0], counts[1], seconds, lastLoss, evalLoss);
    }
}
