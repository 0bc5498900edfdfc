package adept.cli;

import adept.train.TrainListener;
import adept.report.ProgressBar;
import adept.demo.DebianText;
import adept.demo.Demo;
import adept.demo.DemoReport;
import adept.demo.DemoSettings;
import adept.demo.TextSource;
import adept.io.checkpoint.FileOps;
import adept.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The whole method on real text in one command: text, tokenizer, pretraining, three adaptations, evaluation, report. */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Shows the whole method on real text: downloads public-domain / free general English and mathematics text from"
                + " Debian packages (apt-get download, no root), trains a SentencePiece tokenizer and a small Llama model from scratch,"
                + " adapts it to mathematics with full, llama-pro and adept (same token budget each), evaluates all four on held-out"
                + " general and mathematics text and writes report.md, plots and every checkpoint.",
                "About 30 minutes on 2 CPU cores; --quick takes a few minutes. Interrupted (Ctrl-C, kill -9), the same command continues"
                        + " where it stopped."})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--out", paramLabel = "DIR", description = "demo folder (default: ./adept-demo, ./adept-demo-quick with --quick)")
    Path out;
    @Option(names = "--quick", description = "a tiny model and few steps: a first look in a few minutes")
    boolean quick;
    @Option(names = "--cache", paramLabel = "DIR", description = "downloaded packages (default: $XDG_CACHE_HOME/adept/demo or ~/.cache/adept/demo)")
    Path cache;
    @Option(names = "--restart", description = "discard an earlier demo run in --out and start over")
    boolean restart;

    /** Tests replace the text source and the sizes. */
    TextSource source;
    DemoSettings settings;

    static Path defaultCache() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("adept").resolve("demo");
    }

    @Override
    public Integer call() throws IOException {
        DemoSettings s = settings != null ? settings : quick ? DemoSettings.quick() : DemoSettings.full();
        TextSource text = source != null ? source : new DebianText(s.generalChars, s.domainChars, s.seed);
        Path dir = out != null ? out : Path.of(quick ? "adept-demo-quick" : "adept-demo");
        if (restart && Files.exists(dir)) {
            if (!Files.exists(dir.resolve("demo.json"))) {
                throw new adept.demo.DemoException(dir + " does not look like a demo folder (no demo.json); not deleting it");
            }
            FileOps.deleteRecursively(dir);
        }
        String launcher = "./adept demo" + (quick ? " --quick" : "") + (out != null ? " --out " + out : "");
        AtomicBoolean stop = new AtomicBoolean();
        System.err.println("adept demo: " + s.describe());
        System.err.println("adept demo: writing into " + dir.toAbsolutePath().normalize());
        try (StopSignals signals = StopSignals.install(stop)) {
            Demo.Listener listener = new Demo.Listener() {
                @Override
                public void stage(int index, int count, String what, boolean skipped) {
                    System.err.printf(Locale.ROOT, "[%d/%d] %s%s%n", index, count, what, skipped ? " (skipped)" : " ...");
                }

                @Override
                public void info(String line) {
                    System.err.println("  " + line);
                }

                @Override
                public TrainListener trainer(String label) {
                    ProgressBar[] bar = new ProgressBar[1];
                    return new TrainListener() {
                        @Override
                        public void info(String line) {
                            System.err.println("  " + label + ": " + line);
                        }

                        @Override
                        public void step(long step, long steps, double loss, double lr, double tokensPerSecond) {
                            if (bar[0] == null) bar[0] = new ProgressBar("  " + label, steps, step - 1);
                            bar[0].step(String.format(Locale.ROOT, "loss %.4f lr %.2e %,.0f tok/s", loss, lr, tokensPerSecond));
                        }

                        @Override
                        public void finished() {
                            if (bar[0] != null) bar[0].done();
                        }
                    };
                }
            };
            Demo.Result r = new Demo(s, text, dir, cache != null ? cache : defaultCache(), listener, stop, launcher).run();
            if (r.status() == Demo.Status.INTERRUPTED) {
                System.err.println("adept demo: stopped; run the same command again to continue where it stopped");
                return 130;
            }
            System.out.println();
            System.out.print(DemoReport.table(r.rows(), text.domainName()));
            System.out.println();
            System.out.printf(Locale.ROOT, "report: %s%n", r.report());
            System.out.printf(Locale.ROOT, "demo finished in %.0f s (this run; finished stages are skipped on a rerun)%n", r.seconds());
            System.out.flush();
            return 0;
        }
    }
}
