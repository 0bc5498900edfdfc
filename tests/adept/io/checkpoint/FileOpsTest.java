package adept.io.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Atomic writes honour the umask, as other tools' files do (not Files.createTempFile's 0600). */
class FileOpsTest {
    @TempDir
    Path dir;

    @Test
    void atomicWritesGetTheUmaskDefaultPermissions() throws Exception {
        Path plain = Files.createFile(dir.resolve("plain"));  // what the umask gives any new file
        Set<PosixFilePermission> expected = Files.getPosixFilePermissions(plain);
        Path written = dir.resolve("written.json");
        FileOps.writeStringAtomically(written, "{}\n");
        assertEquals(expected, Files.getPosixFilePermissions(written));
        assertEquals("{}\n", Files.readString(written));
        try (var files = Files.list(dir)) {
            assertEquals(2, files.count(), "no temporary file left");
        }
    }

    /** A FIFO in place of a model's files is an error naming it, not a read that blocks forever. */
    @Test
    void fifosInPlaceOfModelFilesAreRefused() throws Exception {
        Path model = adept.testing.TinyModel.write(dir.resolve("m"), 1);
        for (String name : java.util.List.of("config.json", "model.safetensors")) {
            Path victim = model.resolve(name);
            Path saved = dir.resolve(name + ".saved");
            Files.move(victim, saved);
            Process p = new ProcessBuilder("mkfifo", victim.toString()).start();
            org.junit.jupiter.api.Assumptions.assumeTrue(p.waitFor() == 0, "mkfifo is available");
            long t0 = System.nanoTime();
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(model).loadModel(adept.tensor.DType.FLOAT32, adept.tensor.Device.CPU).close());
            assertTrue(e.getMessage().contains(name) && e.getMessage().contains("not a regular file"), e.getMessage());
            assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "no hang");
            Files.delete(victim);
            Files.move(saved, victim);
        }
    }
}
