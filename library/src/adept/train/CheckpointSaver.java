package adept.train;

import adept.io.checkpoint.FileOps;
import adept.io.checkpoint.Safetensors;
import adept.io.data.PackedBlocks;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.tune.DecoupledTuning;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a run's checkpoints (model folder + optimizer.bin + trainer_state.json, see {@link RunCheckpoints}) and
 * reads the optimizer state back on resume. The process that writes the run folder saves; the others only name the
 * last good checkpoint when a run diverges ({@link #readOnly}).
 */
final class CheckpointSaver implements StepLoop.Saver {
    private final TrainSettings s;
    private final RunCheckpoints checkpoints;
    private final Path baseDir;
    private final PreparedModel prepared;
    private final DecoupledTuning tuning;
    private final PackedBlocks blocks;
    private final String tokenFile;
    private final TrainerState.Preparation preparation;
    private final boolean writes;

    private CheckpointSaver(TrainSettings s, RunCheckpoints checkpoints, Path baseDir, PreparedModel prepared, DecoupledTuning tuning,
                            PackedBlocks blocks, String tokenFile, TrainerState.Preparation preparation, boolean writes) {
        this.s = s;
        this.checkpoints = checkpoints;
        this.baseDir = baseDir;
        this.prepared = prepared;
        this.tuning = tuning;
        this.blocks = blocks;
        this.tokenFile = tokenFile;
        this.preparation = preparation;
        this.writes = writes;
    }

    /** Saves into checkpoints: the model, the optimizer's state, where the data reader stands (blocks over tokenFile). */
    static CheckpointSaver writing(TrainSettings s, RunCheckpoints checkpoints, Path baseDir, PreparedModel prepared, DecoupledTuning tuning,
                                   PackedBlocks blocks, String tokenFile, TrainerState.Preparation preparation) {
        return new CheckpointSaver(s, checkpoints, baseDir, prepared, tuning, blocks, tokenFile, preparation, true);
    }

    /** Saves nothing (a rank other than 0); still names the last good checkpoint. */
    static CheckpointSaver readOnly(RunCheckpoints checkpoints) {
        return new CheckpointSaver(null, checkpoints, null, null, null, null, null, null, false);
    }

    @Override
    public String lastGood() {
        List<Path> kept = checkpoints.list();
        return kept.isEmpty() ? "No checkpoint was written yet." : "Last good checkpoint: " + kept.get(0);
    }

    @Override
    public void save(StepLoop.Progress p) {
        if (!writes) return;
        Path staging = checkpoints.dir().resolve(".staging-" + RunCheckpoints.name(p.step()));
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
            TrainerState ts = new TrainerState(p.step(), blocks.position(), tokenFile, prepared.trainable(), p.lastRefresh(), p.tokensSeen(),
                    p.elapsedSeconds(), s, preparation);
            Path stateFile = staging.resolve(TrainerState.FILE_NAME);
            FileOps.writeStringAtomically(stateFile, ts.toJson());
            ModelFolder.write(prepared, checkpoints.dir().resolve(RunCheckpoints.name(p.step())), baseDir,
                    Map.of(RunCheckpoints.OPTIMIZER_FILE, optimizerFile, TrainerState.FILE_NAME, stateFile));
            checkpoints.prune(s.output().keepCheckpoints());
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

    /** Restores tuning's optimizer state and the CPU RNG from the checkpoint in dir. */
    static void restoreOptimizer(DecoupledTuning tuning, Path dir) {
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
}
