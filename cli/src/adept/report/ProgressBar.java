package adept.report;

import java.io.PrintStream;

/** A one-line terminal progress bar on stderr: count, percent, rate, ETA and a status text. */
public final class ProgressBar {
    private static final int WIDTH = 30;
    private final String label;
    private final long total;
    private final long startNanos = System.nanoTime();
    private final PrintStream out = System.err;
    private final boolean interactive = System.console() != null;
    private long done;
    private final long startDone;
    private long lastDrawNanos;

    /** A bar for total steps, none done yet. */
    public ProgressBar(String label, long total) {
        this(label, total, 0);
    }

    /** A bar that starts at done (a resumed run): rate and ETA count only the steps of this process. */
    public ProgressBar(String label, long total, long done) {
        this.label = label;
        this.total = Math.max(1, total);
        this.done = done;
        this.startDone = done;
    }

    /** Counts one step done; status (may be null) shows after the ETA. */
    public void step(String status) {
        done++;
        long now = System.nanoTime();
        // Redraw at most 10 times a second; without a terminal, print only every 10%.
        boolean milestone = done == total || done * 10 / total != (done - 1) * 10 / total;
        if (interactive ? now - lastDrawNanos > 100_000_000L || done == total : milestone) {
            lastDrawNanos = now;
            draw(status, now);
        }
    }

    private void draw(String status, long now) {
        double seconds = (now - startNanos) / 1e9;
        double rate = (done - startDone) / Math.max(seconds, 1e-9);
        double eta = (total - done) / Math.max(rate, 1e-9);
        int filled = (int) (WIDTH * done / total);
        String bar = "#".repeat(filled) + "-".repeat(WIDTH - filled);
        String line = String.format("%s [%s] %d/%d %3d%% %.1f/s eta %s %s", label, bar, done, total, 100 * done / total, rate,
                formatSeconds(eta), status == null ? "" : status);
        out.print(interactive ? "\r" + line + "\u001b[K" : line + "\n");
        out.flush();
    }

    /** Ends the bar's line (on a terminal). */
    public void done() {
        if (interactive) out.println();
    }

    static String formatSeconds(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%dh%02dm", s / 3600, s % 3600 / 60) : String.format("%dm%02ds", s / 60, s % 60);
    }
}
