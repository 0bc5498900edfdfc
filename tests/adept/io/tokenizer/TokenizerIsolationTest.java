package adept.io.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import adept.testing.TinyModel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An IO class has no device side effects: tokenizing loads neither libtorch nor a CUDA runtime into the process. */
class TokenizerIsolationTest {
    /** Child JVM: loads and uses a tokenizer, then prints the native libraries mapped into this process. */
    public static void main(String[] args) throws Exception {
        try (Tokenizer t = Tokenizer.load(Path.of(args[0]))) {
            System.out.println("ids " + t.encode("the cat").length);
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
            if (line.contains("libtorch") || line.contains("libcuda") || line.contains("libcudart") || line.contains("libadept_torch")) {
                System.out.println("mapped " + line.substring(line.lastIndexOf(' ') + 1));
            }
        }
    }

    @Test
    void tokenizingMapsNoTorchOrCudaLibrary(@TempDir Path dir) throws Exception {
        TinyModel.writeTokenizer(dir);
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp", adept.testing.ChildJvm.classPath(),
                TokenizerIsolationTest.class.getName(), dir.toString()).redirectErrorStream(true).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("ids "), out);
        assertTrue(!out.contains("mapped "), "tokenizing alone mapped native libraries it does not need:\n" + out);
    }
}
