package adept.cli;

import adept.train.RunFolder;
import adept.train.TrainException;
import adept.report.TrainPlots;
import adept.train.Trainer;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Redraws a training run's plots (loss.png, importance.png, rates.png) from its logs. */
@Command(name = "plot", mixinStandardHelpOptions = true,
        description = "Redraw a training run's plots (loss.png, importance.png, rates.png) from its metrics.jsonl and importance.jsonl.")
public final class PlotCommand implements Callable<Integer> {
    @Option(names = "--run", paramLabel = "DIR", description = "a run's output folder (adept train --out, or adept run's out/NAME)")
    Path run;

    @Option(names = "--compare", paramLabel = "DIR", description = "instead: several runs' curves on one chart (repeat), written to --out")
    List<Path> compare;

    @Option(names = "--metric", defaultValue = "eval_loss", description = "with --compare: eval_loss or loss (default: ${DEFAULT-VALUE})")
    String metric;

    @Option(names = "--title", defaultValue = "Loss by run", description = "with --compare: the chart's title")
    String title;

    @Option(names = "--out", paramLabel = "FILE", description = "with --compare: the PNG to write")
    Path out;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    /**
     * --out is a new file or an earlier PNG, in an existing folder: never a folder, never one of the compared runs'
     * files (real paths: a link to metrics.jsonl is metrics.jsonl), never a file of another kind (it would be lost).
     */
    private void checkOut() {
        Path real = adept.io.checkpoint.FileOps.realPath(out);
        if (Files.isDirectory(real)) throw usage("--out " + out + " is a folder; give the PNG file to write, e.g. " + out.resolve("compare.png"));
        Path parent = real.getParent();
        if (parent == null || !Files.isDirectory(parent)) throw usage("--out " + out + ": no such folder " + parent);
        for (Path r : compare) {
            Path runReal = adept.io.checkpoint.FileOps.realPath(r);
            if (real.startsWith(runReal) && !real.getParent().equals(runReal)) {
                throw usage("--out " + out + " is inside run " + r + "'s " + runReal.relativize(real).getName(0) + "; write the chart elsewhere");
            }
            if (real.getParent().equals(runReal) && Files.exists(real) && !isPng(real)) {
                throw usage("--out " + out + " is run " + r + "'s own " + real.getFileName() + "; write the chart elsewhere");
            }
        }
        if (Files.exists(real) && !isPng(real)) {
            throw usage("--out " + out + " exists and is not a PNG image; it would be lost: write the chart elsewhere or delete it first");
        }
    }

    private static boolean isPng(Path file) {
        if (!Files.isRegularFile(file)) return false;
        try (java.io.InputStream in = Files.newInputStream(file)) {
            return java.util.Arrays.equals(in.readNBytes(PNG_SIGNATURE.length), PNG_SIGNATURE);
        } catch (java.io.IOException e) {
            return false;
        }
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }

    @Override
    public Integer call() throws java.io.IOException {
        if (compare != null) {
            if (out == null) throw new CommandLine.ParameterException(spec.commandLine(), "--compare needs --out FILE.png");
            if (!metric.equals("eval_loss") && !metric.equals("loss")) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--metric must be eval_loss or loss, got " + metric);
            }
            for (Path r : compare) if (!Files.isRegularFile(r.resolve(RunFolder.METRICS_FILE))) throw new TrainException(r + " has no " + RunFolder.METRICS_FILE);
            checkOut();
            byte[] png = TrainPlots.compare(compare, metric, title);
            try {
                adept.io.checkpoint.FileOps.writeAtomically(out, c -> adept.io.checkpoint.FileOps.writeFully(c, java.nio.ByteBuffer.wrap(png)));
            } catch (java.io.IOException e) {
                throw AdeptCommand.ioError("write", out, e);
            }
            spec.commandLine().getOut().println(out);
            spec.commandLine().getOut().flush();
            return 0;
        }
        if (run == null) throw new CommandLine.ParameterException(spec.commandLine(), "give --run DIR (or --compare DIR ... --out FILE)");
        if (!Files.isDirectory(run)) throw new TrainException(run + ": no such folder");
        if (!Files.isRegularFile(run.resolve(RunFolder.METRICS_FILE))) {
            throw new TrainException(run + " has no " + RunFolder.METRICS_FILE + ": not a training run's folder (adept train --out)");
        }
        List<Path> written = TrainPlots.write(run, null);
        PrintWriter out = spec.commandLine().getOut();
        if (written.isEmpty()) out.println("nothing to plot: " + run.resolve(RunFolder.METRICS_FILE) + " has no steps yet");
        for (Path p : written) out.println(p);
        out.flush();
        return 0;
    }
}
