package adept.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/** What the `adept train` command tests share: a temporary folder with TinyModel's base model and a small domain text. */
public abstract class TrainFolder {
    @TempDir
    protected Path dir;
    protected Path model;
    protected Path data;

    @BeforeEach
    void writeModelAndData() throws Exception {
        model = TinyModel.write(dir.resolve("base"), 3);
        data = Files.writeString(dir.resolve("domain.txt"), "one plus two equals three . the cat sat on the mat .\n".repeat(40));
    }

    /** `adept train` of the base model on the domain text, mode full, into out, then extra. */
    protected List<String> fullTraining(Path out, int steps, int blockSize, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", model.toString(), "--data", data.toString(), "--out", out.toString(),
                "--mode", "full", "--steps", Integer.toString(steps), "--block-size", Integer.toString(blockSize), "--batch-size", "2"));
        a.addAll(Arrays.asList(extra));
        return a;
    }
}
