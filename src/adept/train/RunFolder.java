package adept.train;

import adept.io.checkpoint.FileOps;
import adept.io.checkpoint.OutputLock;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;

/**
 * Who owns a training run's output folder. A run writes only into a folder that is new, empty or an earlier run's
 * (it holds run.json), never into or around its own model (real paths compared, so a symlink to the model folder is
 * the model folder), and one process at a time (a lock file with the owner's pid: {@link #LOCK_FILE}).
 */
final class RunFolder {
    /** The lock file of the run writing the folder (removed when it ends; a dead owner's is taken over). */
    static final String LOCK_FILE = ".adept.lock";

    private RunFolder() {}

    /** Refuses an output folder that is the model folder, inside it or around it: the run replaces out/model and prunes out/checkpoints. */
    static void checkApart(Path modelDir, Path out) {
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
    static void checkOwned(Path out, boolean restart) {
        if (restart || !Files.isDirectory(out) || Files.exists(out.resolve(Trainer.RUN_FILE), LinkOption.NOFOLLOW_LINKS)) return;
        List<String> foreign;
        try (var entries = Files.list(out)) {
            foreign = entries.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().limit(4).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + out + ": " + e.getMessage(), e);
        }
        if (foreign.isEmpty()) return;
        throw new TrainException("out " + out + " holds files no adept training run wrote (" + String.join(", ", foreign)
                + (foreign.size() == 4 ? ", ..." : "") + "); use another output folder, or --restart to train into it anyway (replacing its "
                + Trainer.MODEL_DIR + "/)");
    }

    /** The folder's writer lock (creating the folder); refused with the holder's pid while another process runs in it. */
    static OutputLock lock(Path out) {
        return OutputLock.acquire(out.resolve(LOCK_FILE), "out " + out);
    }

    /**
     * Removes what killed runs left in out (their lock is released, so they are gone): temporary files of atomic
     * writes (plots, logs, summary), staging and temporary checkpoint folders. Called by the lock's holder.
     */
    static void removeLeftovers(Path out) {
        FileOps.removeStaleTemporaries(out);
        new RunCheckpoints(out).removeStaleTemporaries();
        adept.io.checkpoint.Checkpoint.recover(out.resolve(Trainer.MODEL_DIR));
    }

    /** Removes out if this run created it and left it empty (a run refused after taking the lock writes nothing). */
    static void removeIfEmpty(Path out) {
        try {
            Files.deleteIfExists(out);
        } catch (IOException notEmptyOrGone) {
            // it holds something: keep it
        }
    }
}
