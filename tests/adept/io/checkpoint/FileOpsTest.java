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
}
