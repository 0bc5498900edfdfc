package adept.parallel;

import java.util.Map;
import java.util.Optional;

/**
 * A rank started by {@link LocalLauncher} ends when its launcher does, kill -9 included (the launcher's shutdown hook
 * cannot run then): a daemon thread polls the launcher, named by {@link #VARIABLE}, and halts this JVM once it is
 * gone, so that no orphaned ranks keep training and holding the run folder. A checkpoint being written is atomic:
 * the next run resumes from the last whole one.
 */
public final class LauncherWatch {
    /** The launcher's pid, set in each rank's environment. */
    public static final String VARIABLE = "ADEPT_LAUNCHER_PID";
    /** The exit code of a rank whose launcher is gone (as if killed by SIGKILL). */
    public static final int EXIT_ORPHANED = 137;
    static final long POLL_MILLIS = 500;

    private LauncherWatch() {}

    /** Starts watching when env names a launcher; returns its pid (empty when this process was not started by one). */
    public static Optional<Long> startIfLaunched(Map<String, String> env) {
        String value = env.get(VARIABLE);
        if (value == null) return Optional.empty();
        long pid;
        try {
            pid = Long.parseLong(value.strip());
        } catch (NumberFormatException e) {
            throw new DistException(VARIABLE + " must be a process id, got '" + value + "'");
        }
        // The handle remembers the start time: a recycled pid does not pass for the launcher.
        ProcessHandle launcher = ProcessHandle.of(pid).orElse(null);
        Thread watch = new Thread(() -> {
            while (launcher != null && launcher.isAlive()) {
                try {
                    Thread.sleep(POLL_MILLIS);
                } catch (InterruptedException e) {
                    return;
                }
            }
            System.err.println("adept: the launcher (pid " + pid + ") is gone; this rank stops (resume by running the command again)");
            System.err.flush();
            Runtime.getRuntime().halt(EXIT_ORPHANED);  // not exit: a rank blocked in a collective would hang its shutdown
        }, "adept-launcher-watch");
        watch.setDaemon(true);
        watch.start();
        return Optional.of(pid);
    }
}
