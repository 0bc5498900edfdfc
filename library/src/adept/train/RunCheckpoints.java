package adept.train;

import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.FileOps;
import adept.io.checkpoint.Safetensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The checkpoints of a run: out/checkpoints/step-NNNNNNNN/, each a complete Hugging Face model folder
 * (loadable by every adept command) plus optimizer.bin (safetensors format) and trainer_state.json. A checkpoint is
 * written under a temporary name and renamed when complete, so a folder with the final name is whole;
 * loading still checks every file against the checksums written with it (a truncated or flipped one, e.g. from a disk
 * that lied about fsync, is skipped for the previous checkpoint).
 */
public final class RunCheckpoints {
    /** Optimizer state and RNG state, in safetensors format (not named *.safetensors: a model folder's weights are). */
    public static final String OPTIMIZER_FILE = "optimizer.bin";
    private static final Pattern NAME = Pattern.compile("step-(\\d{8})");

    private final Path dir;

    /** The checkpoints of the run in outDir (outDir/checkpoints). */
    public RunCheckpoints(Path outDir) {
        this.dir = outDir.resolve("checkpoints");
    }

    /** The run's checkpoints folder. */
    public Path dir() {
        return dir;
    }

    /** The folder name of step's checkpoint (step-00000042). */
    public static String name(long step) {
        return String.format("step-%08d", step);
    }

    /** Complete-looking checkpoint folders, newest first. */
    public List<Path> list() {
        if (!Files.isDirectory(dir)) return List.of();
        List<Path> out = new ArrayList<>();
        try (var entries = Files.list(dir)) {
            entries.filter(p -> NAME.matcher(p.getFileName().toString()).matches() && Files.isDirectory(p)).forEach(out::add);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        out.sort(Comparator.comparing((Path p) -> p.getFileName().toString()).reversed());
        return out;
    }

    /** A checkpoint read back: its folder and trainer state. */
    public record Loaded(Path dir, TrainerState state) {}

    /** The newest checkpoint that reads back whole; broken ones are reported through skipped and passed over. */
    public Optional<Loaded> newestValid(java.util.function.Consumer<String> skipped) {
        for (Path p : list()) {
            try {
                adept.io.checkpoint.Checksums.verify(p);  // same-size damage passes every other check
                TrainerState state = TrainerState.read(p.resolve(TrainerState.FILE_NAME));
                Matcher m = NAME.matcher(p.getFileName().toString());
                if (m.matches() && Long.parseLong(m.group(1)) != state.step()) throw new TrainException(p + ": step does not match its name");
                Safetensors.open(p.resolve(OPTIMIZER_FILE));  // checks the header against the file size
                Checkpoint checkpoint = Checkpoint.open(p);
                for (Path f : checkpoint.files()) Safetensors.open(f);
                Path adapters = p.resolve(adept.io.checkpoint.PeftAdapters.WEIGHTS_FILE);  // lora runs' adapters
                if (Files.exists(adapters)) Safetensors.open(adapters);
                return Optional.of(new Loaded(p, state));
            } catch (RuntimeException e) {
                skipped.accept(p.getFileName() + " is incomplete or damaged (" + e.getMessage() + "); skipping it for an earlier checkpoint");
            }
        }
        return Optional.empty();
    }

    /** Removes all but the newest keep checkpoints, and temporary folders of interrupted writes. */
    public void prune(int keep) {
        List<Path> all = list();
        for (int i = keep; i < all.size(); i++) delete(all.get(i));
        removeStaleTemporaries();
    }

    /** Deletes the hidden temporary folders an interrupted write left. */
    public void removeStaleTemporaries() {
        if (!Files.isDirectory(dir)) return;
        try (var entries = Files.list(dir)) {
            for (Path p : entries.toList()) {
                String n = p.getFileName().toString();
                if (n.startsWith(".")) delete(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Deletes every checkpoint (a fresh start). */
    public void deleteAll() {
        if (Files.isDirectory(dir)) delete(dir);
    }

    private static void delete(Path p) {
        try {
            FileOps.deleteRecursively(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + p + ": " + e.getMessage(), e);
        }
    }
}
