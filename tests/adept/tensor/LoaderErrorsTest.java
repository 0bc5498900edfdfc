package adept.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A missing or broken shim gives a clear error that says how to get libtorch, in a fresh JVM (the shim loads once per JVM). */
class LoaderErrorsTest {
    /** Loads libtorch, prints the outcome: exit 3 with the message on TorchException. */
    public static void main(String[] args) {
        try {
            Torch.init();
            System.out.println("loaded " + Torch.runtimeVersion());
        } catch (TorchException e) {
            System.out.println(e.getMessage());
            System.exit(3);
        }
    }

    private static String[] runWithShim(Path shim, String... properties) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new java.util.ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Dadept.native.lib=" + shim));
        command.addAll(List.of(properties));
        command.addAll(List.of("-cp", adept.testing.ChildJvm.classPath(), LoaderErrorsTest.class.getName()));
        Process p = new ProcessBuilder(command)
                .redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM finished");
        return new String[] {String.valueOf(p.exitValue()), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)};
    }

    @Test
    void missingShimSaysHowToInstallLibtorch(@TempDir Path tmp) throws Exception {
        String[] result = runWithShim(tmp.resolve("libadept_torch.so"));
        assertEquals("3", result[0], result[1]);
        assertTrue(result[1].contains("does not exist") && result[1].contains("apt-get install libtorch-dev"), result[1]);
    }

    @Test
    void threadCountsBeyondTheCoresAreRefused() throws Exception {
        Path shim = Path.of(System.getProperty("adept.native.dir"), "libadept_torch.so");
        String[] result = runWithShim(shim, "-Dadept.threads=100000");
        assertEquals("3", result[0], result[1]);
        assertTrue(result[1].contains("must be in 1.." + Runtime.getRuntime().availableProcessors()), result[1]);
        assertEquals("0", runWithShim(shim, "-Dadept.threads=1")[0]);
    }

    @Test
    void brokenShimIsAnErrorNotACrash(@TempDir Path tmp) throws Exception {
        Path notALibrary = Files.writeString(tmp.resolve("libadept_torch.so"), "not an ELF file");
        String[] result = runWithShim(notALibrary);
        assertEquals("3", result[0], result[1]);
        assertTrue(result[1].contains("cannot load") && result[1].contains("LIBTORCH_HOME"), result[1]);
    }
}
