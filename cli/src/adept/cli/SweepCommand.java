package adept.cli;

import adept.report.ParetoChart;
import adept.report.ProgressBar;
import adept.tensor.Device;
import adept.train.HeldOut;
import adept.train.Pareto;
import adept.train.RunConfig;
import adept.train.Sweep;
import adept.train.SweepConfig;
import adept.train.TrainSettings;
import adept.train.Trainer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * A learning-rate sweep: every grid point (x every arm) trained from one base model on the same token budget as
 * `adept run` trains it (finished runs skipped, interrupted ones resumed), each evaluated on the general and the
 * domain held-out file, then pareto.json, pareto.png and sweep.md, rewritten after every run.
 */
@Command(name = "sweep", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Learning-rate-matched comparison: train a grid of modes x learning rates x seeds (any training key) from one base,",
                "evaluate each run on held-out general and domain text, and write the Pareto chart, pareto.json and the",
                "domain change at matched forgetting (sweep.md). Rerun to resume; adept sweep --keys lists the keys."})
public final class SweepCommand implements Callable<Integer> {
    @Option(names = "--config", paramLabel = "FILE", description = "sweep config, .yaml / .yml or .json")
    Path config;

    @Option(names = "--out", paramLabel = "DIR", description = "sweep folder (overrides the config's out)")
    Path out;

    @Option(names = "--keys", description = "print every sweep key with its default and description, and exit")
    boolean keys;

    @Option(names = "--dry-run", description = "check the config and list the runs (train, resume, done), and exit")
    boolean dryRun;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (keys) {
            stdout.println("Sweep keys (beside every training key of adept run --keys, shared by every run):");
            for (TrainSettings.KeyDoc d : SweepConfig.REFERENCE) {
                stdout.printf(Locale.ROOT, "  %-20s %-34s %s%n", d.key(), d.defaultValue(), d.description());
            }
            stdout.flush();
            return 0;
        }
        if (config == null) throw new CommandLine.ParameterException(spec.commandLine(), "Missing required option: '--config=FILE' (or --keys)");
        SweepConfig c = SweepConfig.parseTree(ConfigFiles.load(config), config, config.toString(), out);
        int n = c.runs().size();
        if (dryRun) {
            for (int i = 0; i < n; i++) {
                RunConfig.Run r = c.runs().get(i);
                stdout.printf(Locale.ROOT, "[%d/%d] %s: %s (curve %s, %s) -> %s%n", i + 1, n, r.name(), r.done() ? "done" : r.started() ? "resume" : "train",
                        c.points().get(i).curve(), c.points().get(i).values(), r.dir());
            }
            stdout.flush();
            return 0;
        }
        Device device = c.runs().get(0).settings().hardware().device();
        Sweep.Losses base = Sweep.base(c, device, progress("base"));
        err.printf(Locale.ROOT, "adept sweep: base: general loss %.4f, domain loss %.4f%n", base.general(), base.domain());
        err.flush();
        List<Sweep.Result> results = new ArrayList<>();
        List<String> diverged = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            RunConfig.Run r = c.runs().get(i);
            String tag = String.format(Locale.ROOT, "[%d/%d] %s", i + 1, n, r.name());
            String earlier = Sweep.diverged(r);
            if (earlier != null) {
                err.printf(Locale.ROOT, "adept sweep: %s: diverged earlier (%s)%n", tag, earlier);
                err.flush();
                diverged.add(r.name());
                continue;
            }
            if (!r.done()) {
                err.printf(Locale.ROOT, "adept sweep: %s: %s, mode %s, lr %.3g, %d steps -> %s%n", tag, r.started() ? "resuming" : "training",
                        r.settings().preparation().mode().label(), r.settings().optimizer().lr(), r.settings().optimizer().steps(), r.dir());
                err.flush();
                Trainer.Result t;
                try {
                    t = TrainCommand.runTraining(r.settings(), false, "sweep " + tag);
                } catch (adept.train.TrainException e) {
                    if (!e.diverged()) throw e;
                    // Too large a rate for this arm is a result of the sweep, not a failure of it.
                    Sweep.markDiverged(r, e.getMessage());
                    err.printf(Locale.ROOT, "adept sweep: %s: diverged (%s); left out of the curves%n", tag, e.getMessage());
                    err.flush();
                    diverged.add(r.name());
                    write(c, base, results, diverged);
                    continue;
                }
                if (t.status() != Trainer.Status.COMPLETED) {
                    err.printf(Locale.ROOT, "adept sweep: %s stopped at step %d; run the same command again to resume%n", tag, t.step());
                    err.flush();
                    return RunCommand.EXIT_INTERRUPTED;
                }
            }
            Sweep.Losses losses = Sweep.evaluate(c, r, device, progress(r.name()));
            Sweep.Result result = Sweep.result(c, i, base, losses);
            results.add(result);
            err.printf(Locale.ROOT, "adept sweep: %s: general %+.4f, domain %+.4f, effective lr sum %.4g (mean multiplier %.3f)%n", tag,
                    result.change().general(), result.change().domain(), result.effectiveLrSum(), result.meanRateMultiplier());
            err.flush();
            write(c, base, results, diverged);
        }
        String table = Sweep.markdown(c, base, results, diverged);
        stdout.print(table);
        stdout.println("\nwrote " + c.out().resolve(Sweep.REPORT_MD) + ", " + c.out().resolve(Sweep.PARETO_JSON) + ", " + c.out().resolve(Sweep.PARETO_PNG));
        stdout.flush();
        return 0;
    }

    /** pareto.json, sweep.md and pareto.png from the results so far. */
    static void write(SweepConfig c, Sweep.Losses base, List<Sweep.Result> results, List<String> diverged) {
        Sweep.writeResults(c, base, results, diverged);
        Map<String, List<Pareto.Point>> curves = Pareto.curves(Sweep.paretoRuns(results));
        List<ParetoChart.Curve> lines = new ArrayList<>();
        for (var e : curves.entrySet()) {
            List<ParetoChart.Point> ps = new ArrayList<>();
            for (Pareto.Point p : e.getValue()) ps.add(new ParetoChart.Point(p.general(), p.generalSd(), p.domain(), p.domainSd()));
            lines.add(new ParetoChart.Curve(e.getKey(), ps));
        }
        String subtitle = String.format(Locale.ROOT, "%s: one line per curve joining its learning rates (low to high); bars: seed sd; dashed: budgets",
                c.out().getFileName());
        byte[] png = new ParetoChart("Learning vs forgetting", subtitle, lines, c.budgets()).pngWithZoom(1000, 560);
        try {
            adept.io.checkpoint.FileOps.writeBytesAtomically(c.out().resolve(Sweep.PARETO_PNG), png);
        } catch (java.io.IOException e) {
            throw AdeptCommand.ioError("write", c.out().resolve(Sweep.PARETO_PNG), e);
        }
    }

    private static HeldOut.Progress progress(String name) {
        Map<Path, ProgressBar> bars = new HashMap<>();
        return (file, done, batches, loss) -> {
            ProgressBar bar = bars.computeIfAbsent(file, f -> new ProgressBar("eval " + name + " " + f.getFileName(), batches));
            bar.step(String.format(Locale.ROOT, "loss %.4f", loss));
            if (done == batches) bar.done();
        };
    }
}
