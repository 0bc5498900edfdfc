package adept.parallel;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import sun.misc.Signal;

/**
 * adept's own torchrun for one host: starts N child JVMs running the same adept command, each with RANK,
 * WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT. Rank 0's output is passed through
 * as is (its progress bar); the other ranks' lines come prefixed with "[rank r]". When a rank fails, the
 * others are killed and the launcher exits with the failed rank's code; a rank stopped by a signal (130,
 * after rank 0's checkpoint) lets the others finish stopping too.
 */
public final class LocalLauncher {
    /** The exit code of a rank stopped by a signal after its checkpoint. */
    public static final int EXIT_STOPPED = 130;

    private LocalLauncher() {}

    /** args minus the option (as "--opt N" or "--opt=N"). */
    public static List<String> withoutOption(List<String> args, String option) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals(option)) {
                i++;
            } else if (!a.startsWith(option + "=")) {
                out.add(a);
            }
        }
        return out;
    }

    /** Runs {@code mainClass ARGS} (the adept command line) as ranks 0..n-1 in child JVMs and returns the exit code. */
    public static int run(int n, String mainClass, List<String> args) {
        int port = freePort();
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java"));
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());  // the same heap, native access, adept.* properties
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        command.addAll(args);
        System.err.println("adept: starting " + n + " ranks on this host (rendezvous at 127.0.0.1:" + port + ")");
        List<Process> ranks = new ArrayList<>();
        Thread stopper = new Thread(() -> stopAll(ranks), "adept-launcher-shutdown");
        Runtime.getRuntime().addShutdownHook(stopper);
        // Ctrl-C reaches the ranks from the terminal (one process group): the launcher waits for them to checkpoint.
        try {
            Signal.handle(new Signal("INT"), sig -> System.err.println("adept: SIGINT: waiting for the ranks to stop"));
        } catch (IllegalArgumentException unavailable) {
            // the JVM keeps SIGINT (-Xrs): the shutdown hook still stops the ranks
        }
        try {
            for (int r = 0; r < n; r++) {
                ProcessBuilder pb = new ProcessBuilder(command);
                pb.environment().putAll(DistEnvironment.variablesFor(r, n, "127.0.0.1", port));
                pb.environment().put(LauncherWatch.VARIABLE, Long.toString(ProcessHandle.current().pid()));  // ranks die with us
                if (r == 0) {
                    pb.inheritIO();
                } else {
                    pb.redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.INHERIT);
                }
                Process p;
                try {
                    p = pb.start();
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot start rank " + r + ": " + e.getMessage(), e);
                }
                ranks.add(p);
                if (r > 0) forward(p, "[rank " + r + "] ");
            }
            return await(ranks);
        } finally {
            killAll(ranks);
            try {
                Runtime.getRuntime().removeShutdownHook(stopper);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it stops the ranks
            }
        }
    }

    /** Waits for every rank; on the first failure kills the rest and returns its code. */
    private static int await(List<Process> ranks) {
        boolean stopped = false;
        while (true) {
            boolean running = false;
            for (int r = 0; r < ranks.size(); r++) {
                Process p = ranks.get(r);
                if (p.isAlive()) {
                    running = true;
                    continue;
                }
                int code = p.exitValue();
                if (code == EXIT_STOPPED) {
                    stopped = true;
                } else if (code != 0) {
                    killAll(ranks);
                    System.err.println("adept: rank " + r + " failed (exit " + code + "); stopped the other ranks");
                    return code;
                }
            }
            if (!running) return stopped ? EXIT_STOPPED : 0;
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                killAll(ranks);
                return 1;
            }
        }
    }

    private static void forward(Process p, String prefix) {
        Thread t = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) System.err.println(prefix + line);
            } catch (IOException ended) {
                // the rank is gone
            }
        }, "adept-rank-output");
        t.setDaemon(true);
        t.start();
    }

    /** SIGTERM to every rank (each checkpoints via rank 0 and stops), then SIGKILL to any still there after a minute. */
    private static void stopAll(List<Process> ranks) {
        for (Process p : ranks) if (p.isAlive()) p.destroy();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        for (Process p : ranks) {
            try {
                p.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                break;
            }
        }
        killAll(ranks);
    }

    private static void killAll(List<Process> ranks) {
        for (Process p : ranks) if (p.isAlive()) p.destroyForcibly();
    }

    /** A port free on loopback now (the OS picks it; rank 0 binds it moments later). */
    /** A TCP port free on this host now. */
    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find a free port on loopback: " + e.getMessage(), e);
        }
    }
}
