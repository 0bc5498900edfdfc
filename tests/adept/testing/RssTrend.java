package adept.testing;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Resident memory as a trend: samples (step, RSS) and fits a least-squares line, so one-off jumps (the JIT
 * compiling a method, the GC, malloc growing an arena once) weigh little and a per-step leak shows as slope.
 */
public final class RssTrend {
    private final List<double[]> samples = new ArrayList<>();
    private final boolean trim;

    /** Plain samples: the tests' criterion (trimming at each sample re-faults pages and made the fit noisier: +-9 MiB). */
    public RssTrend() {
        this(false);
    }

    /** trim: malloc_trim before each sample, so a leak cannot hide in free heap pages still resident (the leak control). */
    public RssTrend(boolean trim) {
        this.trim = trim;
    }

    /**
     * Records RSS at step, after a GC (the Java side in the same state at every sample) and, if asked, malloc_trim.
     */
    public void sample(long step) throws IOException {
        System.gc();
        if (trim) ProcessMemory.trim();
        samples.add(new double[] {step, ProcessMemory.residentKiB()});
    }

    public int size() {
        return samples.size();
    }

    /** Least-squares slope in KiB per step. */
    public double slopeKiBPerStep() {
        int n = samples.size();
        if (n < 3) throw new IllegalStateException("a trend needs at least 3 samples, got " + n);
        double mx = 0, my = 0;
        for (double[] s : samples) {
            mx += s[0] / n;
            my += s[1] / n;
        }
        double sxy = 0, sxx = 0;
        for (double[] s : samples) {
            sxy += (s[0] - mx) * (s[1] - my);
            sxx += (s[0] - mx) * (s[0] - mx);
        }
        return sxy / sxx;
    }

    /** RSS of the last sample minus the first, KiB (for the report only). */
    public double netKiB() {
        return samples.get(samples.size() - 1)[1] - samples.get(0)[1];
    }

    public String describe(long steps) {
        return String.format("%d samples, slope %.3f KiB/step = %+.0f KiB per %d steps (first to last sample %+.0f KiB)",
                samples.size(), slopeKiBPerStep(), slopeKiBPerStep() * steps, steps, netKiB());
    }
}
