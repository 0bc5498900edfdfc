package adept.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A child JVM on the test class path (to run `adept` with its own environment, or to be killed). */
public final class ChildJvm {
    private ChildJvm() {}

    /**
     * java ... mainClass args, with this JVM's native library folder and class path: adept.test.classpath when set
     * (JUnit's console launcher, as the GPU check runs it, loads the tests through its own class loader, so
     * java.class.path holds only the launcher), else java.class.path.
     */
    public static List<String> command(String mainClass, List<String> args) {
        String java = ProcessHandle.current().info().command().orElseThrow();
        // adept.requireScope carries over: the suite's strict scope mode holds in its child JVMs too.
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Xmx512m",
                "-Dadept.native.dir=" + System.getProperty("adept.native.dir"),
                "-Dadept.requireScope=" + Boolean.getBoolean("adept.requireScope"), "-cp", classPath(), mainClass));
        command.addAll(args);
        return command;
    }

    /** The class path for a child JVM: adept.test.classpath when set (see {@link #command}), else java.class.path. */
    public static String classPath() {
        return System.getProperty("adept.test.classpath", System.getProperty("java.class.path"));
    }

    /** `adept args` in a child JVM. */
    public static List<String> adept(List<String> args) {
        return command("adept.cli.AdeptCommand", args);
    }

    /** Starts it with extra environment variables, output (both streams) into log. */
    public static Process start(List<String> command, Map<String, String> env, Path log) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().keySet().removeAll(List.of("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"));
        pb.environment().putAll(env);
        return pb.start();
    }

    public record Outcome(int exitCode, String output, double seconds) {}

    /** Runs it to the end (killed after timeoutSeconds: then the test fails on exit code -1). */
    public static Outcome run(List<String> command, Map<String, String> env, Path log, long timeoutSeconds) throws Exception {
        long t0 = System.nanoTime();
        Process p = start(command, env, log);
        boolean done = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor();
        }
        return new Outcome(done ? p.exitValue() : -1, Files.readString(log), (System.nanoTime() - t0) / 1e9);
    }
}
