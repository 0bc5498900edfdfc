package adept.train;

import adept.io.checkpoint.FileOps;
import adept.io.checkpoint.OutputLock;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;

/**
 * A training run's output folder: its file names, who may write it, and the files that are not checkpoints (run.json,
 * summary.json; the logs are {@link RunLogs}, the checkpoints {@link RunCheckpoints}). A run writes only into a folder
 * that is new, empty or an earlier run's (it holds run.json), never into or around its own model (real paths
 * compared, so a symlink to the model folder is the model folder), and one process at a time (a lock file with the
 * owner's pid: {@link #LOCK_FILE}).
 */
public final class RunFolder {
    /** The settings of the run (JSON): a rerun with other settings is refused. */
    public static final String RUN_FILE = "run.json";
    /** A line per read-back (loss, lr, rates, ...) and per held-out evaluation. */
    public static final String METRICS_FILE = "metrics.jsonl";
    /** A line per unit at each importance refresh. */
    public static final String IMPORTANCE_FILE = "importance.jsonl";
    /** The final model, a Hugging Face folder. */
    public static final String MODEL_DIR = "model";
    /** What the run did, written last. */
    public static final String SUMMARY_FILE = "summary.json";
    /** The lock file of the run writing the folder (removed when it ends; a dead owner's is taken over). */
    static final String LOCK_FILE = ".adept.lock";

    private final Path out;
    private final RunCheckpoints checkpoints;

    /** The folder out (absolute, normalised). */
    RunFolder(Path out) {
        this.out = out.toAbsolutePath().normalize();
        this.checkpoints = new RunCheckpoints(this.out);
    }

    Path dir() {
        return out;
    }

    RunCheckpoints checkpoints() {
        return checkpoints;
    }

    Path modelDir() {
        return out.resolve(MODEL_DIR);
    }

    /** Refuses an out that exists and is not a folder. */
    void checkIsFolder() {
        if (Files.exists(out, LinkOption.NOFOLLOW_LINKS) && !Files.isDirectory(out)) throw new TrainException(out + ": exists and is not a folder");
    }

    /** Refuses an output folder that is the model folder, inside it or around it: the run replaces out/model and prunes out/checkpoints. */
    void checkApart(Path modelDir) {
        Path model = FileOps.realPath(modelDir);
        Path target = FileOps.realPath(out);
        if (target.equals(model)) throw new TrainException("out " + out + " is the model folder " + model + "; use another output folder");
        if (target.startsWith(model)) throw new TrainException("out " + out + " must not be inside the model folder " + model);
        if (model.startsWith(target)) {
            throw new TrainException("model " + modelDir + " is inside out " + out + " (" + target + "), whose model/ and checkpoints/ the run "
                    + "replaces; copy the model elsewhere or use another output folder");
        }
    }

    /**
     * Refuses a non-empty folder that no training run wrote (no run.json), as Hugging Face's trainer scripts refuse a
     * non-empty output_dir: its model/ would be replaced. restart (the user's say-so) lets it through. Hidden
     * entries (lock, temporary files) do not count.
     */
    void checkOwned(boolean restart) {
        if (restart || !Files.isDirectory(out) || Files.exists(out.resolve(RUN_FILE), LinkOption.NOFOLLOW_LINKS)) return;
        List<String> foreign;
        try (var entries = Files.list(out)) {
            foreign = entries.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().limit(4).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + out + ": " + e.getMessage(), e);
        }
        if (foreign.isEmpty()) return;
        throw new TrainException("out " + out + " holds files no adept training run wrote (" + String.join(", ", foreign)
                + (foreign.size() == 4 ? ", ..." : "") + "); use another output folder, or --restart to train into it anyway (replacing its "
                + MODEL_DIR + "/)");
    }

    /** Refuses an earlier run in the folder whose run.json holds other settings than s. */
    void checkSameSettings(TrainSettings s) {
        Path runFile = out.resolve(RUN_FILE);
        if (!Files.exists(runFile)) return;
        TrainSettings prior;
        try {
            prior = TrainSettings.fromJson(JsonParser.parseString(FileOps.readUtf8(runFile, 1 << 20, RUN_FILE)).getAsJsonObject(), runFile.toString());
        } catch (RuntimeException e) {
            throw new TrainException(runFile + ": unreadable (" + e.getMessage() + "); use another output folder or --restart");
        }
        List<String> diff = s.differences(prior);
        if (!diff.isEmpty()) {
            throw new TrainException(out + " holds a run with other settings (differs in " + String.join(", ", diff)
                    + "); use another output folder, or --restart to discard it");
        }
    }

    /** The folder's writer lock (creating the folder); refused with the holder's pid while another process runs in it. */
    OutputLock lock() {
        return OutputLock.acquire(out.resolve(LOCK_FILE), "out " + out);
    }

    /**
     * Removes what killed runs left in out (their lock is released, so they are gone): temporary files of atomic
     * writes (plots, logs, summary), staging and temporary checkpoint folders. Called by the lock's holder.
     */
    void removeLeftovers() {
        FileOps.removeStaleTemporaries(out);
        checkpoints.removeStaleTemporaries();
        adept.io.checkpoint.Checkpoint.recover(modelDir());
    }

    /** Discards an earlier run (a --restart): its checkpoints, logs, events and run.json. */
    void clear() {
        checkpoints.deleteAll();
        for (String f : List.of(METRICS_FILE, IMPORTANCE_FILE, RUN_FILE)) deleteQuietly(out.resolve(f));
        RunEvents.deleteAll(out);
    }

    /** Removes out if this run created it and left it empty (a run refused after taking the lock writes nothing). */
    void removeIfEmpty() {
        try {
            Files.deleteIfExists(out);
        } catch (IOException notEmptyOrGone) {
            // it holds something: keep it
        }
    }

    /** Creates the folder and, for a fresh run, writes its run.json. */
    void start(TrainSettings s, boolean fresh) {
        try {
            Files.createDirectories(out);
            if (fresh) FileOps.writeStringAtomically(out.resolve(RUN_FILE), s.toJson());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + out.resolve(RUN_FILE) + ": " + e.getMessage(), e);
        }
        checkpoints.removeStaleTemporaries();
    }

    /**
     * The result of a run that already finished with these settings (its last checkpoint at the last step, its final
     * model and summary written), read from its summary; null when there is work left. A rerun changes nothing.
     */
    Trainer.Result completed(long resumeStep, long steps, double seconds) {
        Path summary = out.resolve(SUMMARY_FILE);
        if (resumeStep < steps || !Files.isRegularFile(modelDir().resolve("config.json")) || !Files.isRegularFile(summary)) return null;
        try {
            JsonObject o = JsonParser.parseString(FileOps.readUtf8(summary, 1 << 20, SUMMARY_FILE)).getAsJsonObject();
            double loss = o.get("final_loss").getAsDouble();
            double evalLoss = o.has("eval_loss") ? o.get("eval_loss").getAsDouble() : Double.NaN;
            long trainable = o.get("trainable_parameters").getAsLong();
            long total = o.get("total_parameters").getAsLong();
            if (!Double.isFinite(loss)) return null;  // an older summary without a true loss: rewrite it
            return new Trainer.Result(Trainer.Status.COMPLETED, resumeStep, out, modelDir(), trainable, total, seconds, loss, evalLoss);
        } catch (RuntimeException unreadable) {
            return null;  // rewritten from the checkpoint
        }
    }

    /** The last "loss" of the metrics log, NaN when it has none (a run resumed at its last step trained nothing). */
    double lastLoggedLoss() {
        return lastLoggedLoss(RunLog.read(out.resolve(METRICS_FILE)));
    }

    /** The last "loss" of a metrics log, NaN when it has none. */
    static double lastLoggedLoss(List<JsonObject> metrics) {
        for (int i = metrics.size() - 1; i >= 0; i--) {
            JsonObject o = metrics.get(i);
            if (o.has("loss") && o.get("loss").isJsonPrimitive()) return o.get("loss").getAsDouble();
        }
        return Double.NaN;
    }

    /** What the summary says of a run. */
    record Summary(long step, double loss, double evalLoss, double seconds, double effectiveLrSum, double scheduledLrSum) {}

    /** summary.json; preparation is how the run began (the same when this process resumed it from a checkpoint). */
    void writeSummary(TrainSettings s, PreparedModel prepared, TrainerState.Preparation preparation, long[] counts, Summary r) {
        JsonObject o = new JsonObject();
        o.addProperty("mode", s.preparation().mode().label());
        if (s.preparation().mode().adaptive()) o.addProperty("rate_norm", s.stage2().rateNorm().label());
        o.addProperty("how", preparation.how());
        o.addProperty("steps", r.step());
        o.addProperty("trainable_parameters", counts[0]);
        o.addProperty("total_parameters", counts[1]);
        o.addProperty("trainable_fraction", (double) counts[0] / counts[1]);
        o.addProperty("final_loss", r.loss());
        if (!Double.isNaN(r.evalLoss())) o.addProperty("eval_loss", r.evalLoss());
        o.addProperty("wall_seconds", r.seconds());
        // Sum over steps of the scheduled rate x the mean multiplier in force, beside the same sum at multiplier 1.
        o.addProperty("effective_lr_sum", r.effectiveLrSum());
        o.addProperty("scheduled_lr_sum", r.scheduledLrSum());
        o.addProperty("mean_rate_multiplier", r.scheduledLrSum() > 0 ? r.effectiveLrSum() / r.scheduledLrSum() : 1.0);
        if (!preparation.layerDl().isEmpty()) {
            JsonArray d = new JsonArray();
            preparation.layerDl().forEach(d::add);
            o.add("layer_dl", d);
        }
        if (prepared.expansion() != null) {
            JsonArray c = new JsonArray();
            prepared.expansion().copyIndices().forEach(c::add);
            o.add("copies", c);
        }
        try {
            FileOps.writeStringAtomically(out.resolve(SUMMARY_FILE), TrainSettings.GSON.toJson(o) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + out.resolve(SUMMARY_FILE) + ": " + e.getMessage(), e);
        }
    }

    static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // clean-up only
        }
    }
}
